/**
 * An ORU^R01 message as the FHIR transaction the same results would arrive in (HL7 v2-to-FHIR IG:
 * PID → Patient identifier, OBR → order context, OBX → Observation), so routing, mapping, lifecycle
 * and counters are those of the FHIR path. Problems the conversion itself finds (a value that is
 * not a number, an unknown result status) are returned with their segment and field for the ACK,
 * each with the result it is about, so the ingest can refuse only what the trial would keep: a
 * problem in a result it does not keep is no reason to refuse the message. An OBX that carries no
 * result (no OBX-3, or OBX-11 I, O or N: specimen in the lab, order detail, not asked) becomes
 * nothing.
 */
import { createHash } from 'node:crypto';
import type { Hl7Field, Hl7Message, Hl7Segment } from '@medplum/core';
import type { Bundle, BundleEntry, CodeableConcept, Coding, Observation, Quantity } from '@medplum/fhirtypes';
import { assigningAuthorityUri, codingSystemUri, type Hl7Systems } from './hl7-systems.ts';
import { hl7TimeToFhir } from './hl7-time.ts';

export interface Hl7Problem {
  segment: string;
  /** Sequence of the segment among those of its name (1-based), e.g. OBX set id. */
  sequence: number;
  field: number;
  /** HL7 table 0357 code: 101 required field missing, 102 data type error, 103 table value not found. */
  code: '101' | '102' | '103' | '207';
  message: string;
}

/** An OBX that cannot be converted as sent, with what could be read of it (for routing). */
export interface ResultProblems {
  /** The result without the parts in error (status `unknown` when OBX-11 is the problem). */
  result: Observation;
  problems: Hl7Problem[];
}

export interface ConvertedMessage {
  bundle: Bundle;
  /** For each transaction entry, the OBX it came from (sequence), to place errors in the ACK. */
  entryObx: number[];
  /** Problems of the message itself (PID-3): the message cannot be applied. */
  problems: Hl7Problem[];
  /** OBXs left out of the bundle for their problems: a refusal only if the trial keeps the result. */
  resultProblems: ResultProblems[];
  patientIdentifier: { system: string; value: string } | undefined;
}

/** OBX-11 (HL7 table 0085) to Observation.status. */
const RESULT_STATUS: Record<string, Observation['status']> = {
  F: 'final',
  P: 'preliminary',
  R: 'preliminary',
  S: 'preliminary',
  C: 'corrected',
  A: 'amended',
  D: 'entered-in-error',
  W: 'entered-in-error',
  X: 'cancelled',
};

/** OBX-11 codes of an OBX that carries no result: specimen in the lab, order detail, not asked. */
const NO_RESULT = new Set(['I', 'O', 'N']);

/** OBX-8 (HL7 table 0078) codes map one to one onto v3 ObservationInterpretation. */
const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** HL7 escape sequences (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\) back to the characters they stand for. */
export function unescapeHl7(text: string): string {
  return text.replace(/\\([FSTRE])\\/g, (_m, c: string) => ({ F: '|', S: '^', T: '&', R: '~', E: '\\' })[c] as string);
}

function comp(field: Hl7Field | undefined, i: number): string {
  return unescapeHl7(field?.getComponent(i) ?? '');
}

function cwe(field: Hl7Field | undefined, systems: Hl7Systems): CodeableConcept | undefined {
  if (!field) return undefined;
  const coding: Coding[] = [];
  for (const base of [1, 4]) {
    const code = comp(field, base);
    if (!code) continue;
    const system = comp(field, base + 2);
    coding.push({
      ...(system ? { system: codingSystemUri(systems, system) } : {}),
      code,
      ...(comp(field, base + 1) ? { display: comp(field, base + 1) } : {}),
    });
  }
  const text = comp(field, 9) || comp(field, 2);
  if (coding.length === 0 && !text) return undefined;
  return { ...(coding.length ? { coding } : {}), ...(text ? { text } : {}) };
}

/** OBX-7 reference ranges as labs write them: "150-400", "4.3 to 6.2", "<5", ">=1.0". */
export function parseReferenceRange(text: string, unit: Quantity | undefined): Observation['referenceRange'] {
  const t = text.trim();
  if (!t) return undefined;
  const q = (v: string): Quantity => ({ value: Number(v), ...(unit ?? {}) });
  const num = '(-?\\d+(?:\\.\\d+)?)';
  const between = new RegExp(`^${num}\\s*(?:-|to|–)\\s*${num}$`, 'i').exec(t);
  if (between) return [{ low: q(between[1] as string), high: q(between[2] as string), text: t }];
  const upper = new RegExp(`^<=?\\s*${num}$`).exec(t);
  if (upper) return [{ high: q(upper[1] as string), text: t }];
  const lower = new RegExp(`^>=?\\s*${num}$`).exec(t);
  if (lower) return [{ low: q(lower[1] as string), text: t }];
  return [{ text: t }];
}

