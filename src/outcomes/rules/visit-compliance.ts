/** Whether each scheduled visit has its data, given today's date. */

export type VisitState = 'done' | 'due' | 'overdue' | 'not-yet-due';

export interface ScheduledVisit {
  id: string;
  earliestDay: number;
  latestDay: number;
}

// Registry record NCT04775173 visit schedule (baseline, 1, 3, 6, 12 months; windows are the adapter's defaults):
// done when data for the visit exist; otherwise due while the window is open, overdue once it closed.
export function visitState(visit: ScheduledVisit, today: number, hasData: boolean): VisitState {
  if (hasData) return 'done';
  if (today < visit.earliestDay) return 'not-yet-due';
  if (today <= visit.latestDay) return 'due';
  return 'overdue';
}
