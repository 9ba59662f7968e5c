import { Command } from 'commander';
import { pack } from '../webdataset/pack.js';
import { PACK_DEFAULTS, PACK_SCHEMA } from '../webdataset/options.js';
import { printJson, type CommandContext } from './context.js';
import { optionOf } from './options.js';
import { createProgress } from './progress.js';

export function packCommand(context: CommandContext): Command {
  return new Command('pack')
    .summary('write an ImageFolder as WebDataset tar shards')
    .description(
      'Writes the images of an ImageFolder tree, in the order the label pass uses, as WebDataset tar shards: sample i is <i>.<ext> (the image bytes, untouched) and <i>.cls (its class index), keys zero-padded to 9 digits. Every header is fixed (mode 0644, uid/gid 0, mtime 0), so the same folder always gives the same bytes. index.json, written last, lists per shard each sample\'s path, class, byte offset, size and content hash, and the class names. A label store made from the folder is usable with the shards (--data DEST) and the reverse.',
    )
    .argument('<dir>', 'ImageFolder root: <dir>/<class>/<image>')
    .addOption(optionOf(PACK_SCHEMA.out, undefined, { required: true }))
    .addOption(optionOf(PACK_SCHEMA.shardMiB, PACK_DEFAULTS.shardMiB))
    .addOption(optionOf(PACK_SCHEMA.prefix, PACK_DEFAULTS.prefix))
    .addOption(optionOf(PACK_SCHEMA.onBadEntry, PACK_DEFAULTS.onBadEntry))
    .addOption(optionOf(PACK_SCHEMA.concurrency, PACK_DEFAULTS.concurrency))
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL); enables path-style addressing')
    .option('--json', 'print the result (the index included) as JSON')
    .action(async (dir: string, flags) => {
      const progress = createProgress({ label: 'pack', unit: 'images' });
      let result;
      try {
        result = await pack({
          data: dir,
          out: flags.out,
          shardMiB: flags.shardMib,
          prefix: flags.prefix,
          onBadEntry: flags.onBadEntry,
          concurrency: flags.concurrency,
          naming: 'cli',
          signal: context.signal,
          onProgress: (p) => progress.update({ done: p.imagesDone, total: p.imagesTotal, fields: { shards: p.shardsDone } }),
          ...(flags.s3Endpoint === undefined ? {} : { store: { s3: { endpoint: flags.s3Endpoint } } }),
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