function unitOf(field: Hl7Field | undefined, systems: Hl7Systems): Quantity | undefined {
  const code = comp(field, 1);
  if (!code) return undefined;
  const system = comp(field, 3);
  const ucum = system === 'UCUM' || system === 'ISO+' || system === '';
  return {
    unit: comp(field, 2) || code,
    ...(ucum ? { system: 'http://unitsofmeasure.org', code } : { system: codingSystemUri(systems, system), code }),
  };
}

function patientIdentifier(
  pid: Hl7Segment | undefined,
  systems: Hl7Systems,
): { system: string; value: string } | undefined {
  const ids = pid?.getField(3)?.toString() ?? '';
  // PID-3 repeats (~): prefer the medical record number (CX-5 type MR).
  const reps = ids.split('~').map((r) => r.split('^'));
  const chosen = reps.find((r) => r[4] === 'MR') ?? reps[0];
  const value = chosen?.[0];
  if (!value) return undefined;
  const authority = (chosen?.[3] ?? '').split('&')[0] ?? '';
  return { system: assigningAuthorityUri(systems, authority), value };
}

function observationValue(
  obx: Hl7Segment,
  seq: number,
  systems: Hl7Systems,
  problems: Hl7Problem[],
): Partial<Observation> {
  const type = obx.getField(2)?.toString() ?? '';
  const raw = obx.getField(5)?.toString() ?? '';
  const unit = unitOf(obx.getField(6), systems);
  if (!raw) return {};
  switch (type) {
    case 'NM': {
      const v = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(v)) {
        problems.push({
          segment: 'OBX',
          sequence: seq,
          field: 5,
          code: '102',
          message: `OBX-5 "${raw}" is not a number (OBX-2 NM)`,
        });
        return {};
      }
      return { valueQuantity: { value: v, ...(unit ?? {}) } };
    }
    case 'SN': {
      const [cmp = '', n1 = '', sep = '', n2 = ''] = raw.split('^');
      if (sep === '' && Number.isFinite(Number(n1)) && n1 !== '') {
        const comparator = ['<', '>', '<=', '>='].includes(cmp) ? (cmp as Quantity['comparator']) : undefined;
        return { valueQuantity: { value: Number(n1), ...(comparator ? { comparator } : {}), ...(unit ?? {}) } };
      }
      if ((sep === '-' || sep === ':') && n1 !== '' && n2 !== '') {
        return {
          valueRange: { low: { value: Number(n1), ...(unit ?? {}) }, high: { value: Number(n2), ...(unit ?? {}) } },
        };
      }
      problems.push({
        segment: 'OBX',
        sequence: seq,
        field: 5,
        code: '102',
        message: `OBX-5 "${raw}" is not a structured numeric (SN)`,
      });
      return {};
    }
    case 'CWE':
    case 'CE':
    case 'CNE': {
      const cc = cwe(obx.getField(5), systems);
      return cc ? { valueCodeableConcept: cc } : {};
    }
    case 'ST':
    case 'TX':
    case 'FT':
      return { valueString: raw.replaceAll('\\.br\\', '\n') };
    default:
      problems.push({
        segment: 'OBX',
        sequence: seq,
        field: 2,
        code: '103',
        message: `OBX-2 value type ${type || '(empty)'} is not supported`,
      });
      return {};
  }
}

