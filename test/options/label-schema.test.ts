import { describe, expect, it } from 'vitest';
import { LABEL_DEFAULTS, LABEL_SCHEMA, resolveLabelOptions } from '../../src/generate/options.js';

describe('LABEL_DEFAULTS', () => {
  it('has one default per option, and every default passes its own field', () => {
    for (const [key, value] of Object.entries(LABEL_DEFAULTS)) {
      expect(LABEL_SCHEMA[key as keyof typeof LABEL_SCHEMA].check(value, key)).toEqual(value);
    }
    const resolved = resolveLabelOptions({ data: 'd', teacher: 't', out: 'o' });
    expect(resolved).toMatchObject(LABEL_DEFAULTS);
  });

});
