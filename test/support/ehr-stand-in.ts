/**
 * An EHR stand-in WRITTEN FOR THE TESTS: a real node:http server on an ephemeral port with what a
 * hospital's FHIR API does to the adapter in its first month: an OAuth token endpoint
 * (client_credentials, client_secret_basic) issuing short-lived tokens with the scopes it is willing
 * to grant, FHIR create / conditional update / conditional delete / read / search for the types the
 * adapter writes (MeasureReport, Observation, AdverseEvent, Flag, Subscription; Patient read) with
 * SMART scope enforcement (v1 `.read`/`.write`/`.*` and v2 `.cruds`), R4 JSON checks (no empty
 * strings, objects or arrays), and outage injection: refused connections (the server closed, then
 * reopened on the same port), time-outs (requests accepted and never answered), 503 with
 * Retry-After, and the token endpoint down while the FHIR API is up.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Resource } from '@medplum/fhirtypes';

const TYPES = new Set(['MeasureReport', 'Observation', 'AdverseEvent', 'Flag', 'Subscription', 'Patient']);

/** `up`: answers; `refuse`: port closed; `hang`: accepts and never answers; `unavailable`: 503 + Retry-After. */
export type FhirMode = 'up' | 'refuse' | 'hang' | 'unavailable';
/** The token endpoint alone: `down` answers 503, `hang` never answers (the FHIR API unaffected). */
export type TokenMode = 'up' | 'down' | 'hang';

export interface StandInOptions {
  clientId?: string;
  clientSecret?: string;
  /** Token lifetime in seconds (expires_in); tokens are refused with 401 after it. */
  tokenLifetimeSeconds?: number;
  /** Scopes the EHR grants, out of those asked for; default: all asked for. */
  grantable?: readonly string[];
  /** Retry-After (seconds) sent with 503 in `unavailable` mode. */
  retryAfterSeconds?: number;
}

export interface StandInWrite {
  method: string;
  resourceType: string;
  /** "system|value" for conditional writes; the resource id otherwise. */
  key: string;
  status: number;
  /** Milliseconds since the stand-in started. */
  at: number;
}

export interface EhrStandIn {
  /** FHIR base, e.g. http://127.0.0.1:PORT/fhir */
  base: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Every FHIR request answered (any status) and every write applied or refused. */
  requests: { method: string; url: string; status: number; at: number }[];
  writes: StandInWrite[];
  /** Token requests answered, with the scopes asked for and granted. */
  tokens: { status: number; asked: string[]; granted: string[]; at: number }[];
  /** Requests that met an injected failure, by kind (refused connections are not seen: counted by probing). */
  injected: Record<'hang' | 'unavailable' | 'token-down' | 'token-hang' | 'expired', number>;
  /** Stored resources by type (latest versions). */
  stored(resourceType: string): Resource[];
  setMode(mode: FhirMode): Promise<void>;
  setTokenMode(mode: TokenMode): void;
  close(): Promise<void>;
}

interface Token {
  expiresAt: number;
  scopes: string[];
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
  res.end(text);
}

