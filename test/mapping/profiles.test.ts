import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { Observation, ResearchSubject, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { loadStudyDefinitions } from '../../src/mapping/load-studies.ts';
import { renderProfiles } from '../../src/mapping/profile-build/build.ts';
import { PROFILE_BASE } from '../../src/mapping/profile-build/profile-base.ts';
import { loadProfiles } from '../../src/mapping/profiles.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('profiles/', () => {
  it('holds exactly what the profile build produces (no hand-edited snapshots)', async () => {
    const studies = await loadStudyDefinitions(join(ROOT, 'mappings', 'studies'));
    const rendered = renderProfiles(studies);
    expect(rendered.size).toBeGreaterThan(20);
    for (const [file, text] of rendered) {
      expect(readFileSync(join(ROOT, 'profiles', file), 'utf8'), file).toBe(text);
    }
    // And nothing else: a profile the build no longer produces (a renamed measure) is not left behind.
    expect(readdirSync(join(ROOT, 'profiles')).sort()).toEqual([...rendered.keys()].sort());
  });

  it('loads snapshot profiles that the validator enforces', async () => {
    const profiles = await loadProfiles(join(ROOT, 'profiles'));
    const profile = profiles.get(`${PROFILE_BASE}/trial-research-subject`);
    expect(profile?.snapshot?.element.length).toBeGreaterThan(10);
    const ok: ResearchSubject = {
      resourceType: 'ResearchSubject',
      status: 'on-study',
      study: { reference: 'ResearchStudy/nct04775173' },
      individual: { reference: 'Patient/p1' },
      assignedArm: 'low-dose',
      period: { start: '2022-01-10' },
    };
    expect(() => validateResource(ok, { profile })).not.toThrow();
    const cases: [string, ResearchSubject][] = [
      ['no treatment start', { ...ok, period: { end: '2023-01-10' } }],
      ['no arm', { ...ok, assignedArm: undefined } as ResearchSubject],
      ['not a patient', { ...ok, individual: { reference: 'Group/g1' } }],
    ];
    for (const [name, bad] of cases) {
      if (bad.assignedArm === undefined) delete bad.assignedArm;
      let err: unknown;
      try {
        validateResource(bad, { profile });
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(OperationOutcomeError);
    }
  });
});

const BUILD = join(ROOT, 'src', 'mapping', 'profile-build', 'build.ts');
const EXAMPLE = join(ROOT, 'test', 'fixtures', 'studies', 'EXAMPLE-EVEROLIMUS');
const UCUM = 'http://unitsofmeasure.org';

/** Runs `npm run profiles:build`'s script with STUDIES_DIR and PROFILES_DIR set, as an operator would. */
function build(studiesDir: string, profilesDir: string): void {
  execFileSync(process.execPath, [BUILD], {
    cwd: ROOT,
    env: { ...process.env, STUDIES_DIR: studiesDir, PROFILES_DIR: profilesDir },
    stdio: 'pipe',
  });
}

const read = (dir: string, id: string): StructureDefinition =>
  JSON.parse(readFileSync(join(dir, `StructureDefinition-${id}.json`), 'utf8')) as StructureDefinition;

const verdict = (r: Observation, profile: StructureDefinition): string => {
  try {
    validateResource(r, { profile });
    return 'valid';
  } catch (e) {
    if (e instanceof OperationOutcomeError) return 'invalid';
    throw e;
  }
};

