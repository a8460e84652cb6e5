/**
 * Which codes the trial uses: every study measure's codes, plus every local code a ConceptMap maps
 * onto one of them. Built once at start-up, so deciding relevance is a hash lookup.
 */
import type { Coding, ConceptMap } from '@medplum/fhirtypes';
import type { StudyBlinding, StudyDefinition } from '../mapping/study-definition.ts';
import type { FormRef, MeasureRef } from '../records/enrollment.ts';

const MAPPED_EQUIVALENCES: ReadonlySet<string> = new Set(['equivalent', 'equal']);

export class RoutingTable {
  readonly #byCode = new Map<string, MeasureRef[]>();
  /** Code systems some ConceptMap translates from: a site's local lab codes. */
  readonly #localSystems = new Set<string>();
  /** Local codes some ConceptMap mentions (mapped to a study code or not). */
  readonly #knownLocal = new Set<string>();
  readonly #forms = new Map<string, FormRef[]>();
  /** What each study declares arm-revealing (study.json armRevealing), by study id. */
  readonly #revealing = new Map<string, StudyBlinding>();
  /** Codes that name an arm-revealing drug level without being a measure's ("system|code"). */
  readonly #revealingCodes = new Set<string>();
  readonly #revealingMedications = new Set<string>();
  readonly #revealingTerms: string[] = [];

  constructor(studies: readonly StudyDefinition[], conceptMaps: readonly ConceptMap[]) {
    for (const s of studies) {
      this.#revealing.set(s.id, s.armRevealing);
      for (const c of s.armRevealing.codes) this.#revealingCodes.add(`${c.system}|${c.code}`);
      for (const c of s.armRevealing.medications) this.#revealingMedications.add(`${c.system}|${c.code}`);
      for (const t of s.armRevealing.terms) this.#revealingTerms.push(t.toLowerCase());
      for (const f of s.forms) {
        const list = this.#forms.get(f.questionnaire) ?? [];
        list.push({ studyId: s.id, formId: f.id, questionnaire: f.questionnaire });
        this.#forms.set(f.questionnaire, list);
      }
      for (const m of s.measures) {
        for (const c of m.codes) {
          this.#add(`${c.system}|${c.code}`, {
            studyId: s.id,
            measureId: m.id,
            canonical: { system: c.system, code: c.code },
          });
        }
      }
    }
    for (const map of conceptMaps) {
      for (const group of map.group ?? []) {
        if (!group.source || !group.target) continue;
        this.#localSystems.add(group.source);
        for (const el of group.element ?? []) {
          for (const t of el.target ?? []) {
            this.#knownLocal.add(`${group.source}|${el.code}`);
            if (!t.code || !MAPPED_EQUIVALENCES.has(t.equivalence ?? '')) continue;
            for (const ref of this.#byCode.get(`${group.target}|${t.code}`) ?? []) {
              this.#add(`${group.source}|${el.code}`, ref);
            }
          }
        }
      }
    }
  }

  #add(key: string, ref: MeasureRef): void {
    const list = this.#byCode.get(key) ?? [];
    if (!list.some((r) => r.studyId === ref.studyId && r.measureId === ref.measureId)) list.push(ref);
    this.#byCode.set(key, list);
  }

  /** A coding from a site's local system that no ConceptMap maps: the mapping is missing, not the need. */
  unmappedLocalCode(codings: readonly Coding[] | undefined): Coding | undefined {
    return codings?.find(
      (c) => c.system && c.code && this.#localSystems.has(c.system) && !this.#knownLocal.has(`${c.system}|${c.code}`),
    );
  }

  /** The study forms a QuestionnaireResponse.questionnaire canonical (with or without |version) stands for. */
  formsFor(canonical: string | undefined): readonly FormRef[] {
    if (!canonical) return [];
    const bar = canonical.indexOf('|');
    return this.#forms.get(bar < 0 ? canonical : canonical.slice(0, bar)) ?? [];
  }

  /** Whether the study declares this measure arm-revealing. */
  revealsArmMeasure(ref: MeasureRef): boolean {
    return this.#revealing.get(ref.studyId)?.measures.includes(ref.measureId) ?? false;
  }

  /** Whether the study declares this form's answers arm-revealing. */
  revealsArmForm(ref: FormRef): boolean {
    return this.#revealing.get(ref.studyId)?.forms.includes(ref.formId) ?? false;
  }

  /** A code some study declares as naming an arm-revealing level (beyond its measures' codes). */
  revealsArmCode(c: Coding): boolean {
    return this.#revealingCodes.has(`${c.system}|${c.code}`);
  }

  revealsArmMedication(c: Coding): boolean {
    return this.#revealingMedications.has(`${c.system}|${c.code}`);
  }

  /** The declared drug names, lower case. */
  get armRevealingTerms(): readonly string[] {
    return this.#revealingTerms;
  }

  /**
   * What decides the arm-revealing label, in canonical form: every code (standard or mapped local)
   * that stands for an arm-revealing measure, the declared extra codes, medications, terms and
   * forms. Stored with the labels (src/ingest/relabel.ts): a change means stored data may now be
   * labelled wrongly; a ConceptMap edit that touches no arm-revealing measure changes nothing.
   */
  get armLabelFingerprint(): string {
    const revealingKeys = [...this.#byCode.entries()]
      .filter(([, refs]) => refs.some((r) => this.revealsArmMeasure(r)))
      .map(([key]) => key);
    const forms = [...this.#forms.values()].flat().filter((f) => this.revealsArmForm(f));
    return JSON.stringify({
      measureCodes: revealingKeys.sort(),
      codes: [...this.#revealingCodes].sort(),
      medications: [...this.#revealingMedications].sort(),
      terms: [...this.#revealingTerms].sort(),
      forms: forms.map((f) => f.questionnaire).sort(),
    });
  }

  /** The measures the codings stand for (any coding may match), in study order. */
  measuresFor(codings: readonly Coding[] | undefined): MeasureRef[] {
    const out: MeasureRef[] = [];
    for (const c of codings ?? []) {
      if (!c.system || !c.code) continue;
      for (const r of this.#byCode.get(`${c.system}|${c.code}`) ?? []) {
        if (!out.some((o) => o.studyId === r.studyId && o.measureId === r.measureId)) out.push(r);
      }
    }
    return out;
  }
}
