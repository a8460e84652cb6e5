/**
 * A real FHIR server in-process, standing in for the EHR upstream: @medplum/fhir-router with its
 * MemoryRepository behind express on an ephemeral port. Two additions the router lacks as a test
 * double: searchset `next` links (it reports `total` but no paging links), and a write log so tests
 * can count what the adapter sent.
 */
import type { AddressInfo } from 'node:net';
import { getStatus, isOk } from '@medplum/core';
import { FhirRouter, type HttpMethod, MemoryRepository } from '@medplum/fhir-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import express from 'express';

export interface FhirUpstream {
  /** FHIR base URL, e.g. http://127.0.0.1:PORT/fhir/R4 */
  base: string;
  repo: MemoryRepository;
  token: string;
  /** Writes the adapter made (method and URL), in order. */
  writes: { method: string; url: string }[];
  requests: { method: string; url: string }[];
  create<T extends Resource>(resource: T): Promise<T>;
  close(): Promise<void>;
}

export async function startFhirUpstream(token = 'upstream-test-token'): Promise<FhirUpstream> {
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const app = express();
  const writes: FhirUpstream['writes'] = [];
  const requests: FhirUpstream['requests'] = [];
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '20mb' }));
  let base = '';
  app.use('/fhir/R4', async (req, res) => {
    requests.push({ method: req.method, url: req.url });
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.status(401).json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
      return;
    }
    if (req.method !== 'GET') writes.push({ method: req.method, url: req.url });
    const [outcome, resource] = await router.handleRequest(
      {
        method: req.method as HttpMethod,
        url: req.url,
        pathname: '',
        params: {},
        query: {},
        body: req.body ?? {},
        headers: req.headers,
        config: { transactions: true },
      },
      repo,
    );
    let body: Resource | undefined = isOk(outcome) && resource ? resource : outcome;
    if (body?.resourceType === 'Bundle' && body.type === 'searchset') body = withNextLink(body, `${base}${req.url}`);
    res
      .status(getStatus(outcome))
      .type('application/fhir+json')
      .json(body ?? outcome);
  });
  const server = app.listen(0, '127.0.0.1');
  // Longer than the client's idle keep-alive, so a reused socket is not closed under a request.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}/fhir/R4`;
  return {
    base,
    repo,
    token,
    writes,
    requests,
    create: (resource) => repo.createResource(resource),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** next = same query with _offset advanced, while total says there is more. */
function withNextLink(bundle: Bundle, url: string): Bundle {
  const u = new URL(url);
  const count = Number(u.searchParams.get('_count') ?? 20);
  const offset = Number(u.searchParams.get('_offset') ?? 0);
  const total = bundle.total ?? 0;
  const link = [{ relation: 'self', url: u.toString() }];
  if (offset + count < total) {
    const next = new URL(u);
    next.searchParams.set('_offset', String(offset + count));
    link.push({ relation: 'next', url: next.toString() });
  }
  return { ...bundle, link };
}
