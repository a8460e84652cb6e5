/**
 * Browser: the coordinator's overview of the studies: every child with MRN, arm, next visit,
 * overdue visits, last trough and open safety signals, a row per study the child is on, sortable
 * by any column. Same session, words
 * and error messages as the trial page.
 */
import { day, el } from './dom.ts';
import { callAdapter, showProblem, startSession } from './session.ts';

export interface OverviewRow {
  patientId: string;
  mrn: string;
  arm: string;
  nextVisit: string;
  nextVisitWindow: string;
  overdue: string;
  lastTrough: string;
  lastTroughDate: string;
  troughStatus: string;
  safety: string;
  /** The study's short name: a child in two studies has a row in each. */
  study: string;
}

const COLUMNS: [keyof OverviewRow, string][] = [
  ['patientId', 'Trial id'],
  ['mrn', 'MRN'],
  ['arm', 'Arm'],
  ['nextVisit', 'Next visit'],
  ['nextVisitWindow', 'Window'],
  ['overdue', 'Overdue visits'],
  ['lastTrough', 'Last trough'],
  ['troughStatus', 'Against target'],
  ['safety', 'Safety signals'],
  ['study', 'Study'],
];

function render(rows: OverviewRow[], study: string, sortBy: keyof OverviewRow, descending: boolean): void {
  const key = (r: OverviewRow, k: keyof OverviewRow): string => (k === 'lastTrough' ? r.lastTroughDate : r[k]);
  const sorted = [...rows].sort(
    (a, b) => (descending ? -1 : 1) * key(a, sortBy).localeCompare(key(b, sortBy), undefined, { numeric: true }),
  );
  const head = el(
    'tr',
    {},
    COLUMNS.map(([k, label]) => {
      const button = el('button', { type: 'button', 'data-sort': k }, [label]);
      button.addEventListener('click', () => render(rows, study, k, k === sortBy ? !descending : false));
      return el(
        'th',
        { scope: 'col', 'aria-sort': k === sortBy ? (descending ? 'descending' : 'ascending') : 'none' },
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
    el('header', { class: 'banner' }, [
      el('span', { class: 'name' }, ['Study overview']),
      el('span', { class: 'study' }, [study]),
    ]),
    rows.length === 0
      ? el('p', { class: 'empty' }, ['No children on the trial yet'])
      : el('div', { class: 'scroll' }, [
          el('table', { id: 'overview' }, [
            el('caption', {}, [`${rows.length} children on the trial, as of ${day(new Date().toISOString())}`]),
            el('thead', {}, [head]),
            body,
          ]),
        ]),
  );
  document.body.dataset.ready = 'true';
}

async function main(): Promise<void> {
  const session = await startSession();
  const study = session.studies.map((s) => `${s.shortName} (${s.registryId})`).join(', ');
  render(await callAdapter<OverviewRow[]>('/app/api/overview', session.token), study, 'patientId', false);
}

main().catch(showProblem);
