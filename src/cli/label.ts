import { Command, Option } from 'commander';
import { FkdError } from '../errors.js';
import { warnDeprecated } from '../options/deprecated.js';
import { escapeControl } from '../io/hostile-text.js';
import { label, type LabelOptions } from '../generate/label.js';
import { parseSlice, SHARDS_FIELD } from '../generate/plan.js';
import { describeTeacher } from '../teacher/common.js';
import type { CommandContext } from './context.js';
import { printJson } from './context.js';
import { LABEL_DEFAULTS, LABEL_SCHEMA, resolveLabelOptions } from '../generate/options.js';
import { optionOf } from './options.js';
import { createProgress } from './progress.js';
import type { ManifestScan } from '../store/manifest.js';
import { SCAN_KEY } from '../store/layout.js';
import { CLUTTER_EXCLUSIONS } from '../dataset/exclusions.js';

export function labelCommand(context: CommandContext): Command {
  return new Command('label')
    .summary('generate soft labels in one pass over an ImageFolder tree')
    .description(
      'Decodes each image once, samples epochs × crops RandomResizedCrop boxes and flips from it, runs the teacher over the crops in batches and stores each crop\'s box, flip and top-k probabilities. Re-running on the same --out resumes; finished shards are verified and kept. Ctrl-C or SIGTERM stops at the next teacher batch; a second one, or 5 s (FKD_STOP_GRACE_MS) without stopping, quits at once. Either way exit code 130, and the shard in progress is never half-committed.',
    )
    .addOption(optionOf(LABEL_SCHEMA.data, undefined, { required: true }))
    .addOption(optionOf(LABEL_SCHEMA.teacher, undefined, { required: true }))
    .addOption(optionOf(LABEL_SCHEMA.out, undefined, { required: true }))
    .addOption(optionOf(LABEL_SCHEMA.epochs, LABEL_DEFAULTS.epochs))
    .addOption(optionOf(LABEL_SCHEMA.crops, LABEL_DEFAULTS.crops))
    .addOption(optionOf(LABEL_SCHEMA.topK))
    .addOption(optionOf(LABEL_SCHEMA.seed, LABEL_DEFAULTS.seed))
    .addOption(optionOf(LABEL_SCHEMA.scale, LABEL_DEFAULTS.scale))
    .addOption(optionOf(LABEL_SCHEMA.ratio, LABEL_DEFAULTS.ratio, { defaultText: '3/4,4/3' }))
    .addOption(optionOf(LABEL_SCHEMA.flip, LABEL_DEFAULTS.flip))
    .addOption(optionOf(LABEL_SCHEMA.size))
    .addOption(optionOf(LABEL_SCHEMA.mean, LABEL_DEFAULTS.mean, { defaultText: 'ImageNet 0.485,0.456,0.406' }))
    .addOption(optionOf(LABEL_SCHEMA.std, LABEL_DEFAULTS.std, { defaultText: 'ImageNet 0.229,0.224,0.225' }))
    .addOption(optionOf(LABEL_SCHEMA.temperature, LABEL_DEFAULTS.temperature))
    .addOption(optionOf(LABEL_SCHEMA.outputs, LABEL_DEFAULTS.outputs))
    .addOption(optionOf(LABEL_SCHEMA.rebuild, LABEL_DEFAULTS.rebuild))
    // The old name of --rebuild, for one release: fkd train's --target means calibrated targets.
    .addOption(new Option('--target <mode>').argParser((text: string) => LABEL_SCHEMA.rebuild.parse(text, '--target')).hideHelp())
    .addOption(optionOf(LABEL_SCHEMA.interpolation, LABEL_DEFAULTS.interpolation))
    .addOption(optionOf(LABEL_SCHEMA.batch, LABEL_DEFAULTS.batch))
    .addOption(optionOf(LABEL_SCHEMA.concurrency, LABEL_DEFAULTS.concurrency))
    .addOption(optionOf(LABEL_SCHEMA.shardImages, LABEL_DEFAULTS.shardImages))
    .addOption(optionOf(LABEL_SCHEMA.maxPixels, LABEL_DEFAULTS.maxPixels))
    .addOption(optionOf(LABEL_SCHEMA.device, LABEL_DEFAULTS.device))
    .addOption(optionOf(LABEL_SCHEMA.threads))
    .addOption(optionOf(LABEL_SCHEMA.renderThreads))
    .addOption(optionOf(LABEL_SCHEMA.memory))
    .addOption(optionOf(LABEL_SCHEMA.classMap))
    .addOption(optionOf(LABEL_SCHEMA.like))
    .addOption(optionOf(LABEL_SCHEMA.onBadEntry, LABEL_DEFAULTS.onBadEntry))
    .addOption(optionOf(LABEL_SCHEMA.minImages, LABEL_DEFAULTS.minImages))
    .addOption(optionOf(LABEL_SCHEMA.allowSvg))
    .option('--shard <i/N>', 'this worker\'s slice of a sharded run, i in 0..N-1 (default: JOB_COMPLETION_INDEX with --shards)')
    .addOption(optionOf(SHARDS_FIELD))
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL); enables path-style addressing')
    .option('--allow-format-1', 'accept a format 1 store as --like (refused by default: it has no integrity hash)')
    .option('--json', 'print the result as JSON')
    .action(async (flags, command: Command) => {
      const slice = parseSlice(flags.shard, process.env, flags.shards);
      // With --like the crop settings come from that store: only the ones typed count, not the defaults shown.
      if (flags.target !== undefined) {
        if (command.getOptionValueSource('rebuild') !== 'default') throw new FkdError('E_USAGE', 'Pass --rebuild only: --target is its deprecated name in fkd label.');
        warnDeprecated('fkd label --target', '--rebuild');
        command.setOptionValueWithSource('rebuild', flags.target, 'cli');
        flags.rebuild = flags.target;
      }
      const typed = Object.keys(LABEL_SCHEMA).filter((key) => flags.like === undefined || command.getOptionValueSource(key) !== 'default');
      const options: LabelOptions = {
        ...(pick(flags, typed) as Pick<LabelOptions, 'data' | 'teacher' | 'out'>),
        slice,
        naming: 'cli',
        signal: context.signal,
        onTeacher: (info) => context.stderr.write(`teacher: ${describeTeacher(info)}\n`),
        onProgress: (p) =>
          progress.update({ done: p.imagesDone, total: p.imagesTotal, fields: { crops: p.cropsDone, shards: `${p.shardsDone}/${p.shardsTotal}`, skipped: p.skipped } }),
        ...(flags.s3Endpoint === undefined ? {} : { store: { s3: { endpoint: flags.s3Endpoint } } }),
        ...(flags.allowFormat1 ? { allowFormat1: true } : {}),
      };
      // Refused here, before the progress bar starts, with messages that name the flags.
      resolveLabelOptions(options, 'cli');
      const progress = createProgress({ label: 'label', unit: 'images', rateField: 'crops' });
      let result;
      try {
        result = await label(options);
      } finally {
        progress.stop();
      }
      if (flags.json) {
        printJson(context, result);
        return;
      }
      const out = context.stdout;
      out.write(`labelled ${result.images} images, ${result.crops} crops in ${result.seconds.toFixed(1)} s (${(result.crops / result.seconds).toFixed(1)} crops/s)\n`);
      out.write(`shards: ${result.shardsWritten} written, ${result.shardsReused} already done; decodes per image: ${result.decodesPerImage.toFixed(2)}\n`);
      writeExclusions(out, result.excluded, result.location);
      if (result.skipped.length > 0) {
        out.write(`skipped ${result.skipped.length} unreadable images:\n`);
        for (const skipped of result.skipped) out.write(`  ${escapeControl(skipped.path)}: ${escapeControl(skipped.reason)}\n`);
      }
      out.write(
        result.finalized
          ? `store complete: ${result.location}\n`
          : `slice ${result.slice.index}/${result.slice.count} done; run "fkd finalize ${result.location}" once every slice has finished\n`,
      );
    });
}

