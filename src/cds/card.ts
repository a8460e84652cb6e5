/**
 * The CDS Hooks card for an enrolled child (CDS Hooks 2.0 Card). The summary (under 140 characters)
 * leads with the most severe finding: platelets below the safety threshold, then a trough out of
 * target, then overdue visits, then the study, arm, target and last trough with its age. Indicator
 * critical when a safety rule fires, warning when the last trough is out of target or stale or a
 * visit is overdue, info otherwise; Markdown detail; a SMART link to the trial page. For a blinded
 * user the status has no arm, target or trough, and neither has the card. Pure.
 */
import type { TrialStatus } from './trial-status.ts';
import { ageWords, codeWords, numberWords, unitWords } from './words.ts';

export interface CdsCard {
  uuid?: string;
  summary: string;
  indicator: 'info' | 'warning' | 'critical';
  detail: string;
  source: { label: string; url?: string };
  links: { label: string; url: string; type: 'smart' | 'absolute'; appContext?: string }[];
}

const MAX_SUMMARY = 139;

function fitSummary(text: string): string {
  return text.length <= MAX_SUMMARY ? text : `${text.slice(0, MAX_SUMMARY - 1)}…`;
}

/** Written to the measure's declared precision: 8.0 ng/mL, not 8 or 8.04. */
const fixed = (s: TrialStatus, measureId: string, value: number): string =>
  numberWords(value, s.decimals[measureId] ?? 2);

const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '?');

function troughWords(s: TrialStatus): string {
  const t = s.lastTrough;
  if (!t) return 'no trough yet';
  const stale = t.stale ? ', stale' : '';
  return `last trough ${fixed(s, 'sirolimus-trough', t.value)} ng/mL ${ageWords(t.ageDays)}${stale}: ${codeWords(t.status).toLowerCase()}`;
}

function summaryOf(s: TrialStatus): string {
  const target = s.target ? ` (${s.target.low}-${s.target.high} ${unitWords(s.target.unit)})` : '';
  const trial = s.blinded
    ? s.studyShortName
    : `${s.studyShortName}, ${s.arm ?? 'arm unassigned'}${s.arm ? ' arm' : ''}${target}`;
  const overdue = s.overdue.length > 0 ? `${s.overdue.map((v) => v.label).join(', ')} overdue` : undefined;
  const parts: string[] = [];
  if (s.critical) parts.push(s.critical);
  const t = s.lastTrough;
  if (!s.critical && t && t.status !== 'in-range') {
    parts.push(
      `Trough ${fixed(s, 'sirolimus-trough', t.value)} ng/mL ${t.status === 'below' ? 'below' : 'above'} target, ${ageWords(t.ageDays)}`,
      trial,
    );
    if (overdue) parts.push(overdue);
    return fitSummary(parts.join('; '));
  }
  if (!s.critical && overdue) parts.push(overdue);
  parts.push(trial);
  if (!s.blinded) parts.push(troughWords(s));
  else if (s.nextVisit) parts.push(`next: ${s.nextVisit.label}`);
  return fitSummary(parts.join('; '));
}

export function trialCard(s: TrialStatus, appUrl: string): CdsCard {
  const troughOut = s.lastTrough !== undefined && s.lastTrough.status !== 'in-range';
  const stale = s.lastTrough?.stale ?? false;
  const indicator = s.critical ? 'critical' : troughOut || stale || s.overdue.length > 0 ? 'warning' : 'info';
  const lines: string[] = [];
  if (s.critical) lines.push(`**Safety:** ${s.critical}`);
  if (s.lastTrough?.stale) {
    lines.push(
      `**No recent trough:** the last was ${s.lastTrough.ageDays} days ago (${day(s.lastTrough.date)}); more than ${s.troughStaleDays} days is stale`,
    );
  }
  if (s.nextVisit) {
    lines.push(
      `**Next visit:** ${s.nextVisit.label} (${codeWords(s.nextVisit.state).toLowerCase()}), window ${day(s.nextVisit.windowStart)} to ${day(s.nextVisit.windowEnd)}`,
    );
  }
  if (s.overdue.length > 0)
    lines.push(`**Overdue:** ${s.overdue.map((v) => `${v.label} (window closed ${day(v.windowEnd)})`).join(', ')}`);
  const labLine = (name: string, measureId: string, l: TrialStatus['platelets']): string | undefined =>
    l
      ? `**${name}:** ${fixed(s, measureId, l.latest)} ${unitWords(l.unit)} on ${day(l.latestDate)}${l.baseline !== undefined ? ` (baseline ${fixed(s, measureId, l.baseline)})` : ''}`
      : undefined;
  for (const line of [
    labLine('Platelets', 'platelets', s.platelets),
    labLine('Fibrinogen', 'fibrinogen', s.fibrinogen),
  ])
    if (line) lines.push(line);
  if (s.volumeResponse) {
    const pct =
      s.volumeResponse.percentChange !== undefined ? ` (${s.volumeResponse.percentChange}% from baseline)` : '';
    lines.push(`**Lesion volume, ${s.volumeResponse.visit}:** ${codeWords(s.volumeResponse.category)}${pct}`);
  }
  if (s.openAdverseEvents.length > 0) {
    lines.push(
      `**Open adverse events:** ${s.openAdverseEvents.map((a) => `${a.term}${a.grade ? ` grade ${a.grade}` : ''} (${day(a.date)})`).join('; ')}`,
    );
  }
  if (s.activeFlags.length > 0) lines.push(`**Flags:** ${s.activeFlags.map((f) => f.text).join('; ')}`);
  if (s.blinded) lines.push('Arm, trough target and troughs are not shown: you are declared blinded in this trial.');
  return {
    summary: summaryOf(s),
    indicator,
    detail: lines.map((l) => `- ${l}`).join('\n'),
    source: { label: s.studyLabel },
    links: [
      {
        label: 'Open the trial page',
        url: appUrl,
        type: 'smart',
        appContext: JSON.stringify({ researchSubject: s.researchSubjectId }),
      },
    ],
  };
}
