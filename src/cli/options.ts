import { InvalidArgumentError } from 'commander';

/** Commander parsers that reject bad values with "Expected … but received …". */
export function integer(min = 1): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min) throw new InvalidArgumentError(`Expected an integer ≥ ${min} but received "${value}".`);
    return number;
  };
}

export function decimal(min = -Infinity, max = Infinity): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isFinite(number) || number < min || number > max) throw new InvalidArgumentError(`Expected a number in [${min}, ${max}] but received "${value}".`);
    return number;
  };
}

export function numberList(count: number): (value: string) => number[] {
  return (value) => {
    const numbers = value.split(',').map((part) => Number(part.trim()));
    if (numbers.length !== count || numbers.some((n) => !Number.isFinite(n))) {
      throw new InvalidArgumentError(`Expected ${count} comma-separated numbers but received "${value}".`);
    }
    return numbers;
  };
}

export function range(value: string): [number, number] {
  const [low, high] = numberList(2)(value) as [number, number];
  if (!(low > 0 && low <= high)) throw new InvalidArgumentError(`Expected "low,high" with 0 < low ≤ high but received "${value}".`);
  return [low, high];
}
