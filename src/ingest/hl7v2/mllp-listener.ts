/**
 * The MLLP listener a lab interface points at (framing 0x0B … 0x1C 0x0D, @medplum/hl7): connections
 * only from allow-listed addresses, messages only from allow-listed sending facilities, and each
 * connection's messages handled one after another so ACKs come back in order, each after its
 * message is committed. A message that cannot be parsed still gets an AR; a connection that drops
 * mid-message loses only that unacknowledged message, which the sender re-sends.
 */

import type { AddressInfo } from 'node:net';

import { type Hl7Connection, type Hl7ErrorEvent, type Hl7MessageEvent, Hl7Server } from '@medplum/hl7';
import type { Logger } from '../../app/logger.ts';
import type { Queryable } from '../../store/db.ts';
import { type AckCode, buildAck } from './hl7-ack.ts';
import type { Hl7Ingest } from './hl7-ingest.ts';

export interface MllpOptions {
  port: number;
  /** Source addresses allowed to connect (IPv4-mapped IPv6 forms are accepted too). */
  allowAddresses: readonly string[];
  /** MSH-4 sending facilities allowed; empty: any. */
  allowFacilities: readonly string[];
  /**
   * Records what happened (the audit trail): awaited before the ACK goes out, so no message is
   * acknowledged without its record. A failure closes the connection unacknowledged; the sender
   * re-sends and the duplicate is recognised by its control id.
   */
  audit?: MllpAudit | undefined;
}

export interface MllpAudit {
  /** Commits the record on its own (refusals, rejections, duplicates). */
  record(entry: MllpAuditEntry): Promise<void>;
  /** Adds the record to the transaction that applies an accepted message. */
  inTransaction(tx: Queryable, entry: MllpAuditEntry): Promise<void>;
}

export interface MllpAuditEntry {
  remote: string;
  /** Undefined for a connection refused before any message. */
  message?: { facility: string; controlId: string; ack: AckCode } | undefined;
  reason?: string | undefined;
}

type WireMessage = Hl7MessageEvent['message'];

const normalise = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

export class MllpListener {
  readonly #server: Hl7Server;
  readonly #log: Logger;
  readonly #options: MllpOptions;

  constructor(ingest: Hl7Ingest, log: Logger, options: MllpOptions) {
    this.#log = log;
    this.#options = options;
    const allowed = new Set(options.allowAddresses.map(normalise));
    this.#server = new Hl7Server((connection: Hl7Connection) => {
      const remote = normalise(connection.socket.remoteAddress);
      if (!allowed.has(remote)) {
        this.#log.warn('MLLP connection refused: address not allowed', { remote });
        connection.socket.destroy();
        this.#options.audit
          ?.record({ remote, reason: 'connection refused: address not allowed' })
          .catch((err: unknown) => {
            this.#log.error('MLLP audit write failed', { err, remote });
          });
        return;
      }
      let queue: Promise<void> = Promise.resolve();
      connection.addEventListener('message', (event: Hl7MessageEvent) => {
        const text = event.message.toString();
        // @medplum/hl7 carries its own copy of @medplum/core: answer with its Hl7Message class.
        const Wire = event.message.constructor as unknown as { parse(text: string): WireMessage };
        queue = queue.then(async () => {
          const handled = await this.#handle(ingest, event.message, text, remote);
          if (this.#options.audit && !handled.audited) {
            try {
              await this.#options.audit.record({ remote, message: handled.audit, reason: handled.reason });
            } catch (err) {
              this.#log.error('MLLP audit write failed; closing without ACK', { err, remote });
              connection.socket.destroy();
              return;
            }
          }
          if (!connection.isClosed()) connection.send(Wire.parse(handled.ack));
        });
        queue.catch((err: unknown) => this.#log.error('MLLP message handling failed', { err, remote }));
      });
      connection.addEventListener('error', (event: Hl7ErrorEvent) => {
        this.#log.warn('MLLP connection error', { remote, reason: event.error?.message });
      });
    });
  }

  async #handle(
    ingest: Hl7Ingest,
    message: WireMessage,
    text: string,
    remote: string,
  ): Promise<{ ack: string; audit: NonNullable<MllpAuditEntry['message']>; reason?: string; audited?: boolean }> {
    const facility = message.getSegment('MSH')?.getField(4)?.getComponent(1) ?? '';
    const controlId = message.getSegment('MSH')?.getField(10)?.toString() ?? '';
    if (this.#options.allowFacilities.length > 0 && !this.#options.allowFacilities.includes(facility)) {
      this.#log.warn('MLLP message refused: sending facility not allowed', { facility });
      const msh = message.getSegment('MSH');
      const f = (i: number): string => msh?.getField(i)?.toString() ?? '';
      const ack = buildAck(
        {
          sendingApplication: f(3),
          sendingFacility: f(4),
          receivingApplication: f(5),
          receivingFacility: f(6),
          controlId: f(10),
          version: f(12),
          triggerEvent: '',
        },
        'AR',
        `sending facility ${facility} is not allowed`,
        [
          {
            segment: 'MSH',
            sequence: 1,
            field: 4,
            code: '103',
            message: `sending facility ${facility} is not allowed`,
          },
        ],
      );
      return {
        ack,
        audit: { facility, controlId, ack: 'AR' },
        reason: `sending facility ${facility} is not allowed`,
      };
    }
    let audited = false;
    const audit = this.#options.audit;
    const r = await ingest.handle(
      text,
      new Date(),
      audit
        ? async (tx) => {
            await audit.inTransaction(tx, { remote, message: { facility, controlId, ack: 'AA' } });
            audited = true;
          }
        : undefined,
    );
    // The hook ran in a transaction that committed only if the message was applied.
    return {
      ack: r.ack,
      audit: { facility, controlId, ack: r.code },
      audited: audited && r.code === 'AA' && !r.duplicate,
    };
  }

  async start(): Promise<number> {
    await this.#server.start(this.#options.port);
    const address = this.#server.server?.address() as AddressInfo | undefined;
    if (!address) throw new Error('MLLP listener did not start');
    return address.port;
  }

  async stop(): Promise<void> {
    await this.#server.stop({ forceDrainTimeoutMs: 2000 }).catch(() => undefined);
  }
}
