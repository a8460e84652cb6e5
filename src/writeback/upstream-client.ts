/**
 * The one way the adapter talks to the upstream FHIR server: @medplum/core's MedplumClient set up for
 * a server that is not Medplum (no X-Medplum header, no client-side cache) and with its own retries
 * off, because it retries POSTs too; retrying is the caller's policy (src/writeback/backoff.ts), and
 * writes are conditional updates keyed by business identifier, so a repeat cannot duplicate.
 * Each call runs with a timeout, and failures come back as UpstreamError with the HTTP status,
 * Retry-After and the upstream OperationOutcome (captured from the response the client saw).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { MedplumClient, OperationOutcomeError } from '@medplum/core';
import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { UpstreamTokenSource } from './upstream-auth.ts';
import { parseRetryAfter, UpstreamError } from './upstream-error.ts';

export interface UpstreamOptions {
  /** FHIR base URL, e.g. https://ehr.example.org/fhir/r4 */
  fhirUrl: string;
  timeoutMs: number;
  tokens: UpstreamTokenSource;
  /** For tests and benches: the fetch the client uses (default: global fetch, which nock intercepts). */
  fetch?: typeof fetch;
}

export interface UpstreamResponse<T> {
  status: number;
  body: T;
}

type Seen = { response?: Response };

export class UpstreamClient {
  readonly client: MedplumClient;
  /** Without a trailing slash. */
  readonly fhirBase: string;
  readonly #timeoutMs: number;
  readonly #tokens: UpstreamTokenSource;
  readonly #seen = new AsyncLocalStorage<Seen>();
  /** setAccessToken is not free (it resets the client's login state): only on change. */
  #token: string | undefined;

  constructor(options: UpstreamOptions) {
    const url = new URL(options.fhirUrl);
    this.fhirBase = options.fhirUrl.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs;
    this.#tokens = options.tokens;
    const inner =
      options.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init));
    const seen = this.#seen;
    this.client = new MedplumClient({
      baseUrl: `${url.origin}/`,
      fhirUrlPath: url.pathname.replace(/^\/+|\/+$/g, ''),
      extendedMode: false,
      cacheTime: 0,
      maxRetries: 0,
      autoBatchTime: 0,
      fetch: async (input: string | URL | Request, init?: RequestInit) => {
        const response = await inner(input, init);
        const store = seen.getStore();
        if (store) store.response = response;
        return response;
      },
    });
  }

  /** Gets an access token now (a start-up check of the credentials and granted scopes); throws UpstreamError. */
  async authenticate(): Promise<void> {
    await this.#accessToken();
  }

  /** Absolute URL for a path relative to the FHIR base ("Observation?identifier=…"). */
  url(relative: string): string {
    return `${this.fhirBase}/${relative.replace(/^\/+/, '')}`;
  }

  /** Conditional update by business identifier: creates (201) or updates (200) exactly one resource. */
  async putByIdentifier(resource: Resource, system: string, value: string): Promise<UpstreamResponse<Resource>> {
    const query = new URLSearchParams({ identifier: `${system}|${value}` });
    return this.#call((signal) =>
      this.client.put(this.url(`${resource.resourceType}?${query}`), resource, 'application/fhir+json', {
        signal,
        maxRetries: 0,
      }),
    );
  }

  /** Conditional create (If-None-Exist): a repeat finds the first instead of creating another. */
  async createIfNoneExist<T extends Resource>(resource: T, query: string): Promise<T> {
    const r = await this.#call((signal) =>
      this.client.createResourceIfNoneExist(resource, query, { signal, maxRetries: 0 }),
    );
    return r.body;
  }

  /** Conditional delete by business identifier; "already gone" (404) counts as done. */
  async deleteByIdentifier(resourceType: string, system: string, value: string): Promise<number> {
    const query = new URLSearchParams({ identifier: `${system}|${value}` });
    try {
      const r = await this.#call((signal) =>
        this.client.delete(this.url(`${resourceType}?${query}`), { signal, maxRetries: 0 }),
      );
      return r.status;
    } catch (err) {
      if (err instanceof UpstreamError && err.status === 404) return 404;
      throw err;
    }
  }

  /** GET of a URL relative to the FHIR base, or absolute (a Bundle's next link). */
  async get<T extends Resource = Resource>(urlOrPath: string): Promise<T> {
    const url = /^https?:\/\//.test(urlOrPath) ? urlOrPath : this.url(urlOrPath);
    const r = await this.#call((signal) => this.client.get<T>(url, { signal, maxRetries: 0 }));
    return r.body;
  }

  async search(resourceType: string, params: URLSearchParams): Promise<Bundle> {
    return this.get<Bundle>(`${resourceType}?${params}`);
  }

  async #call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<UpstreamResponse<T>> {
    let refreshed = false;
    for (;;) {
      const token = await this.#accessToken();
      if (token !== undefined && (token !== this.#token || this.client.getAccessToken() !== token)) {
        this.client.setAccessToken(token);
        this.#token = token;
      }
      const seen: Seen = {};
      try {
        const body = await this.#seen.run(seen, () => fn(AbortSignal.timeout(this.#timeoutMs)));
        return { status: seen.response?.status ?? 200, body };
      } catch (err) {
        const e = this.#classify(err, seen.response);
        // An expired or revoked token: get a new one once, then let the caller's policy decide.
        if (e.status === 401 && !refreshed && this.#tokens.invalidate()) {
          refreshed = true;
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * The access token, its failures classified like the request's (UPSTREAM_TOKEN, retryable): a
   * token endpoint that is down, refuses connections, times out or answers an error must not read
   * as a definitive answer about the resource.
   */
  async #accessToken(): Promise<string | undefined> {
    const seen: Seen = {};
    try {
      return await this.#seen.run(seen, () => this.#tokens.token(this.client));
    } catch (err) {
      const response = seen.response;
      const e = err as Error & { cause?: { code?: string } };
      let detail: string;
      if (response && response.status >= 400) {
        detail = `the token endpoint answered ${response.status}: ${e?.message ?? String(err)}`;
      } else if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
        detail = 'the token endpoint did not answer in time';
      } else if (response) {
        detail = `the token endpoint answered ${response.status}: ${e?.message ?? String(err)}`;
      } else {
        detail = `the token endpoint is unreachable: ${e?.cause?.code ?? e?.message ?? String(err)}`;
      }
      const retryAfterMs =
        response && response.status >= 400
          ? parseRetryAfter(response.headers.get('retry-after'), Date.now())
          : undefined;
      throw new UpstreamError('UPSTREAM_TOKEN', detail, {
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        cause: err,
      });
    }
  }

  #classify(err: unknown, response: Response | undefined): UpstreamError {
    if (err instanceof UpstreamError) return err;
    if (response && response.status >= 400) {
      const outcome = err instanceof OperationOutcomeError ? (err.outcome as OperationOutcome) : undefined;
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
      return new UpstreamError('UPSTREAM_HTTP', `upstream answered ${response.status}`, {
        status: response.status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        ...(outcome ? { outcome } : {}),
        cause: err,
      });
    }
    const e = err as Error;
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
      return new UpstreamError('UPSTREAM_TIMEOUT', `upstream did not answer within ${this.#timeoutMs} ms`, {
        cause: err,
      });
    }
    const cause = (e as Error & { cause?: { code?: string } })?.cause?.code;
    return new UpstreamError('UPSTREAM_NETWORK', `upstream unreachable: ${cause ?? e?.message ?? String(err)}`, {
      cause: err,
    });
  }
}
