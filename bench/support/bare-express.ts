/**
 * The baseline of bench/not-retained.ts: a bare express 5 app that parses the JSON body and
 * answers 202 with a small OperationOutcome, what the adapter answers a result it does not keep.
 * Run in its own process (PORT, default any free port); prints {"url": …} once listening.
 */
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(express.json({ type: () => true, limit: '1mb' }));
const answer = JSON.stringify({
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'information',
      code: 'informational',
      details: { text: 'Not retained: the patient is not enrolled in a study this adapter serves' },
    },
  ],
});
app.post('/fhir/Observation', (req, res) => {
  if (typeof (req.body as { resourceType?: unknown }).resourceType !== 'string') {
    res.status(400).end();
    return;
  }
  res.status(202).type('application/fhir+json; charset=utf-8').send(answer);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
