/**
 * One HL7 v2 message in, one ACK out: parse, check what the adapter supports (ORU^R01, v2.3–2.8,
 * processing id P/T/D), convert to the FHIR transaction the same results would be, run it through the
 * ingest path under the feed's access rules, and record the message id in the same commit, so the
 * ACK is sent only after what it acknowledges is durable and a repeat is acknowledged, not re-applied.
 */
import { Hl7Message } from '@medplum/core';
import type { Bundle, Observation, OperationOutcome, Provenance } from '@medplum/fhirtypes';
import { processBundle } from '../../fhir/bundle/process-bundle.ts';
import type { FhirContext } from '../../fhir/fhir-context.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Queryable } from '../../store/db.ts';
import { findAppliedMessage, recordAppliedMessage } from '../../store/hl7-message-store.ts';
import type { Intake } from '../intake.ts';
import { type AckCode, type AckHeader, buildAck, readHeader } from './hl7-ack.ts';
import type { Hl7Systems } from './hl7-systems.ts';
import { type ConvertedMessage, type Hl7Problem, oruToBundle } from './oru-to-bundle.ts';

const SUPPORTED_VERSIONS = /^2\.[3-8](\.\d)?$/;

export interface Hl7Result {
  ack: string;
  code: AckCode;
  duplicate: boolean;
}

export interface Hl7IngestDeps {
  systems: Hl7Systems;
  intake: Intake;
  logger: Logger;
  /** A FHIR context acting as the EHR feed (with the trial pipeline's gate). */
  context(): FhirContext;
}

class Duplicate extends Error {}

function header(message: Hl7Message | undefined): AckHeader {
  const msh = message?.getSegment('MSH');
  const f = (i: number): string => msh?.getField(i)?.toString() ?? '';
  return {
    sendingApplication: f(3),
    sendingFacility: f(4),
    receivingApplication: f(5) || 'KHE-ADAPTER',
    receivingFacility: f(6),
    controlId: f(10),
    version: f(12),
    triggerEvent: msh?.getField(9)?.getComponent(2) ?? '',
  };
}

/** Which Bundle entry an OperationOutcome names ("Bundle.entry[3]: …"), for the ERR location. */
function failedEntry(outcome: OperationOutcome): number | undefined {
  for (const i of outcome.issue ?? []) {
    const m = /Bundle\.entry\[(\d+)\]/.exec(`${i.diagnostics ?? ''} ${i.expression?.join(' ') ?? ''}`);
    if (m) return Number(m[1]);
  }
  return undefined;
}

export class Hl7Ingest {
  readonly #deps: Hl7IngestDeps;

  constructor(deps: Hl7IngestDeps) {
    this.#deps = deps;
  }

