/**
 * The declarative study definition (mappings/studies/<id>/study.json): what the adapter needs to
 * know about a trial, as data. Validated with zod when the service starts.
 */
import * as z from 'zod';
import { checkDeclarations, withCanonicalLimits } from './check-declarations.ts';
import {
  EligibilityDeclaration,
  Intervention,
  MeasureAdverseEvent,
  OutcomeDeclaration,
} from './outcome-declarations.ts';
import { isUcumUnit } from './ucum.ts';

const Coding = z.strictObject({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() });

const Arm = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/, { error: 'arm names are lower-case words joined by hyphens' }),
  type: z.string().min(1),
  description: z.string().min(1),
  interventions: z.array(Intervention).min(1),
});

const Visit = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9-]+$/),
    label: z.string().min(1),
    targetDay: z.number().int(),
    earliestDay: z.number().int(),
    latestDay: z.number().int(),
  })
  .refine((v) => v.earliestDay <= v.targetDay && v.targetDay <= v.latestDay, {
    error: 'a visit window must contain its target day',
  });

const Measure = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  display: z.string().min(1),
  kind: z.enum(['observation']),
  codes: z.array(Coding).min(1),
  method: Coding.optional(),
  /** Canonical UCUM unit of the trial record. */
  unit: z.string().min(1),
  /** Decimal places a clinician reads this measure to (card and trial page round to it). */
  decimals: z.number().int().min(0).max(6).default(2),
  /** g/mol, for converting molar results (nmol/L, umol/L) to mass units. */
  molarMass: z.number().positive().optional(),
  valueType: z.enum(['Quantity']),
  dueAt: z.array(z.string()).min(1),
  countsUnscheduled: z.boolean().optional(),
  selection: z.enum(['closest-to-target', 'latest-before-start']),
  /** FHIRPath reading the value from a source Observation, when it is not in valueQuantity. */
  fhirpath: z.string().min(1).optional(),
  adverseEvent: MeasureAdverseEvent.optional(),
  /**
   * Values no living patient can have, in `unit` (compared after unit conversion): a result outside
   * is refused with 422 rather than becoming a trial record. Either end may be left open.
   */
  physiologicalRange: z
    .strictObject({ low: z.number().optional(), high: z.number().optional() })
    .refine((r) => r.low === undefined || r.high === undefined || r.low < r.high, {
      error: 'physiologicalRange.low must be below physiologicalRange.high',
    })
    .optional(),
});

/** A form the study collects as a QuestionnaireResponse; the Questionnaire lives in mappings/questionnaires/. */
const Form = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/),
  /** Canonical URL of the Questionnaire (without version). */
  questionnaire: z.url(),
  dueAt: z.array(z.string()).min(1),
  /** Ages (in months, inclusive) this form is for, when the study picks a form by age. */
  ageMonths: z.strictObject({ min: z.number().int().nonnegative(), max: z.number().int().nonnegative() }).optional(),
});

/**
 * What reveals the arm in this study, hence what masked roles never see (src/ingest/arm-revealing.ts
 * labels it when it is stored; src/auth/masking.ts hides what is labelled).
 */
const Blinding = z.strictObject({
  /** Measures whose values differ by arm (e.g. a drug level whose target defines the arm). */
  measures: z.array(z.string()).default([]),
  /** Further codes for the same drug levels that no measure collects (a result an admin stores). */
  codes: z.array(Coding).default([]),
  /** Words naming the drug whose level or dose reveals the arm, matched in code texts. */
  terms: z.array(z.string().min(3)).default([]),
  /** Medications whose orders, statements, administrations or dispensations reveal the arm. */
  medications: z.array(Coding).default([]),
  /** Computed outcome kinds that reveal the arm (e.g. trough against the arm's target). */
  outcomeKinds: z.array(z.string().min(1)).default([]),
  /** Study forms whose answers reveal the arm. */
  forms: z.array(z.string()).default([]),
});

