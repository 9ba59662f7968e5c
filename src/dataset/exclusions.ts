/**
 * What the dataset scan passed over, and why. Kept apart from the scan so the label pass,
 * the store and the CLI can carry and print it without importing the file walker.
 */

/** Why an entry of the tree is not an image of the dataset. */
export const EXCLUSION_KINDS = ['hidden', 'not-image', 'unsupported-format', 'unusable-name', 'dangling-link', 'link-loop', 'special-file', 'unreadable', 'empty-class'] as const;

export type ExclusionKind = (typeof EXCLUSION_KINDS)[number];

/**
 * Kinds that look like data the user meant to include: `onBadEntry: 'throw'` stops on them.
 * Hidden files and non-image extensions are the normal clutter of a tree; an empty class is
 * a warning, since it still counts as a class.
 */
export const BAD_EXCLUSIONS: ReadonlySet<ExclusionKind> = new Set(['unsupported-format', 'unusable-name', 'dangling-link', 'link-loop', 'special-file', 'unreadable']);

/** The normal clutter of a tree, listed after everything else: nothing there needs fixing. */
export const CLUTTER_EXCLUSIONS: ReadonlySet<ExclusionKind> = new Set(['hidden', 'not-image']);

export interface ExcludedEntry {
  /** Relative to the dataset root; bytes that are not UTF-8 show as U+FFFD. */
  path: string;
  kind: ExclusionKind;
  reason: string;
}

/** Entries kept with their reason; beyond this only the counts grow, so a tree of a million stray files stays small. */
export const MAX_EXCLUSIONS_KEPT = 10_000;

/**
 * Counts every exclusion by kind and keeps the first `MAX_EXCLUSIONS_KEPT` in full.
 *
 * @example
 * const log = new ExclusionLog();
 * log.add('cat/x.bmp', 'unsupported-format', 'a .bmp file');
 * log.summary(); // '1 unsupported-format'
 */
export class ExclusionLog {
  readonly counts: Partial<Record<ExclusionKind, number>> = {};
  readonly entries: ExcludedEntry[] = [];
  total = 0;

  add(path: string, kind: ExclusionKind, reason: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    this.total++;
    if (this.entries.length < MAX_EXCLUSIONS_KEPT) this.entries.push({ path, kind, reason });
  }

  /** `3 hidden, 1 dangling-link`, or `nothing excluded`. */
  summary(): string {
    const parts = Object.entries(this.counts).map(([kind, count]) => `${count} ${kind}`);
    return parts.length ? parts.join(', ') : 'nothing excluded';
  }
}
