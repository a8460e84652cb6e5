/** Adverse events per subject and per arm: counts by term, worst grade, causality, dose actions. */

export interface AdverseEventInput {
  term: string;
  grade: number | undefined;
  causality: string | undefined;
  /** What was done with sirolimus: reduced, interrupted, withdrawn (free text or coded). */
  action: string | undefined;
}

export interface SubjectAeSummary {
  events: number;
  byTerm: Record<string, number>;
  worstGrade: number | undefined;
  byCausality: Record<string, number>;
  doseReductions: number;
  interruptions: number;
  cessations: number;
}

// Registry record NCT04775173: adverse events (CTCAE v4.0) — frequency by term, severity (worst grade), causality.
export function summariseAdverseEvents(events: readonly AdverseEventInput[]): SubjectAeSummary {
  const byTerm: Record<string, number> = {};
  const byCausality: Record<string, number> = {};
  let worst: number | undefined;
  let doseReductions = 0;
  let interruptions = 0;
  let cessations = 0;
  for (const e of events) {
    byTerm[e.term] = (byTerm[e.term] ?? 0) + 1;
    const c = e.causality ?? 'not-assessed';
    byCausality[c] = (byCausality[c] ?? 0) + 1;
    if (e.grade !== undefined && (worst === undefined || e.grade > worst)) worst = e.grade;
    const action = (e.action ?? '').toLowerCase();
    if (/reduc/.test(action)) doseReductions++;
    if (/interrupt|withheld|held/.test(action)) interruptions++;
    if (/withdraw|stop|cessat|discontinu/.test(action)) cessations++;
  }
  return { events: events.length, byTerm, worstGrade: worst, byCausality, doseReductions, interruptions, cessations };
}
