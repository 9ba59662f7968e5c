import { choice, decimal, integer, text } from '../options/schema.js';

/** `fkd verify` and `verifyStore()`. */
export const VERIFY_SCHEMA = {
  data: text({ flag: '--data', value: '<dir>', summary: 'the ImageFolder tree the labels were made from, or its shard set from fkd pack (folder, pattern, list file or s3://)' }),
  teacher: text({ flag: '--teacher', value: '<model>', summary: 'the teacher model, to re-run on sampled crops (needs --data)' }),
  sample: integer({ flag: '--sample', summary: 'records to re-check with the teacher', min: 1, max: 1_000_000 }),
  tolerance: decimal({ flag: '--tolerance', value: '<r>', summary: 'largest accepted relative error of a stored probability', min: 0, max: 1 }),
  seed: integer({ flag: '--seed', summary: 'which records are sampled', min: 0, max: Number.MAX_SAFE_INTEGER }),
  device: choice({ flag: '--device', value: '<device>', summary: 'execution device for the teacher', choices: ['cpu', 'cuda'] as const }),
};

export const VERIFY_DEFAULTS = { sample: 200, tolerance: 0.01, seed: 0, device: 'cpu' as const };
