/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, or `npm run bench:webhooks -- --profile <phase>`):
 * the functions with the most self time, and self time grouped by where the code lives (a package in
 * node_modules, a file of ours, Node's internals, GC, idle).
 *
 *   node dist/bench/cpu-profile-summary.js <file.cpuprofile> [--top 30] [--callers <function name>]
 *
 * `--callers writev` shows the call paths (innermost first) that spend self time in that function.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(program)') return '(program: native, not attributed)';
  if (!url) return functionName.startsWith('(') ? functionName : '(native / builtin)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + '/dist/'.length) : url.replace(/^file:\/\//, '');
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '30' },
      callers: { type: 'string' },
      depth: { type: 'string', default: '8' },
      inclusive: { type: 'boolean', default: false },
    },
  });
  const file = positionals[0];
  if (!file) {
    process.stderr.write('usage: node dist/bench/cpu-profile-summary.js <file.cpuprofile> [--top 30]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, index) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const total = [...selfMicros.values()].reduce((sum, value) => sum + value, 0);
  const idle = [...selfMicros.entries()]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
    .reduce((sum, [, value]) => sum + value, 0);
  const busy = total - idle;

  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    const area = areaOf(frame);
    const key = `${frame.functionName || '(anonymous)'}  ${area}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
    byArea.set(area, (byArea.get(area) ?? 0) + micros);
  }
  const top = Number(values.top);
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const labelOf = (frame: CallFrame) =>
    `${frame.functionName || '(anonymous)'}  ${areaOf(frame)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
  if (values.inclusive) {
    // Each function counted once per sampled stack (recursion does not double count).
    const inclusive = new Map<string, number>();
    for (const [id, micros] of selfMicros) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
        const frame = byId.get(at)!.callFrame;
        if (frame.functionName === '(root)' || frame.functionName === '(idle)') continue;
        seen.add(labelOf(frame));
      }
      for (const label of seen) inclusive.set(label, (inclusive.get(label) ?? 0) + micros);
    }
    process.stdout.write(`Inclusive time by function (busy ${(busy / 1000).toFixed(0)} ms)\n`);
    for (const [label, micros] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(
        `${(micros / 1000).toFixed(0).padStart(8)} ms ${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${label}\n`,
      );
    }
    return;
  }
  if (values.callers) {
    const paths = new Map<string, number>();
    for (const [id, micros] of selfMicros) {
      if (byId.get(id)?.callFrame.functionName !== values.callers) continue;
      const frames: string[] = [];
      for (
        let at = parentOf.get(id);
        at !== undefined && frames.length < Number(values.depth);
        at = parentOf.get(at)
      ) {
        const frame = byId.get(at)!.callFrame;
        if (frame.functionName === '(root)') break;
        frames.push(
          `${frame.functionName || '(anonymous)'} ${areaOf(frame)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`,
        );
      }
      const key = frames.join('\n      ← ');
      paths.set(key, (paths.get(key) ?? 0) + micros);
    }
    for (const [path, micros] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(
        `${(micros / 1000).toFixed(0).padStart(6)} ms  ${values.callers}\n      ← ${path}\n`,
      );
    }
    return;
  }
  const row = (label: string, micros: number) =>
    `${(micros / 1000).toFixed(0).padStart(8)} ms ${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${label}`;
  process.stdout.write(
    `${file}\n${(total / 1e6).toFixed(1)} s sampled, ${((busy / total) * 100).toFixed(0)}% busy ` +
      '(percentages below are of busy time)\n\n',
  );
  process.stdout.write('Self time by area\n');
  for (const [area, micros] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (area !== '(idle)') process.stdout.write(`${row(area, micros)}\n`);
  }
  process.stdout.write('\nSelf time by function\n');
  for (const [key, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    if (!key.startsWith('(idle)')) process.stdout.write(`${row(key, micros)}\n`);
  }
}

main();
