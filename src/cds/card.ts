/**
 * The CDS Hooks card for a child in one study (CDS Hooks 2.0 Card; a child in two studies gets one
 * card per study, each with its own source, indicator and link). The summary (under 140 characters)
 * leads with the most severe finding: platelets below the safety threshold, then a trough out of
 * target, then overdue visits, then the study, arm, target and last trough with its age. Indicator
 * critical when a safety rule fires, warning when the last trough is out of target or stale or a
 * visit is overdue, info otherwise; Markdown detail whose lab and response lines are the ones the
 * study's declared outcomes read; a SMART link to the trial page. For a blinded user the status has
 * no arm, target or trough, and neither has the card. Pure.
 */
import type { TrialStatus } from './trial-status.ts';
import { ageWords, codeWords, numberWords, shortDisplay, unitWords } from './words.ts';

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

/** The trough's value in its measure's precision and unit: "7.2 ng/mL". */
function level(s: TrialStatus, value: number): string {
  return s.trough ? `${fixed(s, s.trough.measureId, value)} ${unitWords(s.trough.unit)}` : String(value);
}

function troughWords(s: TrialStatus): string | undefined {
  if (!s.trough) return undefined;
  const t = s.lastTrough;
  if (!t) return 'no trough yet';
  const stale = t.stale ? ', stale' : '';
  return `last trough ${level(s, t.value)} ${ageWords(t.ageDays)}${stale}: ${codeWords(t.status).toLowerCase()}`;
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
      `Trough ${level(s, t.value)} ${t.status === 'below' ? 'below' : 'above'} target, ${ageWords(t.ageDays)}`,
      trial,
    );
    if (overdue) parts.push(overdue);
    return fitSummary(parts.join('; '));
  }
  if (!s.critical && overdue) parts.push(overdue);
  parts.push(trial);
  const words = s.blinded ? undefined : troughWords(s);
  if (words) parts.push(words);
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
  for (const l of s.labs) {
    if (l.latest === undefined) continue;
    const baseline = l.baseline !== undefined ? ` (baseline ${fixed(s, l.measureId, l.baseline)})` : '';
    lines.push(
      `**${l.label}:** ${fixed(s, l.measureId, l.latest)} ${unitWords(l.unit)} on ${day(l.latestDate)}${baseline}`,
    );
  }
  for (const r of s.responses) {
    if (!r.latest) continue;
    const pct = r.latest.percentChange !== undefined ? ` (${r.latest.percentChange}% from baseline)` : '';
    lines.push(`**${r.label}, ${r.latest.visit}:** ${shortDisplay(r.latest.display)}${pct}`);
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
