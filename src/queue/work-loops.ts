import type { Logger } from 'pino';

export interface WorkLoopsOptions<W> {
  /** For logs: what the loops work on. */
  name: string;
  /** Takes one unit of work for this loop alone (e.g. a row locked and marked as taken), or undefined. */
  claim: () => Promise<W | undefined>;
  /** Does the work. A throw is logged; the loop goes on. */
  handle: (work: W) => Promise<void>;
  /** How often an idle loop claims again without being woken. */
  pollMs: number;
  /** Pause after a failed claim (e.g. the database restarting). */
  errorPauseMs: number;
  logger: Logger;
}

/**
 * Loops that each claim one unit of work at a time and handle it, for any source whose claim is safe to run
 * concurrently (pg-boss's fetch, a `FOR UPDATE SKIP LOCKED` update). A loop that found work claims again at
 * once and wakes one idle loop, so a backlog is taken up by every loop; when there is nothing to claim, one
 * idle loop at a time (the poller) claims again every `pollMs` and the others wait until work is found or
 * wake() is called — an idle process costs the database one claim per interval, not one per loop.
 * stop() resolves when every handler running has returned, which is what a graceful shutdown needs to know.
 */
export class WorkLoops<W> {
  private readonly sleepers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private stopping = false;
  /** An idle loop is waiting on the poll interval (the others wait for a wake). */
  private polling = false;

  constructor(private readonly options: WorkLoopsOptions<W>) {}

  /** Starts `count` more loops. */
  start(count: number): void {
    for (let index = 0; index < count; index++) this.loops.push(this.loop());
  }

  /** Wakes up to `count` idle loops at once (call after the work they would claim has committed). */
  wake(count = Number.POSITIVE_INFINITY): void {
    let woken = 0;
    for (const wake of [...this.sleepers]) {
      if (woken++ >= count) break;
      wake();
    }
  }

  /** Stops claiming; resolves when the handlers running now have returned. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let work: W | undefined;
      try {
        work = await this.options.claim();
      } catch (error) {
        if (!this.stopping) {
          this.options.logger.warn({ err: error, work: this.options.name }, 'claiming work failed; retrying');
        }
        await this.idle(this.options.errorPauseMs);
        continue;
      }
      if (work === undefined) {
        await this.waitForWork();
        continue;
      }
      this.wake(1);
      try {
        await this.options.handle(work);
      } catch (error) {
        this.options.logger.error({ err: error, work: this.options.name }, 'work failed');
      }
    }
  }

  /** As the poller if there is none, else until a wake. */
  private async waitForWork(): Promise<void> {
    if (this.polling) return this.idle();
    this.polling = true;
    try {
      await this.idle(this.options.pollMs);
    } finally {
      this.polling = false;
    }
  }

  /** Until wake() or stop(), or `ms` at most. */
  private idle(ms?: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        if (timer) clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}
