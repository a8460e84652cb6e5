/**
 * ACK messages (HL7 v2.5.1 original acknowledgment): MSA-1 AA when everything the message carried
 * was handled, AE with one ERR segment per problem (segment^sequence^field, table 0357 code) when the
 * message was understood but something in it cannot be accepted, AR when it cannot be processed.
 * MSA-2 echoes MSH-10. Built as text, so an unparseable message can still be answered.
 */
import type { Hl7Problem } from './oru-to-bundle.ts';

export type AckCode = 'AA' | 'AE' | 'AR';

export interface AckHeader {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  controlId: string;
  version: string;
  triggerEvent: string;
}

const EMPTY_HEADER: AckHeader = {
  sendingApplication: '',
  sendingFacility: '',
  receivingApplication: '',
  receivingFacility: '',
  controlId: '',
  version: '',
  triggerEvent: '',
};

/**
 * The ACK header from whatever MSH segment the raw text holds (its first, wherever it is), for a
 * message that cannot be parsed as a whole: MSH-10 above all, so the sender can match the refusal
 * to what it sent. Nothing readable: an empty header, and the ACK is a minimal one.
 */
export function readHeader(text: string): AckHeader {
  const line = text.split(/\r\n|\r|\n/).find((l) => l.startsWith('MSH') && l.length > 4);
  const sep = line?.charAt(3) ?? '';
  if (!line || /[\p{L}\p{N}\s]/u.test(sep)) return { ...EMPTY_HEADER };
  const fields = line.split(sep);
  const component = fields[1]?.charAt(0) || '^';
  // fields[0] is "MSH", fields[1] MSH-2: MSH-n is fields[n - 1].
  const f = (n: number): string => fields[n - 1] ?? '';
  return {
    sendingApplication: f(3),
    sendingFacility: f(4),
    receivingApplication: f(5),
    receivingFacility: f(6),
    controlId: f(10),
    version: f(12).split(component)[0] ?? '',
    triggerEvent: f(9).split(component)[1] ?? '',
  };
}

const escapeHl7 = (s: string): string =>
  s
    .replaceAll('\\', '\\E\\')
    .replaceAll('|', '\\F\\')
    .replaceAll('^', '\\S\\')
    .replaceAll('&', '\\T\\')
    .replaceAll('~', '\\R\\');

function timestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\.\d+Z$/, '+0000');
}

let sequence = 0;

export function buildAck(
  h: AckHeader,
  code: AckCode,
  text: string,
  problems: readonly Hl7Problem[] = [],
  now = new Date(),
): string {
  sequence = (sequence + 1) % 1_000_000;
  const ackId = `ACK${now.getTime()}${String(sequence).padStart(6, '0')}`;
  const segments = [
    // The ACK goes back the way the message came: sender and receiver swapped (MSH-3..6).
    `MSH|^~\\&|${h.receivingApplication}|${h.receivingFacility}|${h.sendingApplication}|${h.sendingFacility}|${timestamp(now)}||ACK^${h.triggerEvent || 'R01'}^ACK|${ackId}|P|${h.version || '2.5.1'}`,
    `MSA|${code}|${escapeHl7(h.controlId)}|${escapeHl7(text).slice(0, 80)}`,
    ...problems.map(
      (p) =>
        `ERR||${p.segment}^${p.sequence}^${p.field}|${p.code}^${p.code === '101' ? 'Required field missing' : p.code === '102' ? 'Data type error' : p.code === '207' ? 'Application internal error' : 'Table value not found'}^HL70357|E||||${escapeHl7(p.message)}`,
    ),
  ];
  return segments.join('\r');
}