export function oruToBundle(message: Hl7Message, systems: Hl7Systems, receivedAt: string): ConvertedMessage {
  const problems: Hl7Problem[] = [];
  const resultProblems: ResultProblems[] = [];
  const msh = message.getSegment('MSH');
  const facility = comp(msh?.getField(4), 1) || 'unknown-facility';
  const issued = hl7TimeToFhir(msh?.getField(7)?.toString(), systems.defaultTimezone);
  const patient = patientIdentifier(message.getSegment('PID'), systems);
  if (!patient)
    problems.push({
      segment: 'PID',
      sequence: 1,
      field: 3,
      code: '101',
      message: 'PID-3 patient identifier is missing',
    });
  const entries: BundleEntry[] = [];
  const entryObx: number[] = [];
  let obr: Hl7Segment | undefined;
  let obxSeq = 0;
  for (const seg of message.segments) {
    if (seg.name === 'OBR') obr = seg;
    if (seg.name !== 'OBX') continue;
    obxSeq++;
    const seq = Number(seg.getField(1)?.toString()) || obxSeq;
    const code = cwe(seg.getField(3), systems);
    const statusCode = seg.getField(11)?.toString() ?? '';
    // No test code, or no result yet: nothing a study could measure.
    if (!code?.coding?.length || NO_RESULT.has(statusCode)) continue;
    const status = RESULT_STATUS[statusCode];
    const own: Hl7Problem[] = [];
    if (!status) {
      own.push({
        segment: 'OBX',
        sequence: seq,
        field: 11,
        code: '103',
        message: `OBX-11 result status "${statusCode}" is not one of F P C A D W X R S I O N`,
      });
    }
    const filler = comp(obr?.getField(3), 1) || comp(obr?.getField(2), 1);
    const obx21 = comp(seg.getField(21), 1);
    const first = code.coding[0] as Coding;
    // The same result re-sent (corrected, retracted) must find the same Observation: OBX-21 when the
    // lab gives one, otherwise the filler order number with the test code and sub-id.
    const key = obx21 || `${filler}|${first.system}|${first.code}|${seg.getField(4)?.toString() ?? ''}`;
    const identifierValue = obx21 || createHash('sha256').update(key).digest('hex').slice(0, 32);
    const effective =
      hl7TimeToFhir(seg.getField(14)?.toString(), systems.defaultTimezone) ??
      hl7TimeToFhir(obr?.getField(7)?.toString(), systems.defaultTimezone);
    const value = observationValue(seg, seq, systems, own);
    const unit = unitOf(seg.getField(6), systems);
    const range = parseReferenceRange(
      seg.getField(7)?.toString() ?? '',
      unit
        ? {
            unit: unit.unit,
            ...(unit.system ? { system: unit.system } : {}),
            ...(unit.code ? { code: unit.code } : {}),
          }
        : undefined,
    );
    const interpretation = (seg.getField(8)?.toString() ?? '').split('~').filter((c) => c !== '');
    const observation: Observation = {
      resourceType: 'Observation',
      identifier: [{ system: `urn:hl7v2:result:${encodeURIComponent(facility)}`, value: identifierValue }],
      ...(filler
        ? {
            basedOn: [
              { identifier: { system: `urn:hl7v2:filler-order:${encodeURIComponent(facility)}`, value: filler } },
            ],
          }
        : {}),
      status: status ?? 'unknown',
      category: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] },
      ],
      code,
      ...(patient ? { subject: { identifier: patient } } : {}),
      ...(effective ? { effectiveDateTime: effective } : {}),
      ...(issued ? { issued: issued.length > 10 ? issued : undefined } : {}),
      ...value,
      ...(interpretation.length
        ? { interpretation: [{ coding: interpretation.map((c) => ({ system: INTERPRETATION_SYSTEM, code: c })) }] }
        : {}),
      ...(range ? { referenceRange: range } : {}),
    };
    if (!observation.issued) delete observation.issued;
    if (own.length > 0) {
      resultProblems.push({ result: observation, problems: own });
      continue;
    }
    entries.push({
      fullUrl: `urn:uuid:obx-${seq}-${entries.length}`,
      resource: observation,
      request: { method: 'POST', url: 'Observation' },
    });
    entryObx.push(seq);
  }
  const control = msh?.getField(10)?.toString() ?? '';
  if (entries.length > 0) {
    entries.push({
      fullUrl: 'urn:uuid:provenance',
      resource: {
        resourceType: 'Provenance',
        target: entries.map((e) => ({ reference: e.fullUrl as string })),
        recorded: receivedAt,
        activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
        agent: [{ who: { display: `HL7 v2 sender ${facility}` } }],
        entity: [
          {
            role: 'source',
            what: {
              identifier: { system: `urn:hl7v2:message:${encodeURIComponent(facility)}`, value: control },
              display: `ORU^R01 ${control} from ${facility}`,
            },
          },
        ],
      },
      request: { method: 'POST', url: 'Provenance' },
    });
  }
  return {
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    entryObx,
    problems,
    resultProblems,
    patientIdentifier: patient,
  };
}
