/**
 * Browser: the patient banner, from the EHR's own Patient record (name, date of birth and age, MRN)
 * and the study's short name, so a page opened on the wrong chart is obvious at once.
 */
import type { Patient } from '@medplum/fhirtypes';
import { el } from './dom.ts';

function nameOf(p: Patient): string {
  const n = p.name?.find((x) => x.use === 'official') ?? p.name?.find((x) => x.use === 'usual') ?? p.name?.[0];
  if (!n) return 'Name not recorded';
  if (n.text && !n.family) return n.text;
  return [n.family?.toUpperCase(), (n.given ?? []).join(' ')].filter(Boolean).join(', ');
}

/** Ages as paediatricians say them: months up to two years, then years and months. */
export function ageOf(birthDate: string, today: Date): string {
  const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
  let months = (today.getUTCFullYear() - y) * 12 + (today.getUTCMonth() + 1 - (m ?? 1));
  if (today.getUTCDate() < (d ?? 1)) months -= 1;
  if (months < 1) return `${Math.max(0, Math.floor((today.getTime() - Date.parse(birthDate)) / 86_400_000))} days`;
  if (months < 24) return `${months} months`;
  const years = Math.floor(months / 12);
  return months % 12 === 0 ? `${years} years` : `${years} years ${months % 12} months`;
}

export function mrnOf(p: Patient, mrnSystem: string | undefined): string | undefined {
  const byType = p.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'MR'));
  return (mrnSystem ? p.identifier?.find((i) => i.system === mrnSystem) : undefined)?.value ?? byType?.value;
}

export function banner(p: Patient, studyName: string, mrnSystem: string | undefined): HTMLElement {
  const dob = p.birthDate;
  return el('header', { class: 'banner', id: 'banner' }, [
    el('span', { class: 'name', id: 'banner-name' }, [nameOf(p)]),
    el('span', { id: 'banner-dob' }, [dob ? `Born ${dob} (${ageOf(dob, new Date())})` : 'Date of birth not recorded']),
    el('span', { id: 'banner-mrn' }, [`MRN ${mrnOf(p, mrnSystem) ?? 'not recorded'}`]),
    el('span', { class: 'study', id: 'banner-study' }, [studyName]),
  ]);
}
