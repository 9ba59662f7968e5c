import { Command } from 'commander';
import { finalizeStore } from '../store/writer/finalize.js';
import { openStore } from '../storage/open.js';
import { printJson, type CommandContext } from './context.js';
import { SHARDS_FIELD, workerCount } from '../generate/plan.js';
import { optionOf } from './options.js';

export function finalizeCommand(context: CommandContext): Command {
  return new Command('finalize')
    .summary('write the manifest once every shard of a sharded run exists')
    .description('Merges the finished shard entries into manifest.json. Refuses, naming the missing shards and worker slices, when any shard is absent. Safe to run again.')
    .argument('<store>', 'label store: a directory or s3://bucket/prefix')
    .addOption(optionOf({ ...SHARDS_FIELD, summary: 'worker count, to name the slices that owe missing shards (or FKD_SHARDS)' }))
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .option('--json', 'print the manifest summary as JSON')
    .action(async (location: string, flags) => {
      const store = await openStore(location, flags.s3Endpoint ? { s3: { endpoint: flags.s3Endpoint } } : {});
      const shards = flags.shards ?? workerCount(process.env);
      const manifest = await finalizeStore(store, shards === undefined ? {} : { slices: shards });
      const summary = { location: store.location, shards: manifest.shards.length, records: manifest.totals.records, bytes: manifest.totals.bytes, skipped: manifest.dataset.skipped.length };
      if (flags.json) printJson(context, summary);
      else context.stdout.write(`finalized ${summary.location}: ${summary.shards} shards, ${summary.records} records, ${summary.bytes} bytes\n`);
    });
}