  /**
   * `beforeCommit`: more writes for the transaction that applies an accepted message (its audit
   * record, so acceptance costs one commit); it runs only when the message is applied (AA).
   */
  async handle(
    text: string,
    receivedAt = new Date(),
    beforeCommit?: (tx: Queryable) => Promise<void>,
  ): Promise<Hl7Result> {
    let message: Hl7Message;
    try {
      message = Hl7Message.parse(
        text
          .replace(/\r?\n/g, '\r')
          .replace(/^\uFEFF/, '')
          .trim(),
      );
      if (message.segments[0]?.name !== 'MSH') throw new Error('the message does not start with MSH');
    } catch (err) {
      // Still answered, with whatever of its MSH can be read: an unanswered message is re-sent forever.
      const raw = readHeader(text);
      const h = { ...raw, receivingApplication: raw.receivingApplication || 'KHE-ADAPTER' };
      return this.#reject(h, `cannot parse the message: ${(err as Error).message}`, 0, '102');
    }
    const h = header(message);
    const msh = message.getSegment('MSH');
    const type = `${msh?.getField(9)?.getComponent(1) ?? ''}^${msh?.getField(9)?.getComponent(2) ?? ''}`;
    if (type !== 'ORU^R01') return this.#reject(h, `message type ${type} is not supported (ORU^R01 only)`, 9);
    if (!SUPPORTED_VERSIONS.test(h.version))
      return this.#reject(h, `HL7 version ${h.version || '(none)'} is not supported`, 12);
    const processing = msh?.getField(11)?.getComponent(1) ?? '';
    if (!['P', 'T', 'D'].includes(processing))
      return this.#reject(h, `processing id ${processing || '(none)'} is not supported`, 11);
    if (!h.controlId) return this.#reject(h, 'MSH-10 message control id is missing', 10);

    const facility = h.sendingFacility.split('^')[0] || 'unknown-facility';
    const ctx = this.#deps.context();
    let converted: ConvertedMessage;
    try {
      const repeated = await findAppliedMessage(ctx.db, facility, h.controlId);
      if (repeated) return { ack: repeated, code: 'AA', duplicate: true };
      converted = oruToBundle(message, this.#deps.systems, receivedAt.toISOString());
      // Relevance first: only a problem in a result the trial keeps refuses the message.
      const problems = [...this.#messageProblems(converted), ...(await this.#keptProblems(ctx, converted))];
      if (problems.length > 0) {
        // Understood, but something in it cannot be accepted: nothing of it is applied.
        return { ack: buildAck(h, 'AE', 'message not applied', problems), code: 'AE', duplicate: false };
      }
      await this.#scopeProvenance(ctx, converted.bundle);
    } catch (err) {
      return this.#internalError(h, err);
    }
    const ackText = buildAck(h, 'AA', 'OK');
    try {
      await processBundle(ctx, converted.bundle, {
        strict: false,
        returnMinimal: true,
        maxEntries: 10_000,
        beforeCommit: async (tx) => {
          if (!(await recordAppliedMessage(tx, facility, h.controlId, ackText))) throw new Duplicate();
          await beforeCommit?.(tx);
        },
      });
      return { ack: ackText, code: 'AA', duplicate: false };
    } catch (err) {
      if (err instanceof Duplicate) {
        return {
          ack: (await findAppliedMessage(ctx.db, facility, h.controlId)) ?? ackText,
          code: 'AA',
          duplicate: true,
        };
      }
      const outcome = (err as { outcome?: OperationOutcome }).outcome;
      if (!outcome) return this.#internalError(h, err);
      const entry = failedEntry(outcome);
      const obx = entry === undefined ? undefined : converted.entryObx[entry];
      const text = outcome.issue?.map((i) => i.details?.text ?? i.diagnostics ?? '').join('; ') ?? 'rejected';
      const problem: Hl7Problem = {
        segment: obx === undefined ? 'MSH' : 'OBX',
        sequence: obx ?? 1,
        field: /UNIT/.test(text) ? 6 : obx === undefined ? 10 : 5,
        code: /UNIT/.test(text) ? '103' : '102',
        message: text,
      };
      return { ack: buildAck(h, 'AE', 'message not applied', [problem]), code: 'AE', duplicate: false };
    }
  }

  /**
   * The message's Provenance names only the results the trial keeps, and is left out when it keeps
   * none: a message about a patient outside the trial leaves no trace.
   */
  async #scopeProvenance(ctx: FhirContext, bundle: Bundle): Promise<void> {
    const entries = bundle.entry ?? [];
    const prov = entries.find((e) => e.resource?.resourceType === 'Provenance');
    if (!prov) return;
    const kept = (): Set<string> =>
      new Set(
        entries
          .filter(
            (e) =>
              e.resource?.resourceType === 'Observation' && this.#deps.intake.route(e.resource as Observation)?.retain,
          )
          .map((e) => e.fullUrl as string),
      );
    let keep = kept();
    if (keep.size < entries.length - 1 && (await this.#deps.intake.refresh(ctx.db))) keep = kept();
    const p = prov.resource as Provenance;
    p.target = p.target.filter((t) => keep.has(t.reference ?? ''));
    if (p.target.length === 0) bundle.entry = entries.filter((e) => e !== prov);
  }

  /**
   * A message with no patient identifier cannot be applied when it carries a result a study
   * measures (it might be an enrolled child's); otherwise nothing in it could be the trial's.
   */
  #messageProblems(converted: ConvertedMessage): Hl7Problem[] {
    if (converted.patientIdentifier !== undefined) return converted.problems;
    const results = [
      ...(converted.bundle.entry ?? []).map((e) => e.resource),
      ...converted.resultProblems.map((r) => r.result),
    ];
    const measured = results.some(
      (r) => r?.resourceType === 'Observation' && this.#deps.intake.measures(r.code?.coding),
    );
    return measured ? converted.problems : [];
  }

  /**
   * The problems of the results left out of the bundle that the trial would keep (enrolled subject,
   * study measure): an unmapped value type or status there refuses the message; anywhere else it
   * is none of the trial's business. Enrollment is re-read once before a problem is set aside.
   */
  async #keptProblems(ctx: FhirContext, converted: ConvertedMessage): Promise<Hl7Problem[]> {
    if (converted.resultProblems.length === 0) return [];
    const kept = () =>
      converted.resultProblems.filter((r) => this.#deps.intake.route(r.result)?.retain).flatMap((r) => r.problems);
    const first = kept();
    if (first.length === converted.resultProblems.flatMap((r) => r.problems).length) return first;
    return (await this.#deps.intake.refresh(ctx.db)) ? kept() : first;
  }

  #internalError(h: AckHeader, err: unknown): Hl7Result {
    this.#deps.logger.error('HL7 message failed', { err, controlId: h.controlId });
    return {
      ack: buildAck(h, 'AE', 'internal error', [
        {
          segment: 'MSH',
          sequence: 1,
          field: 10,
          code: '207',
          message: 'the message could not be applied; send it again later',
        },
      ]),
      code: 'AE',
      duplicate: false,
    };
  }

  #reject(h: AckHeader, reason: string, field = 9, code: Hl7Problem['code'] = '103'): Hl7Result {
    return {
      ack: buildAck(h, 'AR', reason, [{ segment: 'MSH', sequence: 1, field, code, message: reason }]),
      code: 'AR',
      duplicate: false,
    };
  }
}
