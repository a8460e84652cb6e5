/**
 * The registered API clients. From the clients file when one is configured: read at start-up
 * (an invalid file stops the service, AUTH_CLIENTS_INVALID) and re-read whenever its modification
 * time changes, checked at most once a second on lookup, so clients can be added, changed or
 * removed without a restart (an invalid edit is logged and the previous registry kept). Without a
 * file, outside production, the development clients from dev-clients.ts.
 */
import { readFileSync, statSync } from 'node:fs';
import { appError } from '../shared/app-error.ts';
import type { AuthConfig } from './auth-config.ts';
import { type AuthLogger, silentLogger } from './auth-logger.ts';
import { ClientsFileSchema, describeSchemaError, type RegisteredClient } from './client-schema.ts';
import { type DevClients, ensureDevClients } from './dev-clients.ts';

export type { DevClients, RegisteredClient };
export { ensureDevClients };

const CHECK_INTERVAL_MS = 1000;

/** Reads and validates a clients file; throws AUTH_CLIENTS_INVALID naming the problem. */
export function readClientsFile(path: string): RegisteredClient[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw appError('AUTH_CLIENTS_INVALID', `${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ClientsFileSchema.safeParse(json);
  if (!parsed.success) {
    throw appError('AUTH_CLIENTS_INVALID', `${path}: ${describeSchemaError(parsed.error)}`);
  }
  return parsed.data.clients;
}

function fileStamp(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.mtimeMs}:${s.ctimeMs}:${s.size}:${s.ino}`;
  } catch {
    return undefined;
  }
}

export interface ClientRegistryOptions {
  logger?: AuthLogger;
  /** Milliseconds clock, injectable so tests need not sleep through the once-a-second check. */
  now?: () => number;
}

export class ClientRegistry {
  /** Set when the registry holds the generated development clients. */
  readonly devClients: DevClients | undefined;
  readonly #file: string | undefined;
  readonly #logger: AuthLogger;
  readonly #now: () => number;
  #clients: Map<string, RegisteredClient>;
  #stamp: string | undefined;
  #lastCheck: number;
  #generation = 0;

  private constructor(
    clients: readonly RegisteredClient[],
    file: string | undefined,
    devClients: DevClients | undefined,
    options: ClientRegistryOptions,
  ) {
    this.#clients = new Map(clients.map((c) => [c.id, c]));
    this.#file = file;
    this.devClients = devClients;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#stamp = file === undefined ? undefined : fileStamp(file);
    this.#lastCheck = this.#now();
  }

  /** A fixed set of clients (no file to watch). */
  static fromClients(clients: readonly RegisteredClient[], options: ClientRegistryOptions = {}): ClientRegistry {
    return new ClientRegistry(clients, undefined, undefined, options);
  }

  static fromFile(path: string, options: ClientRegistryOptions = {}): ClientRegistry {
    return new ClientRegistry(readClientsFile(path), path, undefined, options);
  }

  /** The registry the service runs with: the clients file, or development clients (never in production). */
  static async open(config: AuthConfig, options: ClientRegistryOptions = {}): Promise<ClientRegistry> {
    if (config.clientsFile) return ClientRegistry.fromFile(config.clientsFile, options);
    const dev = await ensureDevClients(config);
    if (!dev) throw appError('AUTH_CLIENTS_REQUIRED', 'no clients file and no development clients');
    return new ClientRegistry(dev.clients, undefined, dev, options);
  }

  /** The client, unless unknown or disabled. */
  get(clientId: string): RegisteredClient | undefined {
    this.#maybeReload();
    const client = this.#clients.get(clientId);
    return client?.disabled === true ? undefined : client;
  }

  /** Whether the clients file lists this client as disabled. */
  isDisabled(clientId: string): boolean {
    this.#maybeReload();
    return this.#clients.get(clientId)?.disabled === true;
  }

  /**
   * The client as the clients file says now, looking at the file whatever the once-a-second
   * throttle: for decisions that must follow an edit at once (an export download after a role change).
   */
  current(clientId: string): RegisteredClient | undefined {
    this.#lastCheck = Number.NEGATIVE_INFINITY;
    return this.get(clientId);
  }

  list(): readonly RegisteredClient[] {
    this.#maybeReload();
    return [...this.#clients.values()].filter((c) => c.disabled !== true);
  }

  /** Bumped on every successful reload, for caches derived from client entries. */
  get generation(): number {
    return this.#generation;
  }

  #maybeReload(): void {
    if (this.#file === undefined) return;
    const now = this.#now();
    if (now - this.#lastCheck < CHECK_INTERVAL_MS) return;
    this.#lastCheck = now;
    const stamp = fileStamp(this.#file);
    if (stamp === this.#stamp) return;
    // Remember the stamp even when the new content is bad: log once per edit, not once a second.
    this.#stamp = stamp;
    if (stamp === undefined) {
      this.#logger.error('clients file is missing; keeping the previous clients', { file: this.#file });
      return;
    }
    try {
      const clients = readClientsFile(this.#file);
      this.#clients = new Map(clients.map((c) => [c.id, c]));
      this.#generation++;
      this.#logger.info('clients file reloaded', { file: this.#file, clients: clients.length });
    } catch (err) {
      this.#logger.error('clients file is invalid; keeping the previous clients', {
        file: this.#file,
        err: (err as Error).message,
      });
    }
  }
}