describe('npm run profiles:build for another study folder', () => {
  it('honours STUDIES_DIR and PROFILES_DIR: the example study gets its own profiles, ids and units', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'profiles-'));
    try {
      const studies = join(tmp, 'studies');
      cpSync(EXAMPLE, join(studies, 'EXAMPLE-EVEROLIMUS'), { recursive: true });
      const out = join(tmp, 'out');
      // A leftover of an older build in the folder is removed; another file is left alone.
      cpSync(join(ROOT, 'profiles', 'StructureDefinition-trial-record-nct04775173-platelets.json'), join(tmp, 'x'));
      build(studies, out);
      writeFileSync(join(out, 'README.txt'), 'kept');
      cpSync(join(tmp, 'x'), join(out, 'StructureDefinition-trial-record-old.json'));
      build(studies, out);
      const files = readdirSync(out);
      expect(files).toContain('README.txt');
      expect(files).not.toContain('StructureDefinition-trial-record-old.json');
      expect(files.filter((f) => f.includes('nct04775173'))).toEqual([]);
      for (const id of [
        'measure-result-example-everolimus-hemoglobin',
        'trial-record-example-everolimus-fibrinogen-mass',
        'trial-outcome-example-everolimus-haematological-response',
        'trial-outcome-example-everolimus-hemoglobin-change',
        'trial-outcome-example-everolimus-lesion-category',
        'trial-outcome-example-everolimus-lesion-percent-change',
        'trial-outcome-example-everolimus-everolimus-status',
        'trial-outcome-example-everolimus-eligible',
      ]) {
        expect(files, id).toContain(`StructureDefinition-${id}.json`);
      }
      // The record of the mg/dL fibrinogen measure, and the change of haemoglobin kept in g/dL.
      expect(JSON.stringify(read(out, 'trial-record-example-everolimus-fibrinogen-mass'))).toContain("code = 'mg/dL'");
      const change = read(out, 'trial-outcome-example-everolimus-hemoglobin-change');
      const obs = (unit: string): Observation => ({
        resourceType: 'Observation',
        identifier: [{ system: 'urn:test', value: '1' }],
        meta: { tag: [{ system: 'https://khe-trial.example.org/fhir/CodeSystem/record-kind', code: 'outcome' }] },
        extension: [
          {
            url: 'http://hl7.org/fhir/StructureDefinition/workflow-researchStudy',
            valueReference: { reference: 'ResearchStudy/example-everolimus' },
          },
          {
            url: 'https://khe-trial.example.org/fhir/StructureDefinition/research-subject',
            valueReference: { reference: 'ResearchSubject/rs-1' },
          },
          {
            url: 'https://khe-trial.example.org/fhir/StructureDefinition/visit',
            valueCoding: { system: 'https://khe-trial.example.org/fhir/CodeSystem/trial-visit', code: 'week-12' },
          },
        ],
        status: 'final',
        code: {
          coding: [
            { system: 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes', code: 'hemoglobin-change' },
          ],
        },
        valueQuantity: { value: 2.7, unit, system: UCUM, code: unit },
      });
      expect(verdict(obs('g/dL'), change)).toBe('valid');
      expect(verdict(obs('g/L'), change)).toBe('invalid');
      // The categories are the declared ones: "responder", not NCT04775173's "response".
      const primary = read(out, 'trial-outcome-example-everolimus-haematological-response');
      const coded = (code: string): Observation => {
        const { valueQuantity: _q, ...rest } = obs('g/dL');
        return {
          ...rest,
          code: {
            coding: [
              {
                system: 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes',
                code: 'haematological-response',
              },
            ],
          },
          valueCodeableConcept: {
            coding: [{ system: 'https://khe-trial.example.org/fhir/CodeSystem/trial-outcomes', code }],
          },
        };
      };
      expect(verdict(coded('responder'), primary)).toBe('valid');
      expect(verdict(coded('response'), primary)).toBe('invalid');
      // Another study's outcome is not this study's.
      const other = obs('g/dL');
      other.extension = [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/workflow-researchStudy',
          valueReference: { reference: 'ResearchStudy/nct04775173' },
        },
        ...(other.extension ?? []).slice(1),
      ];
      expect(verdict(other, change)).toBe('invalid');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);

  it('gives one measure id of two studies two profiles, each in its own unit', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'profiles-'));
    try {
      const studies = join(tmp, 'studies');
      cpSync(join(ROOT, 'mappings', 'studies'), studies, { recursive: true });
      // The example study with its mg/dL fibrinogen measure named "fibrinogen", like NCT04775173's g/L one.
      const text = readFileSync(join(EXAMPLE, 'study.json'), 'utf8').replaceAll('"fibrinogen-mass"', '"fibrinogen"');
      cpSync(EXAMPLE, join(studies, 'EXAMPLE-EVEROLIMUS'), { recursive: true });
      writeFileSync(join(studies, 'EXAMPLE-EVEROLIMUS', 'study.json'), text);
      const out = join(tmp, 'out');
      build(studies, out);
      const unitOf = (id: string) =>
        /system = 'http:\/\/unitsofmeasure\.org' and code = '([^']+)'/.exec(JSON.stringify(read(out, id)))?.[1];
      expect(unitOf('trial-record-nct04775173-fibrinogen')).toBe('g/L');
      expect(unitOf('trial-record-example-everolimus-fibrinogen')).toBe('mg/dL');
      // The default studies' profiles are among them, exactly as committed.
      const committed = await loadStudyDefinitions(join(ROOT, 'mappings', 'studies'));
      for (const [file, body] of renderProfiles(committed)) {
        if (file.includes('nct04775173')) expect(readFileSync(join(out, file), 'utf8'), file).toBe(body);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
