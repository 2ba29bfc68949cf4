/**
 * Preloaded (`node --import`) into every process the webhook benchmark starts, without touching their code:
 * - ends the process when the benchmark that started it is gone (its parent pid changed), so a killed
 *   benchmark leaves nothing running;
 * - with BENCH_PROFILE_DIR set, a file `<dir>/start` starts a CPU profile of the main thread and a file
 *   `<dir>/stop` writes it to `<dir>/profile-<n>.cpuprofile`, so only the measured phase is profiled.
 *   (Files, not signals: Nest's shutdown hooks treat SIGUSR2 like SIGTERM.)
 * - with BENCH_TRACE_FILE set (--trace), records webhooks, accept statements, stalls and GC pauses into that
 *   file (bench/lib/trace-recorder.ts).
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const parent = process.ppid;
const watchdog = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(watchdog);
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(1), 15_000).unref();
}, 1000);
watchdog.unref();

const profileDir = process.env.BENCH_PROFILE_DIR;
if (profileDir) {
  const session = new Session();
  session.connect();
  let running = false;
  let written = 0;
  const post = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
    );
  const start = async () => {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
  };
  const stop = async () => {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    const file = join(profileDir, `profile-${++written}.cpuprofile`);
    writeFileSync(`${file}.tmp`, JSON.stringify(profile));
    renameSync(`${file}.tmp`, file);
  };
  let busy = false;
  const control = setInterval(() => {
    if (busy) return;
    const command =
      !running && existsSync(join(profileDir, 'start'))
        ? 'start'
        : running && existsSync(join(profileDir, 'stop'))
          ? 'stop'
          : undefined;
    if (!command) return;
    busy = true;
    rmSync(join(profileDir, command), { force: true });
    running = command === 'start';
    (command === 'start' ? start() : stop())
      .catch((error: unknown) => process.stderr.write(`profiler: ${String(error)}\n`))
      .finally(() => (busy = false));
  }, 100);
  control.unref();
}

const traceFile = process.env.BENCH_TRACE_FILE;
if (traceFile) {
  const { installTraceRecorder } = await import('./lib/trace-recorder.js');
  installTraceRecorder(traceFile);
}
