import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for a long-running server, set before the rest of Parley is loaded (main.ts imports this
 * first), so they hold however the process is started (`npm start`, the Dockerfile, `node dist/src/main.js`).
 *
 * `--no-allocation-site-pretenuring`: when many requests are in flight at once (a burst, 100 concurrent
 * webhooks), V8 sees the objects of a request survive a young-generation collection and starts allocating
 * them straight in the old generation ("pretenuring"). Once the burst is over those request objects die
 * young, but from the old generation they keep what they point to alive through every scavenge: after a
 * burst, WeCom refreshes at 500/s had 0.2–2.4 MB surviving each scavenge (3–10 ms pauses) against 40–55 KB
 * without pretenuring (2 ms). Measured with `npm run bench:webhooks` (docs/benchmarks.md, "2026-12-04,
 * evening").
 */
const V8_FLAGS = ['--no-allocation-site-pretenuring'] as const;

for (const flag of V8_FLAGS) setFlagsFromString(flag);
