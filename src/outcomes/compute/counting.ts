/**
 * Of several values of a measure in one visit window, the one that counts, by the rule the study
 * declares for the measure (src/records/visit-window.ts selectCounting). All values stay stored;
 * only the outcomes read the counting one.
 */
import type { StudyDefinition } from '../../mapping/study-definition.ts';
import { selectCounting } from '../../records/visit-window.ts';
import type { MeasureValue, SubjectInputs } from '../subject-inputs.ts';

export type CountingValues = Map<string, Map<string, MeasureValue>>;

/** measureId → visit → the counting value. */
export function countingValues(inputs: SubjectInputs): CountingValues {
  const out: CountingValues = new Map();
  const study: StudyDefinition = inputs.study;
  for (const m of study.measures) {
    const perVisit = new Map<string, MeasureValue>();
    for (const visit of study.visits) {
      const candidates = inputs.values.filter((v) => v.measureId === m.id && v.visit === visit.id);
      const picked = selectCounting(
        candidates.map((c) => ({ key: c.ref, day: c.day, effective: c.effective })),
        visit,
        m.selection,
      );
      const value = picked && candidates.find((c) => c.ref === picked.key);
      if (value) perVisit.set(visit.id, value);
    }
    out.set(m.id, perVisit);
  }
  return out;
}