export const StudyDefinitionSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9-]{1,64}$/, { error: 'the study id becomes the ResearchStudy id: [a-z0-9-]' }),
    identifier: z.strictObject({ system: z.string().min(1), value: z.string().min(1) }),
    secondaryIdentifiers: z.array(z.strictObject({ system: z.string().min(1), value: z.string().min(1) })).default([]),
    title: z.string().min(1),
    /** What clinicians call the study, for labels where the title would not fit (the CDS card's source). */
    shortName: z.string().min(1).max(40).optional(),
    /**
     * The id of the study's Measure (its canonical URL ends in Measure/<id>), which its MeasureReports
     * cite; `<study id>-outcomes` when absent.
     */
    measureId: z
      .string()
      .regex(/^[A-Za-z0-9\-.]{1,64}$/)
      .optional(),
    status: z.enum([
      'active',
      'administratively-completed',
      'approved',
      'closed-to-accrual',
      'closed-to-accrual-and-intervention',
      'completed',
      'disapproved',
      'in-review',
      'temporarily-closed-to-accrual',
      'temporarily-closed-to-accrual-and-intervention',
      'withdrawn',
    ]),
    phase: z.string().min(1),
    condition: z.strictObject({ coding: z.array(Coding), text: z.string() }),
    startDate: z.iso.date(),
    enrollmentTarget: z.number().int().positive(),
    masking: z.string(),
    sponsor: z.string(),
    principalInvestigator: z.string(),
    arms: z.array(Arm).min(1),
    visitsNote: z.string().optional(),
    visits: z.array(Visit).min(1),
    /** The visit whose values changes are measured from. */
    baselineVisit: z.string(),
    measures: z.array(Measure).min(1),
    forms: z.array(Form).default([]),
    armRevealing: Blinding.default({
      measures: [],
      codes: [],
      terms: [],
      medications: [],
      outcomeKinds: [],
      forms: [],
    }),
    eligibility: EligibilityDeclaration.optional(),
    outcomes: z.array(OutcomeDeclaration).default([]),
  })
  .superRefine((s, ctx) => {
    const dup = (label: string, ids: string[]): void => {
      const seen = new Set<string>();
      for (const id of ids) {
        if (seen.has(id)) ctx.addIssue({ code: 'custom', message: `duplicate ${label} "${id}"` });
        seen.add(id);
      }
    };
    dup(
      'arm',
      s.arms.map((a) => a.name),
    );
    dup(
      'visit',
      s.visits.map((v) => v.id),
    );
    dup(
      'measure',
      s.measures.map((m) => m.id),
    );
    for (const m of s.measures) {
      if (!isUcumUnit(m.unit))
        ctx.addIssue({ code: 'custom', message: `measure ${m.id}: "${m.unit}" is not a UCUM unit` });
    }
    for (const a of s.arms) {
      for (const i of a.interventions) {
        if (i.troughTarget && !isUcumUnit(i.troughTarget.unit)) {
          ctx.addIssue({ code: 'custom', message: `arm ${a.name}: "${i.troughTarget.unit}" is not a UCUM unit` });
        }
      }
    }
    const visits = new Set(s.visits.map((v) => v.id));
    dup(
      'form',
      s.forms.map((f) => f.id),
    );
    const measureIds = new Set(s.measures.map((m) => m.id));
    for (const id of s.armRevealing.measures) {
      if (!measureIds.has(id)) ctx.addIssue({ code: 'custom', message: `armRevealing names unknown measure "${id}"` });
    }
    const formIds = new Set(s.forms.map((f) => f.id));
    for (const id of s.armRevealing.forms) {
      if (!formIds.has(id)) ctx.addIssue({ code: 'custom', message: `armRevealing names unknown form "${id}"` });
    }
    for (const m of [...s.measures, ...s.forms]) {
      for (const v of m.dueAt) {
        if (!visits.has(v)) ctx.addIssue({ code: 'custom', message: `measure ${m.id} is due at unknown visit "${v}"` });
      }
    }
    for (const p of checkDeclarations(s)) ctx.addIssue({ code: 'custom', message: p.message, path: p.path });
  })
  .transform(withCanonicalLimits);

export type StudyDefinition = z.output<typeof StudyDefinitionSchema>;
export type StudyArm = StudyDefinition['arms'][number];
export type StudyVisit = StudyDefinition['visits'][number];
export type StudyMeasure = StudyDefinition['measures'][number];
export type StudyForm = StudyDefinition['forms'][number];
export type StudyBlinding = StudyDefinition['armRevealing'];
