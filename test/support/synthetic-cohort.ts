/** The synthetic cohort lives beside `npm run demo`, which loads it into a running service. */
export * from '../../src/cli/synthetic-cohort.ts';
