// The layering of docs/architecture.md, checked by dependency-cruiser (`npm run lint:layers`, a
// step of .ci/run) so that it stays true. Each rule forbids one kind of import. `knownViolations`
// is empty since the boundary refactor (issue 21); an import that must break a rule for a while is
// listed there by file pair, with its reason, so that any other one still fails.

// Folders above the FHIR engine: the trial side.
const TRIAL = 'ingest|records|outcomes|cds|jobs|writeback|mapping';

// [from, to] file pairs per rule, each an import that breaks the rule (none today).
const knownViolations = {};

const escape = (file) => `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;

// One rule as written, plus its known violations: the rule for every other source file, and for
// each excepted source file the same rule minus that file's excepted targets only.
function withKnownViolations(rule) {
  const pairs = knownViolations[rule.name] ?? [];
  const bySource = new Map();
  for (const [from, to] of pairs) bySource.set(from, [...(bySource.get(from) ?? []), to]);
  const sources = [...bySource.keys()].map(escape);
  const main = { ...rule, from: { ...rule.from, pathNot: [...(rule.from.pathNot ?? []), ...sources] } };
  const excepted = [...bySource].map(([from, targets]) => ({
    ...rule,
    from: { path: escape(from) },
    to: { ...rule.to, pathNot: [...(rule.to.pathNot ?? []), ...targets.map(escape)] },
  }));
  return [main, ...excepted];
}

const rules = [
  {
    name: 'store-calls-nothing-above',
    comment: 'src/store/ is the bottom layer: it imports only itself and src/shared/.',
    severity: 'error',
    from: { path: '^src/store/' },
    to: { path: '^src/', pathNot: ['^src/store/', '^src/shared/', '^src/types/'] },
  },
  {
    name: 'shared-calls-nothing',
    comment: 'src/shared/ holds the low-level modules every layer may use; it imports only itself.',
    severity: 'error',
    from: { path: '^src/shared/' },
    to: { path: '^src/', pathNot: ['^src/shared/'] },
  },
  {
    name: 'fhir-engine-knows-no-trial',
    comment:
      'The FHIR engine receives the trial as the WritePipeline registered at start-up (and WriteRules); it never imports the trial side.',
    severity: 'error',
    from: { path: '^src/fhir/' },
    to: { path: `^src/(${TRIAL})/` },
  },
  {
    name: 'auth-knows-no-trial',
    comment: 'src/auth/ calls src/store/ and src/shared/ only.',
    severity: 'error',
    from: { path: '^src/auth/' },
    to: { path: `^src/(${TRIAL})/` },
  },
  {
    name: 'auth-calls-no-fhir',
    comment: 'src/auth/ is below the FHIR layer (which calls it): it uses the outcomes and resource types of src/shared/.',
    severity: 'error',
    from: { path: '^src/auth/' },
    to: { path: '^src/fhir/' },
  },
  {
    name: 'nothing-calls-app',
    comment: 'src/app/ assembles the service and may call every folder; only src/main.ts calls it.',
    severity: 'error',
    from: { path: '^src/', pathNot: ['^src/app/', '^src/main\\.ts$'] },
    to: { path: '^src/app/' },
  },
  {
    name: 'mapping-calls-nothing-above',
    comment: 'The declarative trial definition is below the records, the gate and the outcomes that read it.',
    severity: 'error',
    from: { path: '^src/mapping/' },
    to: { path: '^src/(records|ingest|outcomes|jobs|cds|writeback|cli)/' },
  },
  {
    name: 'records-call-nothing-above',
    comment: 'Trial records are derived from src/mapping/ (and the FHIR profiles); the gate and the outcomes call them.',
    severity: 'error',
    from: { path: '^src/records/' },
    to: { path: '^src/(ingest|outcomes|jobs|cds|writeback|cli)/' },
  },
  {
    name: 'ingest-calls-nothing-above',
    comment: 'The gate calls records, the store and the upstream client; outcomes and jobs are above it.',
    severity: 'error',
    from: { path: '^src/ingest/' },
    to: { path: '^src/(outcomes|jobs|cds|cli)/' },
  },
  {
    name: 'outcomes-call-nothing-above',
    comment: 'Outcomes read stored records; the worker (src/jobs/) and the clinician view (src/cds/) call them.',
    severity: 'error',
    from: { path: '^src/outcomes/' },
    to: { path: '^src/(ingest|jobs|cds|writeback|cli)/' },
  },
  {
    name: 'writeback-calls-nothing-above',
    comment: 'Write-back sends what the outcomes published; it does not call them, the gate or the jobs.',
    severity: 'error',
    from: { path: '^src/writeback/' },
    to: { path: '^src/(ingest|outcomes|jobs|cds|cli)/' },
  },
  {
    name: 'jobs-and-cds-independent',
    comment: 'The background jobs and the clinician view are siblings; neither calls the other.',
    severity: 'error',
    from: { path: '^src/jobs/' },
    to: { path: '^src/cds/' },
  },
  {
    name: 'jobs-and-cds-independent',
    comment: 'The background jobs and the clinician view are siblings; neither calls the other.',
    severity: 'error',
    from: { path: '^src/cds/' },
    to: { path: '^src/jobs/' },
  },
  {
    name: 'cli-talks-to-the-api',
    comment: "Operator commands talk to the running service's API, never to its store.",
    severity: 'error',
    from: { path: '^src/cli/' },
    to: { path: '^src/store/' },
  },
  {
    name: 'nothing-calls-cli',
    comment: 'src/cli/ holds entry points; the service never imports them.',
    severity: 'error',
    from: { path: '^src/', pathNot: ['^src/cli/'] },
    to: { path: '^src/cli/' },
  },
  {
    name: 'no-circular',
    comment: 'No module cycles.',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'no-folder-cycles',
    comment: 'No cycles between folders either: a folder that imports another is not imported by it, even indirectly.',
    severity: 'error',
    scope: 'folder',
    from: { path: '^src/' },
    to: { circular: true },
  },
  {
    name: 'src-uses-production-dependencies',
    comment: 'npm ci --omit=dev installs only dependencies: src/ must not import a devDependency.',
    severity: 'error',
    from: { path: '^src/' },
    to: { dependencyTypes: ['npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'] },
  },
  {
    name: 'src-imports-resolve',
    comment: 'Every import resolves (@medplum/fhirtypes ships types only).',
    severity: 'error',
    from: { path: '^src/' },
    to: { couldNotResolve: true, pathNot: ['^@medplum/fhirtypes$'] },
  },
];

module.exports = {
  forbidden: rules.flatMap(withKnownViolations),
  options: {
    // TypeScript 7 cannot be loaded as dependency-cruiser's parser; swc reads the .ts sources and
    // keeps type-only imports without tsPreCompilationDeps (which would ask for tsc and warn that
    // it is missing; test/layering.test.ts checks a type-only import still counts).
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/types/' },
  },
};
