import type { Logger } from 'pino';

export interface WorkLoopsOptions<W> {
  /** For logs: what the loops work on. */
  name: string;
  /** Takes one unit of work for this loop alone (e.g. a row locked and marked as taken), or undefined. */
  claim: () => Promise<W | undefined>;
  /** Does the work. A throw is logged; the loop goes on. */
  handle: (work: W) => Promise<void>;
  /** How often the idle loops' poller claims again without being woken (default 500 ms). */
  pollMs?: number;
  /** Pause after a failed claim, e.g. the database restarting (default 1 s). */
  errorPauseMs?: number;
  logger: Logger;
}

const DEFAULT_POLL_MS = 500;
const DEFAULT_ERROR_PAUSE_MS = 1000;

/** Why an idle loop resumed: its poll interval ended, wake() was called, or a loop that found work woke it. */
type Resumed = 'poll' | 'wake' | 'chain';

interface Sleeper {
  resume: (reason: Resumed) => void;
  /** The poller: waits on the poll interval. */
  polls: boolean;
}

/**
 * Loops that each claim one unit of work at a time and handle it, for any source whose claim is safe to run
 * concurrently (pg-boss's fetch, a `FOR UPDATE SKIP LOCKED` update). A loop that found work claims again at
 * once. While there is nothing to claim, one idle loop at a time (the poller) claims again every `pollMs`
 * and the others wait — an idle process costs the database one claim per interval, not one per loop:
 * - wake(n) (work this process made, e.g. an accepted message) resumes n waiting loops, the poller last, so
 *   that it goes on polling for work other processes make;
 * - the poller, or a loop it woke, that finds work wakes one more, so that work nobody announced here is taken
 *   up by every loop, and the loop that finds none becomes the poller.
 * stop() resolves when every handler running has returned, which is what a graceful shutdown needs to know.
 */
export class WorkLoops<W> {
  private readonly sleepers = new Set<Sleeper>();
  private readonly loops: Promise<void>[] = [];
  private stopping = false;
  /** An idle loop is waiting on the poll interval (the others wait for a wake). */
  private polling = false;

  constructor(private readonly options: WorkLoopsOptions<W>) {}

  /** Starts `count` more loops. */
  start(count: number): void {
    for (let index = 0; index < count; index++) this.loops.push(this.loop());
  }

  /** Resumes up to `count` idle loops at once (call after the work they would claim has committed). */
  wake(count = Number.POSITIVE_INFINITY): void {
    this.resume(count, 'wake');
  }

  /** Stops claiming; resolves when the handlers running now have returned. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    let resumed: Resumed | 'work' = 'poll';
    while (!this.stopping) {
      let work: W | undefined;
      try {
        work = await this.options.claim();
      } catch (error) {
        if (!this.stopping) {
          this.options.logger.warn({ err: error, work: this.options.name }, 'claiming work failed; retrying');
        }
        resumed = await this.idle(this.options.errorPauseMs ?? DEFAULT_ERROR_PAUSE_MS);
        continue;
      }
      if (work === undefined) {
        resumed = await this.waitForWork();
        continue;
      }
      if (resumed === 'poll' || resumed === 'chain') this.resume(1, 'chain');
      resumed = 'work';
      try {
        await this.options.handle(work);
      } catch (error) {
        this.options.logger.error({ err: error, work: this.options.name }, 'work failed');
      }
    }
  }

  /** Resumes up to `count` idle loops, the poller last. */
  private resume(count: number, reason: Resumed): void {
    const waiting = [...this.sleepers].sort((a, b) => Number(a.polls) - Number(b.polls));
    for (const sleeper of waiting.slice(0, count)) sleeper.resume(reason);
  }

  /** As the poller if there is none, else until resumed. */
  private async waitForWork(): Promise<Resumed> {
    if (this.polling) return this.idle();
    this.polling = true;
    try {
      return await this.idle(this.options.pollMs ?? DEFAULT_POLL_MS);
    } finally {
      this.polling = false;
    }
  }

  /** Until resumed or stop(), or `ms` at most (then resumed as by a poll). */
  private idle(ms?: number): Promise<Resumed> {
    if (this.stopping) return Promise.resolve('wake');
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        polls: ms !== undefined,
        resume: (reason) => {
          if (timer) clearTimeout(timer);
          this.sleepers.delete(sleeper);
          resolve(reason);
        },
      };
      const timer = ms === undefined ? undefined : setTimeout(() => sleeper.resume('poll'), ms);
      this.sleepers.add(sleeper);
    });
  }
}
