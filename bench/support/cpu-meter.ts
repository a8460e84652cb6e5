/**
 * CPU time spent by the service process and by the local PostgreSQL server while a phase runs,
 * read from /proc (Linux). Throughput on a shared 2-core machine swings by 20 % between runs;
 * CPU time per result is what an optimisation changes, so the benches report both.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

function cpuSeconds(pid: string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0; // the process ended between listing and reading
  }
}

function postgresSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') total += cpuSeconds(pid);
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
