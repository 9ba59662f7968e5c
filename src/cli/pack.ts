import { Command, InvalidArgumentError } from 'commander';
import { pack, PACK_DEFAULTS } from '../webdataset/pack.js';
import { printJson, type CommandContext } from './context.js';
import { createProgress } from './progress.js';

export function packCommand(context: CommandContext): Command {
  return new Command('pack')
    .summary('write an ImageFolder as WebDataset tar shards')
    .description(
      'Writes the images of an ImageFolder tree, in the order the label pass uses, as WebDataset tar shards: sample i is <i>.<ext> (the image bytes, untouched) and <i>.cls (its class index), keys zero-padded to 9 digits. Every header is fixed (mode 0644, uid/gid 0, mtime 0), so the same folder always gives the same bytes. index.json, written last, lists per shard each sample\'s path, class, byte offset, size and content hash, and the class names. A label store made from the folder is usable with the shards (--data DEST) and the reverse. One shard is held in memory while it is written.',
    )
    .argument('<dir>', 'ImageFolder root: <dir>/<class>/<image>')
    .requiredOption('--out <dest>', 'where the shards and index.json go: a directory or s3://bucket/prefix')
    .option('--shard-mb <n>', 'target shard size in MiB; a shard closes before the sample that would pass it', mebibytes, PACK_DEFAULTS.shardBytes / 2 ** 20)
    .option('--prefix <name>', 'shard file names: <name>-000000.tar, …', PACK_DEFAULTS.prefix)
    .option('--on-bad-entry <policy>', 'skip: pass over bad entries of the tree (as the label pass does); fail: stop at the first', 'skip')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL); enables path-style addressing')
    .option('--json', 'print the result (the index included) as JSON')
    .action(async (dir: string, flags) => {
      if (flags.onBadEntry !== 'skip' && flags.onBadEntry !== 'fail') throw new InvalidArgumentError(`Expected skip or fail for --on-bad-entry but received "${flags.onBadEntry}".`);
      const progress = createProgress({ label: 'pack', unit: 'images' });
      let result;
      try {
        result = await pack({
          data: dir,
          out: flags.out,
          shardBytes: Math.round(flags.shardMb * 2 ** 20),
          prefix: flags.prefix,
          onBadEntry: flags.onBadEntry,
          signal: context.signal,
          onProgress: (p) => progress.update({ done: p.imagesDone, total: p.imagesTotal, fields: { shards: p.shardsDone } }),
          ...(flags.s3Endpoint === undefined ? {} : { store: { endpoint: flags.s3Endpoint } }),
        });
      } finally {
        progress.stop();
      }
      if (flags.json) {
        printJson(context, result);
        return;
      }
      context.stdout.write(`packed ${result.images} images into ${result.shards} shards (${(result.bytes / 2 ** 20).toFixed(1)} MiB) in ${result.location}\n`);
    });
}

function mebibytes(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`Expected a positive number of MiB but received "${text}".`);
  return value;
}
