/** PedsQL 4.0 scale, summary and total scores, and the form a child's age calls for. */
import { round } from './exact-decimal.ts';

export interface PedsqlScale {
  /** Scale id as the Questionnaire's group linkId: PF, EF, SF, SC (Generic Core); PF, PS, EF, SF, CF (Infant). */
  id: string;
  items: readonly string[];
}

export interface PedsqlScores {
  scales: Record<string, number | undefined>;
  /** Physical and psychosocial summaries, as the form defines them. */
  summaries: Record<string, number | undefined>;
  total: number | undefined;
  /** Items answered / items on the form. */
  answered: number;
  items: number;
}

// PedsQL scoring manual (pedsql.org/score.html): raw 0→100, 1→75, 2→50, 3→25, 4→0.
export function transformItem(raw: number): number | undefined {
  return Number.isInteger(raw) && raw >= 0 && raw <= 4 ? 100 - 25 * raw : undefined;
}

function mean(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : round(values.reduce((a, b) => a + b, 0) / values.length, 2);
}

// PedsQL scoring manual: scale = mean of answered items, not computed if more than 50% are missing;
// psychosocial summary and total = means over all answered items of their scales (pooled, not means of means).
export function scorePedsql(
  scales: readonly PedsqlScale[],
  summaries: Readonly<Record<string, readonly string[]>>,
  answers: ReadonlyMap<string, unknown>,
): PedsqlScores {
  const transformed = new Map<string, number[]>();
  const scaleScores: Record<string, number | undefined> = {};
  let answered = 0;
  let items = 0;
  for (const s of scales) {
    const values: number[] = [];
    for (const item of s.items) {
      const raw = answers.get(item);
      const t = typeof raw === 'number' ? transformItem(raw) : undefined;
      if (t !== undefined) values.push(t);
    }
    transformed.set(s.id, values);
    answered += values.length;
    items += s.items.length;
    const missing = s.items.length - values.length;
    scaleScores[s.id] = missing * 2 > s.items.length ? undefined : mean(values);
  }
  // The manual's 50% rule is stated for scales; summaries pool whatever items were answered.
  const pooled = (ids: readonly string[]): number | undefined => mean(ids.flatMap((id) => transformed.get(id) ?? []));
  const summaryScores: Record<string, number | undefined> = {};
  for (const [name, ids] of Object.entries(summaries)) summaryScores[name] = pooled(ids);
  return { scales: scaleScores, summaries: summaryScores, total: pooled(scales.map((s) => s.id)), answered, items };
}

/** Whole months between birth and the visit date (calendar months, as the form's age bands count). */
export function ageInMonths(birthDate: string, onDate: string): number | undefined {
  const b = /^(\d{4})-(\d{2})-(\d{2})/.exec(birthDate);
  const d = /^(\d{4})-(\d{2})-(\d{2})/.exec(onDate);
  if (!b || !d) return undefined;
  let months = (Number(d[1]) - Number(b[1])) * 12 + (Number(d[2]) - Number(b[2]));
  if (Number(d[3]) < Number(b[3])) months--;
  return months;
}

export interface AgeBand {
  id: string;
  min: number;
  max: number;
}

// Registry record NCT04775173: Infant Scales under 2 years, Generic Core Scales 2–18 years, by age band.
export function formForAge(bands: readonly AgeBand[], months: number): string | undefined {
  return bands.find((b) => months >= b.min && months <= b.max)?.id;
}
