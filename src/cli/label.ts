import { Command, Option } from 'commander';
import { label, type LabelOptions } from '../generate/label.js';
import { parseSlice } from '../generate/plan.js';
import { TARGET_MODES } from '../labels/targets.js';
import { describeTeacher } from '../teacher/common.js';
import type { CommandContext } from './context.js';
import { printJson } from './context.js';
import { decimal, integer, numberList, range } from './options.js';
import { createProgress } from './progress.js';

export function labelCommand(context: CommandContext): Command {
  return new Command('label')
    .summary('generate soft labels in one pass over an ImageFolder tree')
    .description(
      'Decodes each image once, samples epochs × crops RandomResizedCrop boxes and flips from it, runs the teacher over the crops in batches and stores each crop\'s box, flip and top-k probabilities. Re-running on the same --out resumes; finished shards are verified and kept. Ctrl-C stops at a shard boundary.',
    )
    .requiredOption('--data <dir>', 'ImageFolder root: <dir>/<class>/<image>')
    .requiredOption('--teacher <model>', 'teacher model: a .onnx file or a TF.js model.json')
    .requiredOption('--out <store>', 'output: a directory or s3://bucket/prefix')
    .option('--epochs <n>', 'label epochs (the student cycles through them)', integer(), 1)
    .option('--crops <n>', 'crops per image per epoch', integer(), 4)
    .option('--top-k <k>', 'probabilities kept per crop (default: 5, or the class count if smaller)', integer())
    .option('--seed <n>', 'sampler seed', integer(0), 0)
    .addOption(new Option('--scale <min,max>', 'RandomResizedCrop area range').argParser(range).default([0.08, 1], '0.08,1'))
    .addOption(new Option('--ratio <min,max>', 'RandomResizedCrop aspect-ratio range').argParser(range).default([3 / 4, 4 / 3], '3/4,4/3'))
    .option('--flip <p>', 'horizontal flip probability', decimal(0, 1), 0.5)
    .option('--size <px>', 'teacher input side when the model does not fix it', integer())
    .addOption(new Option('--mean <r,g,b>', 'normalisation mean').argParser(numberList(3)).default([0.485, 0.456, 0.406], 'ImageNet 0.485,0.456,0.406'))
    .addOption(new Option('--std <r,g,b>', 'normalisation std').argParser(numberList(3)).default([0.229, 0.224, 0.225], 'ImageNet 0.229,0.224,0.225'))
    .option('--temperature <t>', 'softmax temperature applied to the teacher', decimal(1e-6), 1)
    .addOption(new Option('--outputs <kind>', 'what the teacher emits').choices(['logits', 'probs']).default('logits'))
    .addOption(new Option('--target <mode>', 'dense target rebuild recorded in the store').choices([...TARGET_MODES]).default(TARGET_MODES[0]))
    .addOption(new Option('--interpolation <kind>', 'resampling filter for teacher crops').choices(['bicubic', 'bilinear']).default('bicubic'))
    .option('--batch <n>', 'crops per teacher call', integer(), 32)
    .option('--concurrency <n>', 'images decoded ahead of the teacher', integer(), 4)
    .option('--shard-images <n>', 'images per shard object', integer(), 1000)
    .option('--max-pixels <n>', 'refuse larger images as decompression bombs', integer(), 268_402_689)
    .addOption(new Option('--device <device>', 'execution device for the teacher').choices(['cpu', 'cuda']).default('cpu'))
    .option('--threads <n>', 'teacher intra-op threads (default: all cores)', integer())
    .option('--shard <i/N>', 'this worker\'s slice of a sharded run (default: JOB_COMPLETION_INDEX with --shards)')
    .option('--shards <n>', 'worker count of a sharded run (or FKD_SHARDS)', integer())
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL); enables path-style addressing')
    .option('--json', 'print the result as JSON')
    .action(async (flags) => {
      const slice = parseSlice(flags.shard, process.env, flags.shards);
      const progress = createProgress({ label: 'label', unit: 'images', rateField: 'crops' });
      const options: LabelOptions = {
        data: flags.data,
        teacher: flags.teacher,
        out: flags.out,
        epochs: flags.epochs,
        crops: flags.crops,
        seed: flags.seed,
        scale: flags.scale,
        ratio: flags.ratio,
        flip: flags.flip,
        mean: flags.mean,
        std: flags.std,
        temperature: flags.temperature,
        outputs: flags.outputs,
        target: flags.target,
        interpolation: flags.interpolation,
        batch: flags.batch,
        concurrency: flags.concurrency,
        shardImages: flags.shardImages,
        maxPixels: flags.maxPixels,
        device: flags.device,
        slice,
        signal: context.signal,
        onTeacher: (info) => context.stderr.write(`teacher: ${describeTeacher(info)}\n`),
        onProgress: (p) =>
          progress.update({ done: p.imagesDone, total: p.imagesTotal, fields: { crops: p.cropsDone, shards: `${p.shardsDone}/${p.shardsTotal}`, skipped: p.skipped } }),
        ...(flags.topK === undefined ? {} : { topK: flags.topK }),
        ...(flags.size === undefined ? {} : { size: flags.size }),
        ...(flags.threads === undefined ? {} : { threads: flags.threads }),
        ...(flags.s3Endpoint === undefined ? {} : { store: { endpoint: flags.s3Endpoint } }),
      };
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
      if (result.skipped.length > 0) {
        out.write(`skipped ${result.skipped.length} unreadable images:\n`);
        for (const skipped of result.skipped) out.write(`  ${skipped.path}: ${skipped.reason}\n`);
      }
      out.write(
        result.finalized
          ? `store complete: ${result.location}\n`
          : `slice ${result.slice.index}/${result.slice.count} done; run "fkd finalize ${result.location}" once every slice has finished\n`,
      );
    });
}
