import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OperationOutcomeError, validateResource } from '@medplum/core';
import type { ResearchSubject } from '@medplum/fhirtypes';
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