function outcome(code: string, text: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

/** Where a value breaks R4 JSON (http://hl7.org/fhir/R4/json.html): an empty string, object or array. */
export function emptyJsonValue(value: unknown, path = ''): string | undefined {
  if (value === '') return path || '(root)';
  if (Array.isArray(value)) {
    if (value.length === 0) return path;
    for (const [i, v] of value.entries()) {
      const found = emptyJsonValue(v, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return path || '(root)';
    for (const [k, v] of entries) {
      const found = emptyJsonValue(v, path ? `${path}.${k}` : k);
      if (found) return found;
    }
  }
  return undefined;
}

/** SMART v1 (read/write/*) and v2 (c r u d s) system scopes: does one of them allow `letter` on `type`? */
export function scopeAllows(scopes: readonly string[], type: string, letter: 'c' | 'r' | 'u' | 'd' | 's'): boolean {
  return scopes.some((s) => {
    const m = /^system\/([A-Za-z*]+)\.([a-z*]+)$/.exec(s);
    if (!m || (m[1] !== type && m[1] !== '*')) return false;
    const perm = m[2] as string;
    if (perm === '*') return true;
    if (perm === 'read') return letter === 'r' || letter === 's';
    if (perm === 'write') return letter === 'c' || letter === 'u' || letter === 'd';
    return /^c?r?u?d?s?$/.test(perm) && perm.includes(letter);
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startEhrStandIn(options: StandInOptions = {}): Promise<EhrStandIn> {
  const clientId = options.clientId ?? 'khe-adapter';
  const clientSecret = options.clientSecret ?? 'stand-in-secret';
  const lifetime = options.tokenLifetimeSeconds ?? 300;
  const started = Date.now();
  const since = () => Date.now() - started;
  const issued = new Map<string, Token>();
  const store = new Map<string, Map<string, Resource>>();
  let nextId = 1;
  let mode: FhirMode = 'up';
  let tokenMode: TokenMode = 'up';
  const requests: EhrStandIn['requests'] = [];
  const writes: StandInWrite[] = [];
  const tokens: EhrStandIn['tokens'] = [];
  const injected: EhrStandIn['injected'] = { hang: 0, unavailable: 0, 'token-down': 0, 'token-hang': 0, expired: 0 };

  const all = (type: string): Map<string, Resource> => {
    let m = store.get(type);
    if (!m) {
      m = new Map();
      store.set(type, m);
    }
    return m;
  };
  const matches = (r: Resource, params: URLSearchParams): boolean => {
    for (const [name, value] of params) {
      if (name.startsWith('_')) continue;
      if (name === 'identifier') {
        const [system, v] = value.includes('|') ? value.split('|', 2) : [undefined, value];
        const ids = (r as { identifier?: { system?: string; value?: string }[] }).identifier ?? [];
        if (!ids.some((i) => i.value === v && (system === undefined || i.system === system))) return false;
      } else if (name === 'url') {
        if ((r as { channel?: { endpoint?: string } }).channel?.endpoint !== value) return false;
      } else {
        return false;
      }
    }
    return true;
  };
  const save = (type: string, resource: Resource, id?: string): Resource => {
    const existing = id ? all(type).get(id) : undefined;
    const version = existing ? Number(existing.meta?.versionId ?? '1') + 1 : 1;
    const stored = {
      ...resource,
      id: id ?? String(nextId++),
      meta: { ...resource.meta, versionId: String(version), lastUpdated: new Date().toISOString() },
    } as Resource;
    all(type).set(stored.id as string, stored);
    return stored;
  };

  const tokenEndpoint = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const form = new URLSearchParams(await readBody(req));
    if (tokenMode === 'hang') {
      injected['token-hang'] += 1;
      return;
    }
    const asked = (form.get('scope') ?? '').split(/\s+/).filter((s) => s.length > 0);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}, granted: string[] = []) => {
      tokens.push({ status, asked, granted, at: since() });
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    if (tokenMode === 'down') {
      injected['token-down'] += 1;
      answer(503, { error: 'temporarily_unavailable' }, { 'retry-after': '1' });
      return;
    }
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [id, secret] = basic
      ? Buffer.from(basic, 'base64')
          .toString('utf8')
          .split(':')
          .map((x) => decodeURIComponent(x))
      : [];
    if (form.get('grant_type') !== 'client_credentials' || id !== clientId || secret !== clientSecret) {
      answer(401, { error: 'invalid_client' });
      return;
    }
    const granted = options.grantable ? asked.filter((s) => options.grantable?.includes(s)) : asked;
    if (granted.length === 0) {
      answer(400, { error: 'invalid_scope' });
      return;
    }
    const token = randomBytes(16).toString('hex');
    issued.set(token, { expiresAt: Date.now() + lifetime * 1000, scopes: granted });
    answer(
      200,
      { access_token: token, token_type: 'bearer', expires_in: lifetime, scope: granted.join(' ') },
      {},
      granted,
    );
  };

  const fhir = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const method = req.method ?? 'GET';
    const body = method === 'PUT' || method === 'POST' ? await readBody(req) : '';
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      requests.push({ method, url: url.pathname + url.search, status, at: since() });
      send(res, status, payload, headers);
    };
    if (mode === 'hang') {
      injected.hang += 1;
      return;
    }
    if (mode === 'unavailable') {
      injected.unavailable += 1;
      answer(503, outcome('transient', 'down for maintenance'), {
        'retry-after': String(options.retryAfterSeconds ?? 1),
      });
      return;
    }
    const token = issued.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (!token || token.expiresAt <= Date.now()) {
      if (token) injected.expired += 1;
      answer(401, outcome('login', token ? 'token expired' : 'no valid token'));
      return;
    }
    const parts = url.pathname.replace(/^\/fhir\/?/, '').split('/');
    const type = parts[0] ?? '';
    const id = parts[1];
    if (!TYPES.has(type) || parts.length > 2) {
      answer(404, outcome('not-found', `no ${url.pathname}`));
      return;
    }
    const deny = (letter: 'c' | 'r' | 'u' | 'd' | 's'): boolean => {
      if (scopeAllows(token.scopes, type, letter)) return false;
      answer(403, outcome('forbidden', `scope does not allow ${letter} on ${type}`));
      return true;
    };
    const record = (status: number, key: string): void => {
      writes.push({ method, resourceType: type, key, status, at: since() });
    };
    const parse = (): Resource | undefined => {
      let resource: Resource;
      try {
        resource = JSON.parse(body) as Resource;
      } catch {
        answer(400, outcome('structure', 'not JSON'));
        return undefined;
      }
      const empty = emptyJsonValue(resource);
      if (resource.resourceType !== type || empty) {
        answer(400, outcome('structure', empty ? `empty value at ${empty}` : 'wrong resourceType'));
        return undefined;
      }
      return resource;
    };
    if (method === 'GET') {
      if (id) {
        if (deny('r')) return;
        const found = all(type).get(id);
        if (found) answer(200, found);
        else answer(404, outcome('not-found', `${type}/${id}`));
        return;
      }
      if (deny('s')) return;
      const hits = [...all(type).values()].filter((r) => matches(r, url.searchParams));
      answer(200, {
        resourceType: 'Bundle',
        type: 'searchset',
        total: hits.length,
        ...(hits.length > 0 ? { entry: hits.map((r) => ({ resource: r, search: { mode: 'match' } })) } : {}),
      });
      return;
    }
    if (method === 'PUT' && !id && url.searchParams.size > 0) {
      const key = url.searchParams.get('identifier') ?? url.search;
      const hits = [...all(type).values()].filter((r) => matches(r, url.searchParams));
      if (deny(hits.length === 0 ? 'c' : 'u')) return record(403, key);
      const resource = parse();
      if (!resource) return record(400, key);
      if (hits.length > 1) {
        answer(412, outcome('duplicate', 'several matches'));
        return record(412, key);
      }
      const saved = save(type, resource, hits[0]?.id);
      const status = hits.length === 0 ? 201 : 200;
      answer(status, saved);
      return record(status, key);
    }
    if (method === 'POST' && !id) {
      if (deny('c')) return record(403, 'create');
      const resource = parse();
      if (!resource) return record(400, 'create');
      const ifNoneExist = req.headers['if-none-exist'];
      if (typeof ifNoneExist === 'string') {
        const found = [...all(type).values()].find((r) => matches(r, new URLSearchParams(ifNoneExist)));
        if (found) {
          answer(200, found);
          return record(200, found.id as string);
        }
      }
      const saved = save(type, resource);
      answer(201, saved, { location: `${type}/${saved.id}/_history/1` });
      return record(201, saved.id as string);
    }
    if (method === 'DELETE' && !id) {
      const key = url.searchParams.get('identifier') ?? url.search;
      if (deny('d')) return record(403, key);
      const hits = [...all(type).values()].filter((r) => matches(r, url.searchParams));
      for (const r of hits) all(type).delete(r.id as string);
      answer(hits.length > 0 ? 200 : 404, outcome('informational', `deleted ${hits.length}`));
      return record(hits.length > 0 ? 200 : 404, key);
    }
    answer(405, outcome('not-supported', `${method} ${url.pathname}`));
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const handle =
      url.pathname === '/oauth/token' && req.method === 'POST'
        ? tokenEndpoint(req, res)
        : url.pathname === '/fhir' || url.pathname.startsWith('/fhir/')
          ? fhir(req, res, url)
          : Promise.resolve(send(res, 404, outcome('not-found', url.pathname)));
    handle.catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, outcome('exception', String(err)));
    });
  });
  server.keepAliveTimeout = 60_000;
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const closeServer = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen(0);
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    base: `${origin}/fhir`,
    tokenUrl: `${origin}/oauth/token`,
    clientId,
    clientSecret,
    requests,
    writes,
    tokens,
    injected,
    stored: (type) => [...all(type).values()],
    async setMode(next) {
      if (next === mode) return;
      const wasRefusing = mode === 'refuse';
      mode = next;
      if (next === 'refuse') await closeServer();
      else if (wasRefusing) await listen(port);
      // Leaving `hang`: requests left hanging are cut off, as a restarted EHR would.
      if (next !== 'hang' && next !== 'refuse') server.closeIdleConnections();
    },
    setTokenMode(next) {
      tokenMode = next;
    },
    async close() {
      if (mode !== 'refuse') await closeServer();
    },
  };
}
