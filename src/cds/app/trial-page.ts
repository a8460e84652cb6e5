/**
 * Browser: the trial page for one child, opened from the EHR (SMART launch), with a part per study
 * the child is on. The banner comes from the EHR's own Patient; the trial data from the adapter,
 * which finds the child by MRN. Charts on a
 * time axis (Chart.js, bundled and served by the adapter: no CDN), each with a text alternative and
 * a data table, so the page reads at a glance and works with a screen reader.
 */
import type { Patient } from '@medplum/fhirtypes';
import type { SeriesPoint, TrialStatus } from '../trial-status.ts';
import { ageWords, codeWords, shortDisplay, unitWords } from '../words.ts';
import { banner } from './banner.ts';
import { day, el, table } from './dom.ts';
import { callAdapter, PageProblem, showProblem, startSession } from './session.ts';
import { timeChart } from './time-chart.ts';

function section(id: string, title: string, children: (Node | string)[], attrs: Record<string, string> = {}) {
  return el('section', { 'aria-labelledby': `h-${id}`, ...attrs }, [el('h2', { id: `h-${id}` }, [title]), ...children]);
}

/**
 * One study's part of the page. What it shows (the drug level, labs and responses) is what the
 * study declares; element ids end in the study id, so a child in two studies has two parts.
 */
function renderStudy(s: TrialStatus): HTMLElement {
  const at = (id: string): string => `${id}-${s.studyId}`;
  const t = s.target;
  const dec = (id: string): number => s.decimals[id] ?? 2;
  const fixed = (id: string, v: number): string => v.toFixed(dec(id));
  const part: (Node | string)[] = [el('h1', { id: at('study') }, [s.studyLabel])];
  part.push(
    el('p', { id: at('arm'), class: 'arm' }, [
      s.blinded
        ? 'You are declared blinded in this trial: the arm, the trough target and the troughs are not shown.'
        : `${s.arm ? `${codeWords(s.arm)} arm` : 'Arm not yet assigned'}${t ? `: trough target ${t.low}-${t.high} ${unitWords(t.unit)}` : ''}`,
    ]),
  );
  if (s.critical) part.push(el('p', { class: 'alert', role: 'alert', id: at('critical') }, [s.critical]));
  if (s.lastTrough?.stale) {
    part.push(
      el('p', { class: 'notice', id: at('stale') }, [
        `No recent trough: the last was ${ageWords(s.lastTrough.ageDays)} (${day(s.lastTrough.date)}); after ${s.troughStaleDays} days it is out of date.`,
      ]),
    );
  }
  const charts: HTMLElement[] = [];
  const tr = s.trough;
  if (!s.blinded && tr) {
    const unit = unitWords(tr.unit);
    charts.push(
      section(at('troughs'), tr.label, [
        s.lastTrough
          ? el('p', { id: at('last-trough') }, [
              `Last ${fixed(tr.measureId, s.lastTrough.value)} ${unit}, ${ageWords(s.lastTrough.ageDays)}: ${codeWords(s.lastTrough.status).toLowerCase()}`,
            ])
          : '',
        timeChart({
          id: at('chart-troughs'),
          name: 'Trough',
          unit,
          decimals: dec(tr.measureId),
          points: s.troughs,
          band: t,
        }),
        s.troughs.length > 0
          ? table(
              tr.label,
              ['Date', unit, 'Against target'],
              s.troughs.map((x) => [day(x.date), fixed(tr.measureId, x.value), codeWords(x.status)]),
              { id: at('table-troughs'), class: 'no-print' },
              [1],
            )
          : '',
      ]),
    );
  }
  const chart = (
    measure: string,
    name: string,
    ucum: string,
    points: readonly SeriesPoint[],
    baseline: number | undefined,
  ) => {
    const unit = unitWords(ucum);
    return section(at(measure), name, [
      timeChart({ id: at(`chart-${measure}`), name, unit, decimals: dec(measure), points, baseline }),
      points.length > 0
        ? table(
            name,
            ['Date', unit, 'Visit'],
            points.map((p) => [day(p.date), fixed(measure, p.value), p.visit]),
            { id: at(`table-${measure}`), class: 'no-print' },
            [1],
          )
        : '',
    ]);
  };
  const charted = new Set<string>();
  for (const l of s.labs) {
    charted.add(l.measureId);
    charts.push(chart(l.measureId, l.label, l.unit, l.series, l.baseline));
  }
  for (const r of s.responses) {
    if (charted.has(r.measureId)) continue;
    charted.add(r.measureId);
    charts.push(chart(r.measureId, r.measureLabel, r.unit, r.series, r.series[0]?.value));
  }
  part.push(el('div', { class: 'grid' }, charts));
  part.push(
    el('div', { class: 'grid' }, [
      ...s.responses.map((r) =>
        section(at(`response-${r.outcome}`), r.label, [
          r.byVisit.length > 0
            ? table(
                `${r.label} by visit`,
                ['Visit', 'Response'],
                r.byVisit.map((v) => [v.visit, shortDisplay(v.display)]),
                { id: at(`table-${r.outcome}`) },
              )
            : el('p', { class: 'empty' }, ['No results yet']),
        ]),
      ),
      section(at('schedule'), 'Visits', [
        table(
          'Visits and their windows',
          ['Visit', 'Window', 'State'],
          s.visits.map((v) => [v.label, `${day(v.windowStart)} to ${day(v.windowEnd)}`, codeWords(v.state)]),
          { id: at('table-schedule') },
        ),
      ]),
      section(at('safety'), 'Adverse events and flags', [
        s.openAdverseEvents.length > 0
          ? table(
              'Open adverse events',
              ['Event', 'Grade', 'Date'],
              s.openAdverseEvents.map((a) => [a.term, a.grade ?? '', day(a.date)]),
              { id: at('table-ae') },
            )
          : el('p', { class: 'empty' }, ['No open adverse events']),
        s.activeFlags.length > 0
          ? el(
              'ul',
              { id: at('flags') },
              s.activeFlags.map((f) => el('li', {}, [f.text])),
            )
          : el('p', { class: 'empty' }, ['No active flags']),
      ]),
    ]),
  );
  return el('div', { class: 'study-part', id: at('part'), 'data-study': s.studyId }, part);
}

function render(main: HTMLElement, studies: readonly TrialStatus[]): void {
  for (const s of studies) main.append(renderStudy(s));
}

async function main(): Promise<void> {
  const main = document.getElementById('main') as HTMLElement;
  const session = await startSession();
  const study = session.studies.map((s) => `${s.shortName} (${s.registryId})`).join(', ');
  let patient: Patient;
  try {
    patient = (await session.client.patient.read()) as Patient;
  } catch {
    throw new PageProblem(
      'unavailable',
      'The EHR did not give this page the patient’s record. Open the page again from the patient’s chart.',
    );
  }
  main.replaceChildren(banner(patient, study, session.mrnSystem));
  const status = await callAdapter<{ studies: TrialStatus[] }>('/app/api/status', session.token, {
    patient: { id: patient.id, identifier: patient.identifier ?? [] },
  });
  render(main, status.studies);
  document.body.dataset.ready = 'true';
}

main().catch(showProblem);
