export interface BatcherOptions {
  /** The most items one run takes. */
  maxBatchSize: number;
  /** Runs under way at once; an item arriving while all are busy waits for the next free one. */
  maxConcurrentRuns: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: items submitted while every run is busy are taken together by the next run. An item that
 * finds a run free starts one at once, so a lone item waits for nothing; under load the batches grow by
 * themselves, and with them the work shared per item (one transaction, one statement, one commit).
 *
 * `run` gets the items of one batch and returns one result per item, in order. When a run of several items
 * fails, each item is run again alone, so one bad item fails only itself.
 */
export class Batcher<I, O> {
  private readonly waiting: Pending<I, O>[] = [];
  private running = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly options: BatcherOptions,
  ) {
    if (options.maxBatchSize < 1 || options.maxConcurrentRuns < 1) {
      throw new Error('a batcher needs a batch size and a concurrency of at least 1');
    }
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.startRuns();
    });
  }

  /** Items submitted and not yet settled. */
  get backlog(): number {
    return this.waiting.length;
  }

  private startRuns(): void {
    while (this.running < this.options.maxConcurrentRuns && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxBatchSize);
      this.running++;
      void this.settle(batch).finally(() => {
        this.running--;
        this.startRuns();
      });
    }
  }

  private async settle(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await this.run(batch.map((pending) => pending.item));
      if (results.length !== batch.length) {
        throw new Error(`a batch of ${batch.length} items gave ${results.length} results`);
      }
      batch.forEach((pending, index) => pending.resolve(results[index]));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      await Promise.all(batch.map((pending) => this.settle([pending])));
    }
  }
}
