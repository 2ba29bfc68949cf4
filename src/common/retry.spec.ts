import { backoffDelay, parseRetryAfter, withRetry } from './retry.js';

const fast = { baseDelayMs: 1, maxDelayMs: 5 };

describe('withRetry', () => {
  it('retries a retryable failure until it succeeds', async () => {
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw new Error('flaky');
        return 'ok';
      },
      { ...fast, attempts: 5, isRetryable: () => true },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error(`failure ${calls}`);
        },
        { ...fast, attempts: 3, isRetryable: () => true },
      ),
    ).rejects.toThrow('failure 3');
  });

  it('does not retry an error that is not retryable', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error('bad request');
        },
        { ...fast, attempts: 3, isRetryable: () => false },
      ),
    ).rejects.toThrow('bad request');
    expect(calls).toBe(1);
  });

  it('waits what the server asked for, even beyond the backoff cap', async () => {
    const waits: number[] = [];
    let calls = 0;
    await withRetry(
      async () => {
        if (++calls === 1) throw new Error('429');
        return 'ok';
      },
      {
        ...fast,
        attempts: 2,
        isRetryable: () => true,
        retryAfterMs: () => 20,
        onRetry: (_e, _a, delay) => waits.push(delay),
      },
    );
    expect(waits).toEqual([20]);
  });

  it('gives up when the server asks for a longer wait than allowed', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new Error('429 come back in an hour');
        },
        {
          ...fast,
          attempts: 3,
          isRetryable: () => true,
          retryAfterMs: () => 3_600_000,
          maxRetryAfterMs: 60_000,
        },
      ),
    ).rejects.toThrow('an hour');
    expect(calls).toBe(1);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially within the cap', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const delay = backoffDelay(attempt, 100, 2000);
      expect(delay).toBeGreaterThanOrEqual(Math.min(2000, 100 * 2 ** (attempt - 1)) / 2);
      expect(delay).toBeLessThanOrEqual(2000);
    }
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
