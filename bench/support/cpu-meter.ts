/**
 * CPU time spent by the service process and by the local PostgreSQL server while a phase runs,
 * read from /proc (Linux). Throughput on a shared 2-core machine swings by 20 % between runs;
 * CPU time per result is what an optimisation changes, so the benches report both.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** `withReaped`: also the CPU of its children that have ended (cutime, cstime). */
function cpuSeconds(pid: string, withReaped = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime is the 14th field, stime the 15th,
    // cutime and cstime the 16th and 17th.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const own = (fields[11] ?? 0) + (fields[12] ?? 0);
    const reaped = withReaped ? (fields[13] ?? 0) + (fields[14] ?? 0) : 0;
    return (own + reaped) / TICKS_PER_SECOND;
  } catch {
    return 0; // the process ended between listing and reading
  }
}

function postgresSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      // Backends and autovacuum workers come and go: the postmaster's reaped-children time keeps
      // the CPU of those that ended during the phase.
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') total += cpuSeconds(pid, true);
    } catch {
      // gone already
    }
  }
  return total;
}

export interface CpuUse {
  /** CPU seconds of the service process. */
  service: number;
  /** CPU seconds of every local `postgres` process (0 on PGlite, where it runs inside the service). */
  postgres: number;
}

/** Starts measuring; the returned function gives the CPU used since. */
export function startCpuMeter(servicePid: number): () => CpuUse {
  const s0 = cpuSeconds(String(servicePid));
  const p0 = postgresSeconds();
  return () => ({ service: cpuSeconds(String(servicePid)) - s0, postgres: postgresSeconds() - p0 });
}

/** CPU microseconds per item, rounded, for a report. */
export function perItem(
  use: CpuUse,
  items: number,
): { serviceCpuMicroseconds: number; postgresCpuMicroseconds: number } {
  return {
    serviceCpuMicroseconds: Math.round((use.service * 1e6) / items),
    postgresCpuMicroseconds: Math.round((use.postgres * 1e6) / items),
  };
}
