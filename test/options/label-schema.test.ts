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

  it('leaves out only the options that cannot have one, so a new option without a default is noticed', () => {
    const required = ['data', 'teacher', 'out'];
    // Their defaults depend on the dataset, the model or the machine (ResolvedLabelOptions says which).
    const derived = ['topK', 'size', 'threads', 'renderThreads', 'memory'];
    const optional = ['classMap', 'like'];
    const withoutDefault = Object.keys(LABEL_SCHEMA).filter((key) => !Object.hasOwn(LABEL_DEFAULTS, key));
    expect(withoutDefault.sort()).toEqual([...required, ...derived, ...optional].sort());
    expect(Object.keys(LABEL_DEFAULTS).filter((key) => !Object.hasOwn(LABEL_SCHEMA, key))).toEqual([]);
  });

});
