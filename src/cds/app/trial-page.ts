/**
 * Browser: the trial page for one child, opened from the EHR (SMART launch). Charts with Chart.js
 * (bundled and served by the adapter: no CDN), each with a text alternative and a data table, so
 * the page reads at a glance and works with a screen reader.
 */
import { Chart, registerables } from 'chart.js';
import FHIR from 'fhirclient';
import type { TrialStatus } from '../trial-status.ts';
import { day, el, fetchJson, table } from './dom.ts';

Chart.register(...registerables);

function chart(id: string, label: string, config: ConstructorParameters<typeof Chart>[1]): HTMLElement {
  const canvas = el('canvas', { id, role: 'img', 'aria-label': label });
  const figure = el('figure', { class: 'chart' }, [canvas, el('figcaption', {}, [label])]);
  queueMicrotask(
    () => new Chart(canvas, { ...config, options: { animation: false, responsive: true, ...config.options } }),
  );
  return figure;
}

function render(s: TrialStatus): void {
  const main = document.getElementById('main') as HTMLElement;
  main.replaceChildren();
  const t = s.target;
  main.append(
    el('h1', {}, [`Trial status: ${s.studyLabel}`]),
    el('p', { id: 'arm' }, [`Arm: ${s.arm ?? 'unassigned'}${t ? `, trough target ${t.low}-${t.high} ${t.unit}` : ''}`]),
  );
  if (s.critical) main.append(el('p', { class: 'alert', role: 'alert' }, [s.critical]));
  const troughDates = s.troughs.map((x) => day(x.date));
  main.append(
    el('section', { 'aria-labelledby': 'h-troughs' }, [
      el('h2', { id: 'h-troughs' }, ['Sirolimus troughs']),
      chart(
        'chart-troughs',
        `Sirolimus troughs over time against the target band ${t ? `${t.low}-${t.high} ng/mL` : ''}`,
        {
          type: 'line',
          data: {
            labels: troughDates,
            datasets: [
              {
                label: 'Trough (ng/mL)',
                data: s.troughs.map((x) => x.value),
                borderColor: '#003f88',
                backgroundColor: '#003f88',
              },
              {
                label: 'Target low',
                data: troughDates.map(() => t?.low ?? null),
                borderColor: '#2d6a4f',
                borderDash: [6, 4],
                pointRadius: 0,
              },
              {
                label: 'Target high',
                data: troughDates.map(() => t?.high ?? null),
                borderColor: '#2d6a4f',
                borderDash: [6, 4],
                pointRadius: 0,
              },
            ],
          },
        },
      ),
      table(
        'Sirolimus troughs',
        ['Date', 'ng/mL', 'Against target'],
        s.troughs.map((x) => [day(x.date), x.value, x.status]),
        { id: 'table-troughs' },
      ),
    ]),
  );
  const labChart = (
    id: string,
    name: string,
    unit: string,
    points: TrialStatus['series']['platelets'],
    baseline: number | undefined,
  ) =>
    el('section', { 'aria-labelledby': `h-${id}` }, [
      el('h2', { id: `h-${id}` }, [name]),
      chart(
        `chart-${id}`,
        `${name} over time against baseline${baseline !== undefined ? ` ${baseline} ${unit}` : ''}`,
        {
          type: 'line',
          data: {
            labels: points.map((p) => day(p.date)),
            datasets: [
              {
                label: `${name} (${unit})`,
                data: points.map((p) => p.value),
                borderColor: '#7b2cbf',
                backgroundColor: '#7b2cbf',
              },
              {
                label: 'Baseline',
                data: points.map(() => baseline ?? null),
                borderColor: '#6c757d',
                borderDash: [4, 4],
                pointRadius: 0,
              },
            ],
          },
        },
      ),
      table(
        name,
        ['Date', unit, 'Visit'],
        points.map((p) => [day(p.date), p.value, p.visit]),
        { id: `table-${id}` },
      ),
    ]);
  main.append(
    labChart('platelets', 'Platelets', '10*9/L', s.series.platelets, s.platelets?.baseline),
    labChart('fibrinogen', 'Fibrinogen', 'g/L', s.series.fibrinogen, s.fibrinogen?.baseline),
    el('section', { 'aria-labelledby': 'h-volume' }, [
      el('h2', { id: 'h-volume' }, ['Lesion volume and response']),
      chart('chart-volume', 'Lesion volume (mL) by visit', {
        type: 'bar',
        data: {
          labels: s.series.lesionVolume.map((p) => `${p.visit} ${day(p.date)}`),
          datasets: [
            { label: 'Volume (mL)', data: s.series.lesionVolume.map((p) => p.value), backgroundColor: '#bc6c25' },
          ],
        },
      }),
      table(
        'Volume response by visit',
        ['Visit', 'Response'],
        s.volumeByVisit.map((v) => [v.visit, v.category]),
        { id: 'table-volume' },
      ),
    ]),
    el('section', { 'aria-labelledby': 'h-schedule' }, [
      el('h2', { id: 'h-schedule' }, ['Visit schedule']),
      table(
        'Visits and their windows',
        ['Visit', 'Window', 'State'],
        s.visits.map((v) => [v.label, `${day(v.windowStart)} to ${day(v.windowEnd)}`, v.state]),
        { id: 'table-schedule' },
      ),
    ]),
    el('section', { 'aria-labelledby': 'h-safety' }, [
      el('h2', { id: 'h-safety' }, ['Adverse events and flags']),
      table(
        'Open adverse events',
        ['Event', 'Grade', 'Date'],
        s.openAdverseEvents.map((a) => [a.term, a.grade ?? '', day(a.date)]),
        { id: 'table-ae' },
      ),
      el(
        'ul',
        { id: 'flags' },
        s.activeFlags.map((f) => el('li', {}, [f.text])),
      ),
    ]),
  );
  document.body.dataset.ready = 'true';
}

async function main(): Promise<void> {
  const client = await FHIR.oauth2.ready();
  const patientId = client.getPatientId();
  const token = client.getState('tokenResponse.access_token') as string;
  if (!patientId) throw new Error('the launch gave no patient');
  render(await fetchJson<TrialStatus>(`/app/api/status/${encodeURIComponent(patientId)}`, token));
}

main().catch((err: unknown) => {
  const main = document.getElementById('main') as HTMLElement;
  main.replaceChildren(el('p', { role: 'alert' }, [`The trial page could not load: ${(err as Error).message}`]));
  document.body.dataset.ready = 'error';
});
