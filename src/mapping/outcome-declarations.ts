/**
 * The outcomes section of study.json: each outcome picks a rule from the catalogue of parameterised
 * pure functions (src/outcomes/compute/catalogue.ts) and gives it its parameters: input measures
 * by id, visits, thresholds with UCUM units, whether it is primary, and the source it comes from.
 * Also the declared eligibility criteria and the arms' interventions. Shapes only; what refers to
 * what (measures, visits, forms, unit compatibility) is checked in check-declarations.ts.
 */
import * as z from 'zod';

const id = z.string().regex(/^[a-z0-9-]+$/, { error: 'ids are lower-case words joined by hyphens' });
/** A decimal as the protocol writes it: a number, or a string such as "1.0" kept for display. */
const decimal = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?$/)]);
const comparator = z.enum(['<', '<=', '>', '>=']);
const category = z.strictObject({ code: id, display: z.string().min(1) });
const code = z.strictObject({ id, display: z.string().min(1) });

const common = {
  /** The outcome's code in the trial-outcomes CodeSystem. */
  id,
  display: z.string().min(1),
  primary: z.boolean().default(false),
  /** What the rule implements: the registry record or protocol section, cited in method and Provenance. */
  source: z.string().min(1),
  /** The rule id published in Observation.method and Provenance.policy; the catalogue rule by default. */
  ruleId: z
    .string()
    .regex(/^[a-z0-9.-]+$/)
    .optional(),
  /** Visits the outcome is computed at; by default the visits its measure is due at, baseline excepted. */
  visits: z.array(z.string()).min(1).optional(),
};

const ChangeFromBaseline = z.strictObject({
  ...common,
  rule: z.literal('change-from-baseline'),
  measure: z.string(),
  /** The percent change, published under its own code. */
  percentChange: code.optional(),
});

const VolumeCategory = z.strictObject({
  ...category.shape,
  /** Percent change from baseline that puts a value in this category; the last category has none (otherwise). */
  percentChange: z.strictObject({ comparator: z.enum(['=', '<', '<=', '>', '>=']), value: z.number() }).optional(),
});

const VolumeResponse = z.strictObject({
  ...common,
  rule: z.literal('volume-response'),
  measure: z.string(),
  percentChange: code.optional(),
  /** Checked in order: the first whose condition holds. */
  categories: z.array(VolumeCategory).min(2),
});

const Condition = z.strictObject({
  measure: z.string(),
  comparator,
  value: z.number(),
  unit: z.string().min(1),
  /** Required only when the baseline value was measured and did not meet the condition. */
  onlyIfBaselineNotMet: z.boolean().default(false),
});

const ThresholdResponse = z.strictObject({
  ...common,
  rule: z.literal('threshold-response'),
  combine: z.enum(['all', 'any']),
  conditions: z.array(Condition).min(1),
  met: category,
  notMet: category,
});

const TroughStatus = z.strictObject({
  ...common,
  rule: z.literal('trough-target'),
  /** The trough measure; the target is the arm's intervention's troughTarget for this measure. */
  measure: z.string(),
});

const TimeInRange = z.strictObject({
  ...common,
  rule: z.literal('time-in-range'),
  measure: z.string(),
  /** Intervals between troughs longer than this are left out (Rosendaal). */
  maxGapDays: z.number().int().positive(),
});

const ShareInRange = z.strictObject({ ...common, rule: z.literal('share-in-range'), measure: z.string() });

const DoseEstimate = z.strictObject({
  ...common,
  rule: z.literal('dose-estimate'),
  measure: z.string(),
  minIntervalDays: z.number().int().positive(),
  note: z.string().min(1),
});

const ProScore = z.strictObject({
  ...common,
  rule: z.literal('pro-score'),
  instrument: z.enum(['pedsql-4.0']),
  /** The study's forms of the instrument, one per age band. */
  forms: z.array(z.string()).min(1),
});

