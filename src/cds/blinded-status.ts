/**
 * What a user declared blinded may see of a child's trial status: nothing that tells the arm. The
 * arm, its trough target, every trough and Flags labelled arm-revealing are left out (NCT04775173 is
 * single-masked: the outcomes assessor must not learn the allocation). Pure.
 */
import type { TrialStatus } from './trial-status.ts';

export function blindedStatus(s: TrialStatus): TrialStatus {
  return {
    ...s,
    blinded: true,
    arm: undefined,
    target: undefined,
    lastTrough: undefined,
    troughs: [],
    activeFlags: s.activeFlags.filter((f) => !f.armRevealing),
  };
}
