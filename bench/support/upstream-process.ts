/** Spawns bench/support/fhir-upstream-main.ts and waits for its { base, token } line. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface UpstreamProcess {
  base: string;
  token: string;
  stop(): Promise<void>;
}

export async function spawnUpstream(kind: 'fhir-router' | 'stub' = 'fhir-router'): Promise<UpstreamProcess> {
  const root = join(import.meta.dirname, '..', '..');
  const child = spawn(
    join(root, 'node_modules', '.bin', 'node'),
    [join(root, 'bench', 'support', 'fhir-upstream-main.ts'), ...(kind === 'stub' ? ['--stub'] : [])],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
  const { base, token } = JSON.parse(line) as { base: string; token: string };
  return {
    base,
    token,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
