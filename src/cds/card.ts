/**
 * The CDS Hooks card for an enrolled child (CDS Hooks 2.0 Card): summary under 140 characters with
 * trial, arm, target and the last trough; indicator critical when a safety rule fires, warning when
 * the last trough is out of target or a visit is overdue, info otherwise; Markdown detail; a SMART
 * link to the trial page. Pure.
 */
import type { TrialStatus } from './trial-status.ts';

export interface CdsCard {
  uuid?: string;
  summary: string;
  indicator: 'info' | 'warning' | 'critical';
  detail: string;
  source: { label: string; url?: string };
  links: { label: string; url: string; type: 'smart' | 'absolute'; appContext?: string }[];
}

const WORD = { below: 'below target', 'in-range': 'in target', above: 'above target' } as const;
const MAX_SUMMARY = 139;

function fitSummary(text: string): string {
  return text.length <= MAX_SUMMARY ? text : `${text.slice(0, MAX_SUMMARY - 1)}…`;
}

const day = (iso: string | undefined): string => (iso ? iso.slice(0, 10) : '?');
/** Converted values carry many decimals; a clinician reads two. */
const num = (n: number): string => String(Math.round(n * 100) / 100);

export function trialCard(s: TrialStatus, appUrl: string): CdsCard {
  const target = s.target ? `${s.target.low}-${s.target.high} ${s.target.unit}` : 'target unknown';
  const trough = s.lastTrough
    ? `last trough ${num(s.lastTrough.value)} on ${day(s.lastTrough.date)}: ${WORD[s.lastTrough.status]}`
    : 'no trough yet';
  const summary = fitSummary(`KHE trial, ${s.arm ?? 'arm unassigned'} arm (${target}); ${trough}`);
  const troughOut = s.lastTrough !== undefined && s.lastTrough.status !== 'in-range';
  const indicator = s.critical ? 'critical' : troughOut || s.overdue.length > 0 ? 'warning' : 'info';
  const lines: string[] = [];
  if (s.critical) lines.push(`**Safety:** ${s.critical}`);
  if (s.nextVisit) {
    lines.push(
      `**Next visit:** ${s.nextVisit.label} (${s.nextVisit.state}), window ${day(s.nextVisit.windowStart)} to ${day(s.nextVisit.windowEnd)}`,
    );
  }
  if (s.overdue.length > 0)
    lines.push(`**Overdue:** ${s.overdue.map((v) => `${v.label} (window closed ${day(v.windowEnd)})`).join(', ')}`);
  const labLine = (name: string, l: TrialStatus['platelets']): string | undefined =>
    l
      ? `**${name}:** ${num(l.latest)} ${l.unit} on ${day(l.latestDate)}${l.baseline !== undefined ? ` (baseline ${l.baseline})` : ''}`
      : undefined;
  for (const line of [labLine('Platelets', s.platelets), labLine('Fibrinogen', s.fibrinogen)])
    if (line) lines.push(line);
  if (s.volumeResponse) {
    const pct =
      s.volumeResponse.percentChange !== undefined ? ` (${s.volumeResponse.percentChange}% from baseline)` : '';
    lines.push(`**Volume response (${s.volumeResponse.visit}):** ${s.volumeResponse.category}${pct}`);
  }
  if (s.openAdverseEvents.length > 0) {
    lines.push(
      `**Open adverse events:** ${s.openAdverseEvents.map((a) => `${a.term}${a.grade ? ` grade ${a.grade}` : ''} (${day(a.date)})`).join('; ')}`,
    );
  }
  if (s.activeFlags.length > 0) lines.push(`**Flags:** ${s.activeFlags.join('; ')}`);
  return {
    summary,
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
