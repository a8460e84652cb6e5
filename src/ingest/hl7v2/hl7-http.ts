/**
 * POST /hl7v2: one ER7 message per request (Content-Type x-application/hl7-v2+er7 or text/plain),
 * for the ehr-feed role; the answer is the ACK, 200 whatever its code (the HL7 outcome is in MSA).
 */
import express, { type RequestHandler, Router } from 'express';
import type { AccessContext } from '../../auth/access-context.ts';
import { fail, forbidden, unsupportedMediaType } from '../../shared/outcomes.ts';
import type { Hl7Ingest } from './hl7-ingest.ts';

export const HL7_ER7 = 'x-application/hl7-v2+er7';

export interface Hl7HttpDeps {
  middleware: RequestHandler[];
  bodyLimit: string;
  ingestFor(access: AccessContext): Hl7Ingest;
}

export function createHl7Router(deps: Hl7HttpDeps): Router {
  const router = Router();
  router.post(
    '/hl7v2',
    ...deps.middleware,
    (req, _res, next) => {
      if (!req.is([HL7_ER7, 'text/plain'])) fail(unsupportedMediaType(`Send HL7 v2 as ${HL7_ER7} or text/plain`));
      next();
    },
    express.text({ type: [HL7_ER7, 'text/plain'], limit: deps.bodyLimit }),
    async (req, res) => {
      const access = res.locals.access as AccessContext;
      if (access.role !== 'ehr-feed' && access.role !== 'admin')
        fail(forbidden('HL7 v2 messages are sent by the ehr-feed role'));
      const result = await deps.ingestFor(access).handle(typeof req.body === 'string' ? req.body : '');
      res.status(200).type(HL7_ER7).send(result.ack.replaceAll('\r', '\r\n'));
    },
  );
  return router;
}
