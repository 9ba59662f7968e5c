import { describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { checkAllocation, memoryBudget, threadCap } from '../../src/options/memory.js';
import { choice, decimal, decimalFromText, integer, integerFromText, numbers } from '../../src/options/schema.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isFkdError(error, 'E_USAGE'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('strict option text', () => {
  it('reads integers exactly: no hex, exponents, fractions or rounding past 2^53', () => {
    expect(integerFromText('16')).toBe(16);
    expect(integerFromText(' 9007199254740991 ')).toBe(Number.MAX_SAFE_INTEGER);
    for (const text of ['0x10', '1e3', '1.0', '', '9007199254740993', '9007199254740992', 'Infinity', '0b1', '1_000']) {
      expect(integerFromText(text), text).toBeUndefined();
    }
  });

  it('reads finite decimals and p/q fractions, nothing else', () => {
    expect(decimalFromText('0.5')).toBe(0.5);
    expect(decimalFromText('1e-3')).toBe(0.001);
    expect(decimalFromText('3/4')).toBe(0.75);
    for (const text of ['0x10', 'NaN', 'Infinity', '1e400', '', '1/0', 'abc']) expect(decimalFromText(text), text).toBeUndefined();
  });
});

describe('fields', () => {
  const crops = integer({ flag: '--crops', summary: 'crops', min: 1, max: 100 });

  it('names the flag on the CLI and the property in the library, with the range', () => {
    expect(refusal(() => crops.parse('0x10', '--crops'))).toBe('Expected an integer in 1..100 for --crops but received "0x10".');
    expect(refusal(() => crops.check(0, 'crops'))).toBe('Expected an integer in 1..100 for crops but received 0.');
    expect(refusal(() => crops.check('4', 'crops'))).toMatch(/received "4"/);
    expect(crops.parse('7', '--crops')).toBe(7);
  });

  it('applies a run-time cap and says why', () => {
    const threads = integer({ flag: '--threads', summary: 'threads', min: 1, max: 4096, cap: () => threadCap() });
    const { max } = threadCap();
    expect(threads.check(max, 'threads')).toBe(max);
    expect(refusal(() => threads.parse('100000', '--threads'))).toMatch(new RegExp(`1\\.\\.${max} .*At most 4 per core`));
  });

  it('refuses non-finite and out-of-range numbers, lists and choices', () => {
    const t = decimal({ flag: '--temperature', summary: 't', min: 0, max: 10, openMin: true });
    for (const value of [Number.NaN, -1, 0, Infinity, 11]) refusal(() => t.check(value, 'temperature'));
    const scale = numbers({ flag: '--scale', summary: 's', count: 2, min: 0, max: 1, openMin: true, ascending: true });
    expect(scale.parse('0.08,1', '--scale')).toEqual([0.08, 1]);
    for (const text of ['0.5,2', '1,0.5', '0,1', '0.5', '0.5,1,1', 'a,b']) refusal(() => scale.parse(text, '--scale'));
    const dtype = choice({ flag: '--dtype', summary: 'd', choices: ['float32', 'uint8'] as const });
    expect(refusal(() => dtype.check('float16', 'dtype'))).toMatch(/one of float32, uint8 for dtype but received "float16"/);
  });
});

describe('memory budget', () => {
  it('refuses an allocation above the budget with the figure and the product that sized it', () => {
    const budget = memoryBudget(1024);
    expect(budget.bytes).toBe(2 ** 30);
    checkAllocation('x', 2 ** 30, 'f', budget, '');
    expect(refusal(() => checkAllocation('The teacher batch', 2 ** 31, '--batch 2 × 2²', budget, 'Lower --batch.'))).toBe(
      'The teacher batch would need 2.0 GiB (--batch 2 × 2²), above the memory budget of 1.0 GiB (memory 1024). Lower --batch.',
    );
  });

  it('defaults to half of the machine or container', () => {
    expect(memoryBudget().bytes).toBeGreaterThan(0);
    expect(memoryBudget().source).toMatch(/^half of this/);
  });
});
