/**
 * Self time by function and by file or package, from a V8 CPU profile (BENCH_CPU_PROFILE_DIR of
 * bench-service.ts), over the last WINDOW seconds before the profile ended (the timed load phase,
 * without start-up): what the service spent its time on, not what it waited for.
 *   node bench/support/cpu-profile-summary.ts <file.cpuprofile> [window-seconds, default 8.5] [rows, default 30]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, windowArg, rowsArg] = process.argv.slice(2);
if (!file) throw new Error('usage: cpu-profile-summary.ts <file.cpuprofile> [window-seconds] [rows]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const windowUs = Number(windowArg ?? 8.5) * 1e6;
const rows = Number(rowsArg ?? 30);
// The last 0.3 s is the service shutting down.
const tailUs = 0.3e6;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const short = (url: string): string => url.replace(/^.*node_modules\//, 'npm:').replace(/^.*?\/(src|bench)\//, '$1/');
const fileOf = (url: string): string => {
  const s = short(url);
  if (!s.startsWith('npm:')) return s;
  const parts = s.split('/');
  return parts.slice(0, s.startsWith('npm:@') ? 2 : 1).join('/');
};

let end = 0;
for (const d of profile.timeDeltas) end += d;
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let busy = 0;
let idle = 0;
let at = 0;
profile.samples.forEach((id, i) => {
  const d = profile.timeDeltas[i] ?? 0;
  at += d;
  if (at < end - tailUs - windowUs || at > end - tailUs) return;
  const frame = byId.get(id)?.callFrame;
  if (!frame) return;
  if (frame.functionName === '(idle)') {
    idle += d;
    return;
  }
  busy += d;
  const fn = `${frame.functionName || '(anonymous)'} ${short(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + d);
  const where = frame.url ? fileOf(frame.url) : frame.functionName;
  byFile.set(where, (byFile.get(where) ?? 0) + d);
});

const show = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
    console.log(`${((100 * t) / busy).toFixed(1).padStart(5)} %  ${k}`);
  }
};
console.log(
  `window ${(windowUs / 1e6).toFixed(1)} s: busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s`,
);
show('self time by file or package (% of busy)', byFile);
show('self time by function (% of busy)', byFunction);