/** Entries shown one per line; the rest are counted (the store's scan.json keeps the first 100). */
const EXCLUSIONS_SHOWN = 20;

/** What the scan passed over: counts by kind, then the entries a user would want to fix (not hidden files or other extensions). */
function writeExclusions(out: NodeJS.WritableStream, excluded: ManifestScan, location: string): void {
  if (excluded.excluded === 0) return;
  const counts = Object.entries(excluded.counts).map(([kind, count]) => `${count} ${kind}`);
  out.write(`scan passed over ${excluded.excluded} entries (${counts.join(', ')}); listed in ${location}/${SCAN_KEY}\n`);
  const notable = excluded.entries.filter((entry) => !CLUTTER_EXCLUSIONS.has(entry.kind));
  // File names may hold ESC and other controls (the scan skips them, and names them here): escaped, never raw.
  for (const entry of notable.slice(0, EXCLUSIONS_SHOWN)) out.write(`  ${escapeControl(entry.path)}: ${entry.reason}\n`);
  if (notable.length > EXCLUSIONS_SHOWN) out.write(`  … and ${notable.length - EXCLUSIONS_SHOWN} more\n`);
}

/** The flags the schema names that the user (or a default) set. */
function pick(flags: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => flags[key] !== undefined).map((key) => [key, flags[key]]));
}
