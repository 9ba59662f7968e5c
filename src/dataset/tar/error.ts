import { FkdError } from '../../errors.js';

/**
 * The rules a tar shard is held to (docs/FORMAT.md, "Tar shards"). Each refusal names one, so a
 * script can tell a truncated download (`truncated`) from a hostile archive (`parent-name`).
 */
export type TarRule =
  | 'truncated'
  | 'size-beyond-file'
  | 'bad-checksum'
  | 'bad-number'
  | 'member-too-large'
  | 'absolute-name'
  | 'parent-name'
  | 'nul-in-name'
  | 'bad-name'
  | 'bad-pax'
  | 'unsupported-type'
  | 'no-extension'
  | 'duplicate-key'
  | 'no-image'
  | 'two-images'
  | 'no-class'
  | 'bad-class';

/**
 * A tar shard broke a rule: `E_BAD_TAR`, naming the shard, the member (its name as far as it
 * could be read, or the header's byte offset) and the rule.
 */
export class TarError extends FkdError {
  readonly shard: string;
  readonly member: string;
  readonly rule: TarRule;

  constructor(shard: string, member: string, rule: TarRule, detail: string) {
    super('E_BAD_TAR', `${shard}: member ${member}: ${detail} [rule ${rule}]. The shard is damaged or was not written as a WebDataset tar; re-pack or re-download it.`, { path: shard });
    this.shard = shard;
    this.member = member;
    this.rule = rule;
  }
}
