import { describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { codecDescription, denseTarget } from '../../src/labels/codec.js';
import { isTargetMode, TARGET_CODECS, TARGET_MODES, targetCodec } from '../../src/labels/targets.js';
import { seededRandom } from '../helpers/random.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return isFkdError(error) ? error.code : 'not an FkdError';
  }
  return undefined;
};

describe('target codec table', () => {
  it('lists every mode once, marginal first (the default), each with a summary', () => {
    expect(TARGET_MODES).toEqual(Object.keys(TARGET_CODECS));
    expect(TARGET_MODES[0]).toBe('marginal');
    expect(TARGET_MODES).toContain('renorm');
    for (const mode of TARGET_MODES) expect(TARGET_CODECS[mode].summary.length).toBeGreaterThan(10);
  });

  it('refuses an unknown mode everywhere a mode is read, naming the modes there are', () => {
    expect(isTargetMode('hard')).toBe(false);
    expect(isTargetMode('toString')).toBe(false);
    for (const mode of TARGET_MODES) expect(isTargetMode(mode)).toBe(true);
    expect(code(() => targetCodec('hard' as 'marginal'))).toBe('E_USAGE');
    expect(() => targetCodec('hard' as 'marginal')).toThrow(TARGET_MODES.map((m) => `"${m}"`).join(' or '));
    expect(code(() => codecDescription(5, 'hard' as 'marginal'))).toBe('E_USAGE');
    expect(code(() => denseTarget(Uint32Array.of(0), Float32Array.of(0.5), 4, 'hard' as 'marginal'))).toBe('E_USAGE');
  });

  it('is what denseTarget applies, row by row, for every mode', () => {
    const random = seededRandom(3);
    const numClasses = 9;
    const k = 4;
    const rows = 50;
    const classes = new Uint32Array(rows * k);
    const probs = new Float32Array(rows * k);
    for (let row = 0; row < rows; row++) {
      const picked = [...Array(numClasses).keys()].sort(() => random() - 0.5).slice(0, k);
      let left = row === 0 ? 0 : random();
      for (let j = 0; j < k; j++) {
        classes[row * k + j] = picked[j]!;
        probs[row * k + j] = row === 0 ? 0 : (left *= 0.5);
      }
    }
    for (const mode of TARGET_MODES) {
      const codec = targetCodec(mode);
      const dense = denseTarget(classes, probs, numClasses, mode, new Float32Array(rows * numClasses));
      for (let row = 0; row < rows; row++) {
        let sum = 0;
        for (let j = 0; j < k; j++) sum += probs[row * k + j]!;
        const want = new Float32Array(numClasses).fill(codec.rest(sum, k, numClasses));
        for (let j = 0; j < k; j++) want[classes[row * k + j]!] = codec.top(probs[row * k + j]!, sum, k);
        expect(dense.subarray(row * numClasses, (row + 1) * numClasses), `${mode} row ${row}`).toEqual(want);
      }
    }
  });
});
