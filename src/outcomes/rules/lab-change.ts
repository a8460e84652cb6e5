/** Change of a laboratory value from baseline, and the Kasabach-Merritt haematological response. */
import { round } from './exact-decimal.ts';

export type LabChange =
  | { status: 'evaluable'; absolute: number; percent: number | undefined }
  | { status: 'not-evaluable'; reason: string };

// Registry record NCT04775173: platelet count and fibrinogen, change from baseline at months 1, 3, 6, 12.
export function labChange(baseline: number | undefined, current: number | undefined): LabChange {
  if (baseline === undefined) return { status: 'not-evaluable', reason: 'no baseline value' };
  if (current === undefined) return { status: 'not-evaluable', reason: 'no value at this visit' };
  const absolute = round(current - baseline, 4);
  const percent = baseline === 0 ? undefined : round(((current - baseline) / baseline) * 100, 2);
  return { status: 'evaluable', absolute, percent };
}

export interface KmInputs {
  platelets: number | undefined;
  fibrinogen: number | undefined;
  fibrinogenBaseline: number | undefined;
}

export type KmResponse =
  | { status: 'evaluable'; response: boolean; fibrinogenRequired: boolean }
  | { status: 'not-evaluable'; reason: string };

// Registry record NCT04775173 (KMP response); thresholds from the study definition (defaults: platelets
// > 100 x10^9/L; fibrinogen > 1.5 g/L required only where baseline fibrinogen was low, i.e. not above it).
export function kmResponse(v: KmInputs, plateletsAbove: number, fibrinogenAbove: number): KmResponse {
  if (v.platelets === undefined) return { status: 'not-evaluable', reason: 'no platelet count at this visit' };
  const fibrinogenRequired = v.fibrinogenBaseline !== undefined && !(v.fibrinogenBaseline > fibrinogenAbove);
  if (fibrinogenRequired && v.fibrinogen === undefined) {
    return { status: 'not-evaluable', reason: 'fibrinogen was low at baseline and has no value at this visit' };
  }
  const plateletsOk = v.platelets > plateletsAbove;
  const fibrinogenOk = !fibrinogenRequired || (v.fibrinogen as number) > fibrinogenAbove;
  return { status: 'evaluable', response: plateletsOk && fibrinogenOk, fibrinogenRequired };
}
