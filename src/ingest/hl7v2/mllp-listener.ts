/**
 * The MLLP listener a lab interface points at (framing 0x0B … 0x1C 0x0D, src/ingest/hl7v2/mllp-framer.ts):
 * on one interface (loopback unless configured), connections only from allow-listed addresses,
 * messages only from allow-listed sending facilities, and each connection's messages handled one
 * after another so ACKs come back in order, each after its message is committed. A message that
 * cannot be parsed still gets an AR; one larger than the limit gets an AR and the connection is
 * closed; a connection that drops mid-message loses only that unacknowledged message, which the
 * sender re-sends.
 */

import net, { type AddressInfo } from 'node:net';
import { Hl7Message } from '@medplum/core';
import type { Logger } from '../../shared/logger.ts';
import type { Queryable } from '../../store/db.ts';
import { type AckCode, type AckHeader, buildAck, readHeader } from './hl7-ack.ts';
import type { Hl7Ingest } from './hl7-ingest.ts';
import { MllpFramer } from './mllp-framer.ts';

export interface MllpOptions {
  port: number;
  /** Interface to listen on (default loopback: a lab feed reaches it through a tunnel or a proxy). */
  host?: string | undefined;
  /** Largest message accepted, in bytes; a bigger one gets AR and its connection is closed. */
  maxMessageBytes: number;
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

/** One message's answer, and what its audit record says. */
interface Handled {
  ack: string;
  audit: NonNullable<MllpAuditEntry['message']>;
  reason?: string;
  audited?: boolean;
}

const VT = Buffer.of(0x0b);
const FS_CR = Buffer.of(0x1c, 0x0d);

const normalise = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

function parseOrUndefined(text: string): Hl7Message | undefined {
  try {
    return Hl7Message.parse(text);
  } catch {
    return undefined;
  }
}

/** The ACK header of a message, from whatever of its MSH could be read. */
function ackHeader(message: Hl7Message | undefined): AckHeader {
  const msh = message?.getSegment('MSH');
  const f = (i: number): string => msh?.getField(i)?.toString() ?? '';
  return {
    sendingApplication: f(3),
    sendingFacility: f(4),
    receivingApplication: f(5),
    receivingFacility: f(6),
    controlId: f(10),
    version: f(12),
    triggerEvent: '',
  };
}

export class MllpListener {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #log: Logger;
  readonly #options: MllpOptions;

  constructor(ingest: Hl7Ingest, log: Logger, options: MllpOptions) {
    this.#log = log;
    this.#options = options;
    const allowed = new Set(options.allowAddresses.map(normalise));
    this.#server = net.createServer((socket) => {
      const remote = normalise(socket.remoteAddress);
      if (!allowed.has(remote)) {
        this.#log.warn('MLLP connection refused: address not allowed', { remote });
        socket.destroy();
        this.#options.audit
          ?.record({ remote, reason: 'connection refused: address not allowed' })
          .catch((err: unknown) => {
            this.#log.error('MLLP audit write failed', { err, remote });
          });
        return;
      }
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', (err) => {
        this.#log.warn('MLLP connection error', { remote, reason: err.message });
      });
      const send = (ack: string): void => {
        if (!socket.destroyed) socket.write(Buffer.concat([VT, Buffer.from(ack, 'utf8'), FS_CR]));
      };
      const framer = new MllpFramer(options.maxMessageBytes);
      let queue: Promise<void> = Promise.resolve();
      const enqueue = (work: () => Promise<void>): void => {
        queue = queue
          .then(work)
          .catch((err: unknown) => this.#log.error('MLLP message handling failed', { err, remote }));
      };
      socket.on('data', (chunk: Buffer) => {
        const framed = framer.push(chunk);
        for (const bytes of framed.messages) {
          const text = bytes.toString('utf8');
          enqueue(async () => {
            let handled: Handled;
            try {
              handled = await this.#handle(ingest, text, remote);
            } catch (err) {
              // Never silence: the sender would re-send it forever. AE 207: try again later.
              this.#log.error('MLLP message handling failed', { err, remote });
              send(
                buildAck(readHeader(text), 'AE', 'internal error', [
                  { segment: 'MSH', sequence: 1, field: 10, code: '207', message: 'send the message again later' },
                ]),
              );
              return;
            }
            if (this.#options.audit && !handled.audited) {
              try {
                await this.#options.audit.record({ remote, message: handled.audit, reason: handled.reason });
              } catch (err) {
                this.#log.error('MLLP audit write failed; closing without ACK', { err, remote });
                socket.destroy();
                return;
              }
            }
            send(handled.ack);
          });
        }
        if (framed.kind === 'too-large') {
          // Nothing more is read from this sender: the rest of the message would only be discarded.
          socket.pause();
          enqueue(() => this.#refuseTooLarge(framed.head, remote, send, socket));
        }
      });
    });
  }

  async #refuseTooLarge(head: Buffer, remote: string, send: (ack: string) => void, socket: net.Socket): Promise<void> {
    const max = this.#options.maxMessageBytes;
    const reason = `message larger than ${max} bytes`;
    const firstSegment = head.toString('utf8').split(/\r|\n/)[0] ?? '';
    const h = ackHeader(firstSegment.startsWith('MSH') ? parseOrUndefined(firstSegment) : undefined);
    this.#log.warn('MLLP message refused: too large', { remote, max, controlId: h.controlId });
    try {
      await this.#options.audit?.record({
        remote,
        message: { facility: h.sendingFacility.split('^')[0] ?? '', controlId: h.controlId, ack: 'AR' },
        reason,
      });
    } catch (err) {
      this.#log.error('MLLP audit write failed', { err, remote });
    }
    send(buildAck(h, 'AR', reason, [{ segment: 'MSH', sequence: 1, field: 0, code: '207', message: reason }]));
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async #handle(ingest: Hl7Ingest, text: string, remote: string): Promise<Handled> {
    const message = parseOrUndefined(text);
    const facility = message?.getSegment('MSH')?.getField(4)?.getComponent(1) ?? '';
    const controlId = message?.getSegment('MSH')?.getField(10)?.toString() ?? '';
    if (message && this.#options.allowFacilities.length > 0 && !this.#options.allowFacilities.includes(facility)) {
      this.#log.warn('MLLP message refused: sending facility not allowed', { facility });
      const ack = buildAck(ackHeader(message), 'AR', `sending facility ${facility} is not allowed`, [
        {
          segment: 'MSH',
          sequence: 1,
          field: 4,
          code: '103',
          message: `sending facility ${facility} is not allowed`,
        },
      ]);
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
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ port: this.#options.port, host: this.#options.host ?? '127.0.0.1' }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address() as AddressInfo | null;
    if (!address) throw new Error('MLLP listener did not start');
    return address.port;
  }

  /** Stops accepting; open connections get 2 s to finish what they are sending, then are closed. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const force = setTimeout(() => {
      for (const socket of this.#sockets) socket.destroy();
    }, 2000);
    await closed;
    clearTimeout(force);
  }
}
