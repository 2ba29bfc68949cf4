import { afterEach, describe, expect, it, jest } from '@jest/globals';
import pino from 'pino';
import { WorkLoops } from './work-loops.js';

const logger = pino({ level: 'silent' });
/** Lets every promise chain that needs no timer run to its end. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Loops over a list of work items, counting claims; by default `pollMs` is long, so that only wake() moves an
 * idle loop.
 */
function loopsOver(
  items: number[],
  handle: (item: number) => Promise<void> = async () => undefined,
  pollMs = 60_000,
) {
  const counts = { claims: 0 };
  const loops = new WorkLoops<number>({
    name: 'test',
    claim: () => {
      counts.claims++;
      return Promise.resolve(items.shift());
    },
    handle,
    pollMs,
    errorPauseMs: 1,
    logger,
  });
  return { loops, counts };
}

/** A handler that records each item and then holds until release(). */
function holdingHandler() {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const running: number[] = [];
  const handle = async (item: number) => {
    running.push(item);
    await held;
  };
  return { running, handle, release: () => release() };
}

describe('WorkLoops', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('claims again at once after work, and waits for wake() when there is none', async () => {
    const handled: number[] = [];
    const items = [1, 2, 3];
    const { loops, counts } = loopsOver(items, async (item) => {
      handled.push(item);
    });
    loops.start(1);
    await tick();
    expect(handled).toEqual([1, 2, 3]);
    expect(counts.claims).toBe(4);

    items.push(4);
    await tick();
    expect(handled).toEqual([1, 2, 3]);
    loops.wake();
    await tick();
    expect(handled).toEqual([1, 2, 3, 4]);
    await loops.stop();
  });

  it('wakes no more idle loops than asked', async () => {
    const { loops, counts } = loopsOver([]);
    loops.start(5);
    await tick();
    expect(counts.claims).toBe(5);
    loops.wake(2);
    await tick();
    expect(counts.claims).toBe(7);
    await loops.stop();
  });

  it('has one idle loop claim every poll interval while there is nothing to do, not every loop', async () => {
    jest.useFakeTimers();
    const { loops, counts } = loopsOver([], undefined, 20);
    loops.start(5);
    await jest.advanceTimersByTimeAsync(0);
    expect(counts.claims).toBe(5);
    await jest.advanceTimersByTimeAsync(100);
    expect(counts.claims).toBe(10);
    await loops.stop();
  });

  it('takes up work the poller finds with every loop: a loop that finds it wakes another', async () => {
    jest.useFakeTimers();
    const items: number[] = [];
    const { running, handle, release } = holdingHandler();
    const { loops } = loopsOver(items, handle, 20);
    loops.start(4);
    await jest.advanceTimersByTimeAsync(0);
    // Queued by another process: nobody here announces it.
    items.push(1, 2, 3, 4);
    await jest.advanceTimersByTimeAsync(20);
    expect(running.sort()).toEqual([1, 2, 3, 4]);
    release();
    await loops.stop();
  });

  it('gives announced work to a waiting loop and keeps the poller polling', async () => {
    jest.useFakeTimers();
    const items: number[] = [];
    const { running, handle, release } = holdingHandler();
    const { loops, counts } = loopsOver(items, handle, 20);
    loops.start(3);
    await jest.advanceTimersByTimeAsync(0);
    items.push(1);
    loops.wake(1);
    await jest.advanceTimersByTimeAsync(0);
    expect(running).toEqual([1]);
    expect(counts.claims).toBe(4);
    // Work another process queued meanwhile: the poller finds it at its next interval.
    items.push(2);
    await jest.advanceTimersByTimeAsync(20);
    expect(running).toEqual([1, 2]);
    release();
    await loops.stop();
  });

  it('stops claiming at stop(), which resolves once the running handlers have returned', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let finished = false;
    const { loops, counts } = loopsOver([1, 2], async () => {
      await held;
      finished = true;
    });
    loops.start(1);
    await tick();
    let stopped = false;
    const stopping = loops.stop().then(() => (stopped = true));
    await tick();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);
    expect(counts.claims).toBe(1);
  });

  it('goes on after a failed claim and after a handler that throws', async () => {
    jest.useFakeTimers();
    const handled: number[] = [];
    let failures = 1;
    const loops = new WorkLoops<number>({
      name: 'test',
      claim: () => {
        if (failures-- > 0) return Promise.reject(new Error('the database is restarting'));
        return Promise.resolve(handled.length < 2 ? handled.length + 1 : undefined);
      },
      handle: (item) => {
        handled.push(item);
        return item === 1 ? Promise.reject(new Error('a bad answer')) : Promise.resolve();
      },
      pollMs: 60_000,
      errorPauseMs: 1,
      logger,
    });
    loops.start(1);
    await jest.advanceTimersByTimeAsync(0);
    expect(handled).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(handled).toEqual([1, 2]);
    await loops.stop();
  });
});
