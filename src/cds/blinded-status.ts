/**
 * What a user declared blinded may see of a child's trial status: nothing that tells the arm. The
 * arm, its trough target, every trough and Flags labelled arm-revealing are left out (a single-masked
 * study's outcomes assessor must not learn the allocation). Pure.
 */
import type { TrialStatus } from './trial-status.ts';

export function blindedStatus(s: TrialStatus): TrialStatus {
  return {
    ...s,
    blinded: true,
    arm: undefined,
    // Whether the arm has a drug level to target at all tells the arm when only one arm has.
    trough: undefined,
    target: undefined,
    lastTrough: undefined,
    troughs: [],
    activeFlags: s.activeFlags.filter((f) => !f.armRevealing),
  };
}
