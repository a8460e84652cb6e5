/** Laboratory adverse events suggested from results, graded by CTCAE v4.03, for an investigator to confirm. */

export type LabAeTerm =
  | 'platelet-count-decreased'
  | 'neutrophil-count-decreased'
  | 'alanine-aminotransferase-increased'
  | 'aspartate-aminotransferase-increased';

export interface LabAeSuggestion {
  term: LabAeTerm;
  display: string;
  /** MedDRA code of the CTCAE v4.03 term (domain notes 4.3). */
  meddra: string;
  grade: 1 | 2 | 3 | 4;
}

const TERMS: Record<LabAeTerm, { display: string; meddra: string }> = {
  'platelet-count-decreased': { display: 'Platelet count decreased', meddra: '10035528' },
  'neutrophil-count-decreased': { display: 'Neutrophil count decreased', meddra: '10029366' },
  'alanine-aminotransferase-increased': { display: 'Alanine aminotransferase increased', meddra: '10001551' },
  'aspartate-aminotransferase-increased': { display: 'Aspartate aminotransferase increased', meddra: '10003481' },
};

function suggestion(term: LabAeTerm, grade: 1 | 2 | 3 | 4): LabAeSuggestion {
  return { term, grade, ...TERMS[term] };
}

// CTCAE v4.03 Platelet count decreased (x10^9/L): G1 <LLN–75; G2 <75–50; G3 <50–25; G4 <25.
export function plateletCountDecreased(value: number, lln: number | undefined): LabAeSuggestion | undefined {
  if (value < 25) return suggestion('platelet-count-decreased', 4);
  if (value < 50) return suggestion('platelet-count-decreased', 3);
  if (value < 75) return suggestion('platelet-count-decreased', 2);
  if (lln !== undefined && value < lln) return suggestion('platelet-count-decreased', 1);
  return undefined;
}

// CTCAE v4.03 Neutrophil count decreased (x10^9/L): G1 <LLN–1.5; G2 <1.5–1.0; G3 <1.0–0.5; G4 <0.5.
export function neutrophilCountDecreased(value: number, lln: number | undefined): LabAeSuggestion | undefined {
  if (value < 0.5) return suggestion('neutrophil-count-decreased', 4);
  if (value < 1.0) return suggestion('neutrophil-count-decreased', 3);
  if (value < 1.5) return suggestion('neutrophil-count-decreased', 2);
  if (lln !== undefined && value < lln) return suggestion('neutrophil-count-decreased', 1);
  return undefined;
}

// CTCAE v4.03 ALT/AST increased: G1 >ULN–3.0×ULN; G2 >3.0–5.0×ULN; G3 >5.0–20.0×ULN; G4 >20.0×ULN.
export function aminotransferaseIncreased(
  term: 'alanine-aminotransferase-increased' | 'aspartate-aminotransferase-increased',
  value: number,
  uln: number | undefined,
): LabAeSuggestion | undefined {
  if (uln === undefined || uln <= 0) return undefined;
  const x = value / uln;
  if (x > 20) return suggestion(term, 4);
  if (x > 5) return suggestion(term, 3);
  if (x > 3) return suggestion(term, 2);
  if (x > 1) return suggestion(term, 1);
  return undefined;
}
