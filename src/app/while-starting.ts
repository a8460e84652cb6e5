import type { RequestListener } from 'node:http';

/**
 * What the port answers between listen and the app being ready: 503 with Retry-After for
 * everything but liveness. A start-up that takes a while (migrations, the relabel of a large
 * store) must not look like a hung process to a liveness probe, nor ready to a readiness probe.
 */
export const whileStarting: RequestListener = (req, res) => {
  if (req.method === 'GET' && req.url?.split('?')[0] === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"starting"}');
    return;
  }
  res.writeHead(503, { 'Retry-After': '1' }).end();
};
