/** Entry point: `npm start`. */
import { AppError } from './app/app-error.ts';
import { startService } from './app/start.ts';

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
