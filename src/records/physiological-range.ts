/**
 * Whether a measured value is one a living patient can have, by the measure's declared
 * physiologicalRange (study.json, in the measure's canonical unit; both ends inclusive).
 */
import type { StudyMeasure } from '../mapping/study-definition.ts';

// Source: the study definition's physiologicalRange of the measure (mappings/studies/<id>/study.json).
export function outsidePhysiologicalRange(value: number, measure: StudyMeasure): string | undefined {
  const r = measure.physiologicalRange;
  if (!r) return undefined;
  if (r.low !== undefined && value < r.low) return `${measure.id} ${value} ${measure.unit} is below ${r.low}`;
  if (r.high !== undefined && value > r.high) return `${measure.id} ${value} ${measure.unit} is above ${r.high}`;
  return undefined;
}