const MskScore = z.strictObject({
  ...common,
  rule: z.literal('musculoskeletal-score'),
  form: z.string(),
  /** The form item holding the score (1-4). */
  item: z.string().min(1),
  change: code.optional(),
});

const AdverseEventSummary = z.strictObject({ ...common, rule: z.literal('ae-summary') });
const Eligibility = z.strictObject({ ...common, rule: z.literal('eligibility') });
const VisitCompliance = z.strictObject({ ...common, rule: z.literal('visit-compliance') });

export const CATALOGUE_RULES = [
  'change-from-baseline',
  'volume-response',
  'threshold-response',
  'trough-target',
  'time-in-range',
  'share-in-range',
  'dose-estimate',
  'pro-score',
  'musculoskeletal-score',
  'ae-summary',
  'eligibility',
  'visit-compliance',
] as const;

export const OutcomeDeclaration = z.discriminatedUnion(
  'rule',
  [
    ChangeFromBaseline,
    VolumeResponse,
    ThresholdResponse,
    TroughStatus,
    TimeInRange,
    ShareInRange,
    DoseEstimate,
    ProScore,
    MskScore,
    AdverseEventSummary,
    Eligibility,
    VisitCompliance,
  ],
  { error: `rule must be one of the catalogue: ${CATALOGUE_RULES.join(', ')}` },
);

const AgeBand = z.strictObject({
  minYears: z.number().int().nonnegative(),
  maxYears: z.number().int().nonnegative(),
  value: decimal,
});

export const Criterion = z
  .strictObject({
    id,
    label: z.string().min(1),
    measure: z.string(),
    comparator,
    /** A multiple of the result's own upper limit of normal. */
    timesUln: z.number().positive().optional(),
    /** An absolute limit, in unit. */
    value: decimal.optional(),
    /** A limit per age band, in unit. */
    byAge: z.array(AgeBand).min(1).optional(),
    unit: z.string().min(1).optional(),
  })
  .refine((c) => [c.timesUln, c.value, c.byAge].filter((x) => x !== undefined).length === 1, {
    error: 'a criterion has exactly one of timesUln, value and byAge',
  })
  .refine((c) => c.timesUln !== undefined || c.unit !== undefined, { error: 'an absolute limit needs its unit' });

export const EligibilityDeclaration = z.strictObject({
  age: z
    .strictObject({ label: z.string().min(1), minYears: z.number().int().nonnegative(), maxYears: z.number().int() })
    .optional(),
  criteria: z.array(Criterion).default([]),
});

export const Intervention = z.strictObject({
  drug: z.string().min(1),
  /** RxNorm ingredient code; doses are read from medications coded with it or named as the drug. */
  rxnorm: z.string().regex(/^\d+$/),
  /** Brand or other names a medication may be recorded under. */
  otherNames: z.array(z.string().min(1)).default([]),
  troughTarget: z
    .strictObject({
      measure: z.string(),
      low: z.number().positive(),
      high: z.number().positive(),
      unit: z.string().min(1),
    })
    .refine((t) => t.low < t.high, { error: 'troughTarget.low must be below troughTarget.high' })
    .optional(),
});

/** Per measure: the CTCAE term a result outside its range is graded by, and whether to suggest it. */
export const MeasureAdverseEvent = z.strictObject({
  ctcae: z.enum([
    'platelet-count-decreased',
    'neutrophil-count-decreased',
    'alanine-aminotransferase-increased',
    'aspartate-aminotransferase-increased',
  ]),
  /** Off for a measure that is the disease itself (low platelets in Kasabach-Merritt phenomenon). */
  suggest: z.boolean(),
});

export type OutcomeDeclaration = z.infer<typeof OutcomeDeclaration>;
export type OutcomeOf<R extends OutcomeDeclaration['rule']> = Extract<OutcomeDeclaration, { rule: R }>;
export type CriterionDeclaration = z.infer<typeof Criterion>;
export type EligibilityDeclaration = z.infer<typeof EligibilityDeclaration>;
export type InterventionDeclaration = z.infer<typeof Intervention>;
