/** Entry point: `npm start`. */
import { nodeVersionProblem } from './app/node-version.ts';

const versionProblem = nodeVersionProblem();
if (versionProblem) {
  process.stderr.write(`${versionProblem}\n`);
  process.exit(1);
}
// Imported after the version check: on another Node the service's modules may not even load.
const { AppError } = await import('./shared/app-error.ts');
const { startService } = await import('./app/start.ts');

try {
  const service = await startService();
  const shutdown = (signal: string): void => {
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: `received ${signal}` })}\n`,
    );
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  // One clear line naming the problem, then a non-zero exit: no stack trace for operator errors.
  if (err instanceof AppError) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
}
