import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { benchLabel } from '../measure/label.js';
import { benchLoader } from '../measure/loader.js';
import { benchScale } from '../measure/scale.js';
import { printJson, type CommandContext } from './context.js';
import { LABEL_DEFAULTS, LABEL_SCHEMA } from '../generate/options.js';
import { LOADER_SCHEMA } from '../loader/options.js';
import { integer } from '../options/schema.js';
import { optionOf } from './options.js';

export function benchCommand(context: CommandContext): Command {
  const bench = new Command('bench').summary('measure the label pass and the loader on your data').description('Throughput figures, each as a ratio against a baseline measured in the same run.');
  bench
    .command('label')
    .summary('label pass vs the teacher alone')
    .description('Runs the label pass into a temporary store and the teacher alone (same engine, batch and threads, before and after, averaged). Prints labelCropsPerSec, teacherOnlyCropsPerSec, ratio and bytesPerRecord.')
    .addOption(optionOf(LABEL_SCHEMA.data, undefined, { required: true }))
    .addOption(optionOf(LABEL_SCHEMA.teacher, undefined, { required: true }))
    .addOption(optionOf(LABEL_SCHEMA.epochs, 4))
    .addOption(optionOf(LABEL_SCHEMA.crops, LABEL_DEFAULTS.crops))
    .addOption(optionOf(LABEL_SCHEMA.topK))
    .addOption(optionOf(LABEL_SCHEMA.batch, LABEL_DEFAULTS.batch))
    .addOption(optionOf(LABEL_SCHEMA.threads))
    .addOption(optionOf(LABEL_SCHEMA.renderThreads))
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const result = await benchLabel({
        data: flags.data,
        teacher: flags.teacher,
        epochs: flags.epochs,
        crops: flags.crops,
        batch: flags.batch,
        ...(flags.topK === undefined ? {} : { topK: flags.topK }),
        ...(flags.threads === undefined ? {} : { threads: flags.threads }),
        ...(flags.renderThreads === undefined ? {} : { renderThreads: flags.renderThreads }),
      });
      if (flags.json) return printJson(context, result);
      context.stdout.write(
        `label pass ${result.labelCropsPerSec.toFixed(1)} crops/s vs teacher alone ${result.teacherOnlyCropsPerSec.toFixed(1)} crops/s: ratio ${result.ratio.toFixed(3)}\n` +
          `${result.images} images, ${result.crops} crops, ${result.decodesPerImage.toFixed(2)} decodes/image, ${result.bytesPerRecord.toFixed(2)} bytes/record; ${result.teacher}, batch ${result.batch}, ${result.threads} threads\n`,
      );
    });
  bench
    .command('loader')
    .summary('loader vs a loader that decodes once per crop')
    .description('Streams epochs of NCHW crops and, on the same threads, the same crops with one decode per crop. Prints cropsPerSec, baselineCropsPerSec, ratio, peakRssMB, mainThreadBusy (event-loop utilisation of the loader arm), systemShare (system / all CPU time) and rssAfterEpochMB (after epochs 1, 5, 20 of an extra arm).')
    .requiredOption('--data <dir>', 'ImageFolder root the labels were made from')
    .requiredOption('--labels <store>', 'label store')
    .addOption(optionOf(LOADER_SCHEMA.size, 224))
    .addOption(optionOf(LOADER_SCHEMA.batchSize, 128))
    .addOption(optionOf(LOADER_SCHEMA.workers))
    .addOption(optionOf(integer({ flag: '--epochs', summary: 'epochs per arm', min: 1, max: 1000 }), 1))
    .addOption(optionOf(LOADER_SCHEMA.dtype, 'float32'))
    .addOption(optionOf(LOADER_SCHEMA.decoder, 'auto'))
    .addOption(optionOf(integer({ flag: '--memory-epochs', value: '<n>', summary: 'epochs of an extra arm recording RSS after epochs 1, 5 and 20 (0 skips it)', min: 0, max: 1000 }), 20))
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const result = await benchLoader({
        dtype: flags.dtype,
        decoder: flags.decoder,
        memoryEpochs: flags.memoryEpochs,
        data: flags.data,
        labels: flags.labels,
        size: flags.size,
        batchSize: flags.batchSize,
        epochs: flags.epochs,
        ...(flags.workers === undefined ? {} : { workers: flags.workers }),
      });
      if (flags.json) return printJson(context, result);
      context.stdout.write(
        `loader ${result.cropsPerSec.toFixed(1)} crops/s (${result.imagesPerSec.toFixed(1)} images/s, ${result.decodesPerImage.toFixed(2)} decodes/image) vs decode-per-crop ${result.baselineCropsPerSec.toFixed(1)} crops/s: ratio ${result.ratio.toFixed(3)}; peak RSS ${result.peakRssMB.toFixed(0)} MB\n` +
          `main thread busy ${(100 * result.mainThreadBusy).toFixed(1)}% of the epoch; system time ${(100 * result.systemShare).toFixed(1)}% of CPU time; ${result.dtype} pixels` +
          `${Object.keys(result.rssAfterEpochMB).length > 0 ? `; RSS after epochs ${Object.entries(result.rssAfterEpochMB).map(([epoch, mb]) => `${epoch}: ${mb.toFixed(0)} MB`).join(', ')}` : ''}\n`,
      );
    });
  bench
    .command('scale')
    .summary('open, plan, info and verify on a synthetic ImageNet-sized store')
    .description(
      'Writes (once, kept in --dir) a synthetic store with the real encoder: --images images × 4 crops × 2 label epochs in 1,000-image shards, no image files. ' +
        'Then times openLabels (with its RSS), one epoch\'s loader plan, `fkd info` and local `fkd verify`, each in a fresh process. ' +
        'With --tree, also builds a tree of empty image files and times the label pass\'s scan and shard plan on it. ' +
        'Prints openSec, openRssMB, epochPlanSec, infoSec and verifySec.',
    )
    .addOption(optionOf(integer({ flag: '--images', value: '<n>', summary: 'images in the synthetic store', min: 1, max: 100_000_000 }), 1_281_167))
    .option('--dir <dir>', 'where stores and trees are kept between runs', join(tmpdir(), 'fkd-bench-scale'))
    .addOption(optionOf(integer({ flag: '--writers', value: '<n>', summary: 'processes writing the store when it is missing', min: 1, max: 64 }), 2))
    .option('--tree', 'also time the scan and plan on a tree of empty files')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const result = await benchScale({ images: flags.images, dir: flags.dir, writers: flags.writers, tree: flags.tree === true });
      if (flags.json) return printJson(context, result);
      context.stdout.write(
        `${result.images} images, ${result.shards} shards, ${result.records} records, ${(result.storeBytes / 2 ** 20).toFixed(1)} MiB: ` +
          `openLabels ${result.openSec.toFixed(2)} s at ${result.openRssMB.toFixed(0)} MB RSS; epoch plan ${result.epochPlanSec.toFixed(2)} s at ${result.epochPlanRssMB.toFixed(0)} MB peak; info ${result.infoSec.toFixed(2)} s; verify ${result.verifySec.toFixed(2)} s (${result.verifyOk ? 'ok' : 'FAILED'})\n` +
          (result.scan ? `scan of ${result.scan.images} empty files ${result.scan.scanSec.toFixed(2)} s, shard plan ${result.scan.planSec.toFixed(3)} s, peak RSS ${result.scan.maxRssMB.toFixed(0)} MB\n` : ''),
      );
    });
  return bench;
}
