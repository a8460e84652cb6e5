/**
 * Browser: the trial page for one child, opened from the EHR (SMART launch). The banner comes from
 * the EHR's own Patient; the trial data from the adapter, which finds the child by MRN. Charts on a
 * time axis (Chart.js, bundled and served by the adapter: no CDN), each with a text alternative and
 * a data table, so the page reads at a glance and works with a screen reader.
 */
import type { Patient } from '@medplum/fhirtypes';
import type { TrialStatus } from '../trial-status.ts';
import { ageWords, codeWords, unitWords } from '../words.ts';
import { banner } from './banner.ts';
import { day, el, table } from './dom.ts';
import { callAdapter, PageProblem, showProblem, startSession } from './session.ts';
import { timeChart } from './time-chart.ts';

function section(id: string, title: string, children: (Node | string)[], attrs: Record<string, string> = {}) {
  return el('section', { 'aria-labelledby': `h-${id}`, ...attrs }, [el('h2', { id: `h-${id}` }, [title]), ...children]);
}

function render(main: HTMLElement, s: TrialStatus): void {
  const t = s.target;
  const dec = (id: string): number => s.decimals[id] ?? 2;
  const fixed = (id: string, v: number): string => v.toFixed(dec(id));
  main.append(
    el('p', { id: 'arm', class: 'arm' }, [
      s.blinded
        ? 'You are declared blinded in this trial: the arm, the trough target and the troughs are not shown.'
        : `${s.arm ? `${codeWords(s.arm)} arm` : 'Arm not yet assigned'}${t ? `: trough target ${t.low}-${t.high} ${unitWords(t.unit)}` : ''}`,
    ]),
  );
  if (s.critical) main.append(el('p', { class: 'alert', role: 'alert', id: 'critical' }, [s.critical]));
  if (s.lastTrough?.stale) {
    main.append(
      el('p', { class: 'notice', id: 'stale' }, [
        `No recent trough: the last was ${ageWords(s.lastTrough.ageDays)} (${day(s.lastTrough.date)}); after ${s.troughStaleDays} days it is out of date.`,
      ]),
    );
  }
  const charts: HTMLElement[] = [];
  if (!s.blinded) {
    charts.push(
      section('troughs', 'Sirolimus trough', [
        s.lastTrough
          ? el('p', { id: 'last-trough' }, [
              `Last ${fixed('sirolimus-trough', s.lastTrough.value)} ng/mL, ${ageWords(s.lastTrough.ageDays)}: ${codeWords(s.lastTrough.status).toLowerCase()}`,
            ])
          : '',
        timeChart({
          id: 'chart-troughs',
          name: 'Trough',
          unit: 'ng/mL',
          decimals: dec('sirolimus-trough'),
          points: s.troughs,
          band: t,
        }),
        s.troughs.length > 0
          ? table(
              'Sirolimus troughs',
              ['Date', 'ng/mL', 'Against target'],
              s.troughs.map((x) => [day(x.date), fixed('sirolimus-trough', x.value), codeWords(x.status)]),
              { id: 'table-troughs', class: 'no-print' },
              [1],
            )
          : '',
      ]),
    );
  }
  const lab = (
    id: string,
    measure: string,
    name: string,
    ucum: string,
    points: TrialStatus['series']['platelets'],
    baseline: number | undefined,
  ) => {
    const unit = unitWords(ucum);
    return section(id, name, [
      timeChart({ id: `chart-${id}`, name, unit, decimals: dec(measure), points, baseline }),
      points.length > 0
        ? table(
            name,
            ['Date', unit, 'Visit'],
            points.map((p) => [day(p.date), fixed(measure, p.value), p.visit]),
            { id: `table-${id}`, class: 'no-print' },
            [1],
          )
        : '',
    ]);
  };
  charts.push(
    lab('platelets', 'platelets', 'Platelets', '10*9/L', s.series.platelets, s.platelets?.baseline),
    lab('fibrinogen', 'fibrinogen', 'Fibrinogen', 'g/L', s.series.fibrinogen, s.fibrinogen?.baseline),
    lab('volume', 'lesion-volume', 'Lesion volume', 'mL', s.series.lesionVolume, s.series.lesionVolume[0]?.value),
  );
  main.append(el('div', { class: 'grid' }, charts));
  main.append(
    el('div', { class: 'grid' }, [
      section('response', 'Response of the lesion', [
        s.volumeByVisit.length > 0
          ? table(
              'Volume response by visit',
              ['Visit', 'Response'],
              s.volumeByVisit.map((v) => [v.visit, codeWords(v.category)]),
              { id: 'table-response' },
            )
          : el('p', { class: 'empty' }, ['No results yet']),
      ]),
      section('schedule', 'Visits', [
        table(
          'Visits and their windows',
          ['Visit', 'Window', 'State'],
          s.visits.map((v) => [v.label, `${day(v.windowStart)} to ${day(v.windowEnd)}`, codeWords(v.state)]),
          { id: 'table-schedule' },
        ),
      ]),
      section('safety', 'Adverse events and flags', [
        s.openAdverseEvents.length > 0
          ? table(
              'Open adverse events',
              ['Event', 'Grade', 'Date'],
              s.openAdverseEvents.map((a) => [a.term, a.grade ?? '', day(a.date)]),
              { id: 'table-ae' },
            )
          : el('p', { class: 'empty' }, ['No open adverse events']),
        s.activeFlags.length > 0
          ? el(
              'ul',
              { id: 'flags' },
              s.activeFlags.map((f) => el('li', {}, [f.text])),
            )
          : el('p', { class: 'empty' }, ['No active flags']),
      ]),
    ]),
  );
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
  const status = await callAdapter<TrialStatus>('/app/api/status', session.token, {
    patient: { id: patient.id, identifier: patient.identifier ?? [] },
  });
  render(main, status);
  document.body.dataset.ready = 'true';
}

main().catch(showProblem);
