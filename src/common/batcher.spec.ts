import { Batcher } from './batcher.js';

/** A run that records its batches and waits until released, so a test decides when each batch ends. */
function controlledRun() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const run = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((resolve) => releases.push(resolve));
    return items.map((item) => item * 10);
  };
  return { run, batches, release: (index: number) => releases[index]() };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('runs a lone item at once, in a batch of its own', async () => {
    const batcher = new Batcher(async (items: number[]) => items.map((item) => item + 1), {
      maxBatchSize: 10,
      maxConcurrentRuns: 1,
    });
    await expect(batcher.submit(1)).resolves.toBe(2);
  });

  it('groups the items that arrive while every run is busy into the next batch', async () => {
    const { run, batches, release } = controlledRun();
    const batcher = new Batcher(run, { maxBatchSize: 10, maxConcurrentRuns: 1 });
    const first = batcher.submit(1);
    const rest = [2, 3, 4].map((item) => batcher.submit(item));
    await flush();
    expect(batches).toEqual([[1]]);
    release(0);
    await expect(first).resolves.toBe(10);
    await flush();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    release(1);
    await expect(Promise.all(rest)).resolves.toEqual([20, 30, 40]);
  });

  it('never puts more than the batch size into one run, nor runs more than the concurrency', async () => {
    const { run, batches, release } = controlledRun();
    const batcher = new Batcher(run, { maxBatchSize: 2, maxConcurrentRuns: 2 });
    const results = [1, 2, 3, 4, 5, 6].map((item) => batcher.submit(item));
    await flush();
    expect(batches).toEqual([[1], [2]]);
    expect(batcher.backlog).toBe(4);
    release(1);
    await flush();
    expect(batches).toEqual([[1], [2], [3, 4]]);
    release(0);
    await flush();
    expect(batches).toEqual([[1], [2], [3, 4], [5, 6]]);
    release(2);
    release(3);
    await expect(Promise.all(results)).resolves.toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('reruns the items of a failed batch one by one, so only the bad item fails', async () => {
    const runs: number[][] = [];
    const batcher = new Batcher(
      async (items: number[]) => {
        runs.push(items);
        if (items.includes(13)) throw new Error('unlucky');
        return items;
      },
      { maxBatchSize: 10, maxConcurrentRuns: 1 },
    );
    const blocker = batcher.submit(0);
    const results = [12, 13, 14].map((item) => batcher.submit(item));
    await blocker;
    const settled = await Promise.allSettled(results);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toEqual(new Error('unlucky'));
    expect(runs).toEqual([[0], [12, 13, 14], [12], [13], [14]]);
  });

  it('fails a batch whose run returns the wrong number of results', async () => {
    const batcher = new Batcher(async () => [], { maxBatchSize: 10, maxConcurrentRuns: 1 });
    await expect(batcher.submit(1)).rejects.toThrow('a batch of 1 items gave 0 results');
  });
});
