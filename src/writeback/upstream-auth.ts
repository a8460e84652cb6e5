/**
 * Access tokens for the upstream server: a static bearer token, or OAuth client credentials with a
 * client secret (client_secret_basic) or a SMART Backend Services private-key JWT assertion
 * (RS384/ES384, exp at most 5 minutes ahead, unique jti). Token requests go through the same
 * MedplumClient (its own login helpers send no scope, which SMART servers require).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { MedplumClient } from '@medplum/core';
import { importPKCS8, SignJWT } from 'jose';
import { appError } from '../shared/app-error.ts';

export interface UpstreamTokenSource {
  /** A valid access token (fetched or refreshed as needed); undefined for none. */
  token(client: MedplumClient): Promise<string | undefined>;
  /** Forgets the current token; false when there is no way to get another. */
  invalidate(): boolean;
}

export interface UpstreamAuthSettings {
  UPSTREAM_AUTH?: 'smart-backend' | 'client-secret' | 'bearer' | undefined;
  UPSTREAM_TOKEN_URL?: string | undefined;
  UPSTREAM_CLIENT_ID?: string | undefined;
  UPSTREAM_CLIENT_SECRET?: string | undefined;
  UPSTREAM_PRIVATE_KEY_FILE?: string | undefined;
  UPSTREAM_KEY_ID?: string | undefined;
  UPSTREAM_KEY_ALG: 'RS384' | 'ES384';
  UPSTREAM_SCOPE: string;
  UPSTREAM_BEARER_TOKEN?: string | undefined;
  /** Time-out of a token request (default 10 s). */
  UPSTREAM_TIMEOUT_MS?: number | undefined;
}

interface TokenResponse {
  access_token?: string;
  expires_in?: number;
  /** The scopes granted, when they differ from those asked for (RFC 6749 §5.1). */
  scope?: string;
}

export interface TokenSourceHooks {
  /** Each token issued: the scopes its response granted (undefined when it named none: as asked). */
  onGranted?: (granted: string[] | undefined) => void;
}

class StaticToken implements UpstreamTokenSource {
  readonly #token: string;
  constructor(token: string) {
    this.#token = token;
  }
  async token(): Promise<string> {
    return this.#token;
  }
  invalidate(): boolean {
    return false;
  }
}

class ClientCredentials implements UpstreamTokenSource {
  #current: { token: string; renewAt: number } | undefined;
  #pending: Promise<string> | undefined;
  readonly #settings: UpstreamAuthSettings;
  readonly #sign: (() => Promise<string>) | undefined;
  readonly #hooks: TokenSourceHooks;

  constructor(settings: UpstreamAuthSettings, hooks: TokenSourceHooks, sign?: () => Promise<string>) {
    this.#settings = settings;
    this.#hooks = hooks;
    this.#sign = sign;
  }

  async token(client: MedplumClient): Promise<string> {
    if (this.#current && Date.now() < this.#current.renewAt) return this.#current.token;
    this.#pending ??= this.#fetch(client).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  invalidate(): boolean {
    this.#current = undefined;
    return true;
  }

  async #fetch(client: MedplumClient): Promise<string> {
    const s = this.#settings;
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope: s.UPSTREAM_SCOPE });
    const headers: Record<string, string> = {};
    if (this.#sign) {
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', await this.#sign());
    } else {
      const basic = `${encodeURIComponent(s.UPSTREAM_CLIENT_ID ?? '')}:${encodeURIComponent(s.UPSTREAM_CLIENT_SECRET ?? '')}`;
      headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    }
    client.clearActiveLogin();
    const body = (await client.post(
      s.UPSTREAM_TOKEN_URL as string,
      form.toString(),
      'application/x-www-form-urlencoded',
      {
        headers,
        maxRetries: 0,
        signal: AbortSignal.timeout(s.UPSTREAM_TIMEOUT_MS ?? 10_000),
      },
    )) as TokenResponse;
    if (!body?.access_token) throw appError('UPSTREAM_TOKEN_FAILED', 'the response has no access_token');
    const lifetime = (body.expires_in ?? 300) * 1000;
    this.#current = { token: body.access_token, renewAt: Date.now() + lifetime * 0.8 };
    this.#hooks.onGranted?.(
      typeof body.scope === 'string' ? body.scope.split(/\s+/).filter((x) => x.length > 0) : undefined,
    );
    return body.access_token;
  }
}

async function assertionSigner(s: UpstreamAuthSettings): Promise<() => Promise<string>> {
  let key: Awaited<ReturnType<typeof importPKCS8>>;
  try {
    key = await importPKCS8(readFileSync(s.UPSTREAM_PRIVATE_KEY_FILE as string, 'utf8'), s.UPSTREAM_KEY_ALG);
  } catch (err) {
    throw appError(
      'CONFIG_INVALID',
      `UPSTREAM_PRIVATE_KEY_FILE: not a PKCS#8 ${s.UPSTREAM_KEY_ALG} key (${(err as Error).message})`,
    );
  }
  return () =>
    new SignJWT({})
      .setProtectedHeader({
        alg: s.UPSTREAM_KEY_ALG,
        typ: 'JWT',
        ...(s.UPSTREAM_KEY_ID ? { kid: s.UPSTREAM_KEY_ID } : {}),
      })
      .setIssuer(s.UPSTREAM_CLIENT_ID as string)
      .setSubject(s.UPSTREAM_CLIENT_ID as string)
      .setAudience(s.UPSTREAM_TOKEN_URL as string)
      .setIssuedAt()
      .setExpirationTime('4m')
      .setJti(randomUUID())
      .sign(key);
}

/** Checks the credentials' shape at start-up (a bad key file stops the service). */
export async function createTokenSource(
  s: UpstreamAuthSettings,
  hooks: TokenSourceHooks = {},
): Promise<UpstreamTokenSource> {
  switch (s.UPSTREAM_AUTH) {
    case 'bearer':
      return new StaticToken(s.UPSTREAM_BEARER_TOKEN as string);
    case 'client-secret':
      return new ClientCredentials(s, hooks);
    case 'smart-backend':
      return new ClientCredentials(s, hooks, await assertionSigner(s));
    default:
      throw appError('CONFIG_INVALID', 'UPSTREAM_AUTH: required when UPSTREAM_FHIR_URL is set');
  }
}
