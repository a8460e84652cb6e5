/**
 * The service runs on Node 24 (the `node` package in dependencies puts it first on the PATH of
 * every npm script). Started some other way on another major version, it stops here with one line
 * instead of failing later in a dependency (@medplum/core needs Node 22+ APIs, for instance).
 */
const REQUIRED_MAJOR = 24;

export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const major = Number.parseInt(version.split('.')[0] ?? '', 10);
  if (major === REQUIRED_MAJOR) return undefined;
  return `this service needs Node ${REQUIRED_MAJOR} (running ${version}); start it with npm start, which uses the Node ${REQUIRED_MAJOR} that npm ci installs`;
}
