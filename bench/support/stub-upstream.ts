/**
 * A minimal upstream for measuring the adapter's own write-back cost: conditional update and
 * delete by identifier into a Map, and `_summary=count`. No FHIR validation or search engine, so
 * what it measures is the outbox, the worker and the HTTP client, not the upstream.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startStubUpstream(token: string): Promise<{ base: string; close(): Promise<void> }> {
  const store = new Map<string, string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const type = url.pathname.split('/').at(-1) ?? '';
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { resourceType: 'OperationOutcome' });
      const identifier = url.searchParams.get('identifier');
      const key = `${type}|${identifier}`;
      if (req.method === 'PUT' && identifier) {
        const existed = store.has(key);
        const body = Buffer.concat(chunks).toString();
        store.set(key, body);
        return send(existed ? 200 : 201, JSON.parse(body));
      }
      if (req.method === 'DELETE' && identifier) {
        store.delete(key);
        return send(200, { resourceType: 'OperationOutcome' });
      }
      if (req.method === 'GET' && url.searchParams.get('_summary') === 'count') {
        const n = [...store.keys()].filter((k) => k.startsWith(`${type}|`)).length;
        return send(200, { resourceType: 'Bundle', type: 'searchset', total: n });
      }
      send(400, { resourceType: 'OperationOutcome' });
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/fhir/R4`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
