/**
 * Aborts a request when the server stays silent for `idleMs` (reset on every chunk), or when the
 * caller's signal aborts, and remembers which of the two happened.
 */
export class RequestWatchdog {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private expired = false;

  constructor(
    private readonly idleMs: number,
    private readonly callerSignal?: AbortSignal,
  ) {
    if (callerSignal?.aborted) this.controller.abort(callerSignal.reason);
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get timedOut(): boolean {
    return this.expired;
  }

  get cancelled(): boolean {
    return this.callerSignal?.aborted === true;
  }

  /** (Re)starts the silence timer; call before waiting for the server. */
  arm(): void {
    this.pause();
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new Error(`no data from the server for ${this.idleMs} ms`));
    }, this.idleMs);
  }

  /** Stops the timer while the consumer, not the server, holds things up. */
  pause(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  dispose(): void {
    this.pause();
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  private readonly onCallerAbort = (): void => {
    this.pause();
    this.controller.abort(this.callerSignal?.reason);
  };
}
