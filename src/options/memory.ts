import { availableParallelism, totalmem } from 'node:os';
import { FkdError } from '../errors.js';

/**
 * What a run may plan to allocate. Options whose product sizes a buffer (crops × batch ×
 * size², epochs × images per shard, …) are checked against it before anything loads, so a
 * typo fails in a second with the figure instead of after minutes of swapping, and a pod
 * is not killed by its memory limit half-way.
 */
export interface MemoryBudget {
  bytes: number;
  /** Where the figure came from, for messages: "half of this machine's 23.5 GiB". */
  source: string;
}

/**
 * Half of the machine's memory, or of the container's limit when the process runs under
 * one (cgroups, as on Kubernetes): the rest is left to the teacher's own activations, the
 * decoder and the OS. `mebibytes` overrides it.
 *
 * @example
 * memoryBudget().bytes;   // 12.6e9 on a 24 GiB machine
 * memoryBudget(4096);     // { bytes: 4294967296, source: 'memory 4096' }
 */
export function memoryBudget(mebibytes?: number, name = 'memory'): MemoryBudget {
  if (mebibytes !== undefined) return { bytes: mebibytes * 2 ** 20, source: `${name} ${mebibytes}` };
  const machine = totalmem();
  // process.constrainedMemory() is the cgroup limit (0 or a huge number when there is none).
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  const limited = constrained > 0 && constrained < machine;
  const total = limited ? constrained : machine;
  return { bytes: Math.floor(total / 2), source: `half of this ${limited ? "container's limit" : "machine's memory"}, ${formatBytes(total)}` };
}

/** Refuses a planned allocation above the budget, naming the product that sized it and what to lower. */
export function checkAllocation(what: string, bytes: number, formula: string, budget: MemoryBudget, advice: string): void {
  if (bytes <= budget.bytes) return;
  throw new FkdError(
    'E_USAGE',
    `${what} would need ${formatBytes(bytes)} (${formula}), above the memory budget of ${formatBytes(budget.bytes)} (${budget.source}). ${advice}`,
  );
}

/** Engine threads beyond a few per core only add stacks and contention. */
export function threadCap(perCore = 4): { max: number; why: string } {
  const cores = availableParallelism();
  return { max: cores * perCore, why: `At most ${perCore} per core: this machine has ${cores}.` };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}
