/**
 * Browser: the coordinator's overview of the whole study (admin role): every child with arm, next
 * visit, overdue visits, last trough and open safety signals, sortable by any column.
 */
import FHIR from 'fhirclient';
import { day, el, fetchJson } from './dom.ts';

export interface OverviewRow {
  patientId: string;
  arm: string;
  nextVisit: string;
  nextVisitWindow: string;
  overdue: string;
  lastTrough: string;
  troughStatus: string;
  safety: string;
}

const COLUMNS: [keyof OverviewRow, string][] = [
  ['patientId', 'Patient'],
  ['arm', 'Arm'],
  ['nextVisit', 'Next visit'],
  ['nextVisitWindow', 'Window'],
  ['overdue', 'Overdue visits'],
  ['lastTrough', 'Last trough'],
  ['troughStatus', 'Against target'],
  ['safety', 'Safety signals'],
];

function render(rows: OverviewRow[], sortBy: keyof OverviewRow, descending: boolean): void {
  const sorted = [...rows].sort(
    (a, b) => (descending ? -1 : 1) * a[sortBy].localeCompare(b[sortBy], undefined, { numeric: true }),
  );
  const head = el(
    'tr',
    {},
    COLUMNS.map(([key, label]) => {
      const button = el('button', { type: 'button', 'data-sort': key }, [label]);
      button.addEventListener('click', () => render(rows, key, key === sortBy ? !descending : false));
      return el(
        'th',
        { scope: 'col', 'aria-sort': key === sortBy ? (descending ? 'descending' : 'ascending') : 'none' },
        [button],
      );
    }),
  );
  const body = el(
    'tbody',
    {},
    sorted.map((r) =>
      el(
        'tr',
        {},
        COLUMNS.map(([k]) => el('td', {}, [r[k]])),
      ),
    ),
  );
  const main = document.getElementById('main') as HTMLElement;
  main.replaceChildren(
    el('h1', {}, ['Study overview']),
    el('table', { id: 'overview' }, [
      el('caption', {}, [`${rows.length} children on the trial, as of ${day(new Date().toISOString())}`]),
      el('thead', {}, [head]),
      body,
    ]),
  );
  document.body.dataset.ready = 'true';
}

async function main(): Promise<void> {
  const client = await FHIR.oauth2.ready();
  const token = client.getState('tokenResponse.access_token') as string;
  render(await fetchJson<OverviewRow[]>('/app/api/overview', token), 'patientId', false);
}

main().catch((err: unknown) => {
  const main = document.getElementById('main') as HTMLElement;
  main.replaceChildren(el('p', { role: 'alert' }, [`The overview could not load: ${(err as Error).message}`]));
  document.body.dataset.ready = 'error';
});
