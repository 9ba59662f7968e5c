import { Command, Option } from 'commander';
import { loadTf } from '../tf/runtime.js';
import { distill, trainingDtype } from '../train/distill.js';
import { printJson, type CommandContext } from './context.js';
import { decimal, integer } from './options.js';

export function trainCommand(context: CommandContext): Command {
  return new Command('train')
    .summary('train a TF.js student on stored soft labels (the teacher is never run)')
    .description(
      'For student epoch e, streams label epoch e mod E: each image is decoded once, its stored crops are replayed and the student minimises soft cross-entropy against the stored top-k labels. Prints one line per epoch (loss, accuracy against the folder labels, images/s) and saves a checkpoint after each epoch.',
    )
    .requiredOption('--data <dir>', 'the ImageFolder tree the labels were made from')
    .requiredOption('--labels <store>', 'label store: a directory or s3://bucket/prefix')
    .option('--epochs <n>', 'student epochs', integer(), 1)
    .addOption(new Option('--student <name>', 'built-in student').choices(['tiny', 'resnet18']).default('tiny'))
    .option('--batch-size <n>', 'crops per batch', integer(), 64)
    .option('--size <px>', 'student input side', integer(), 224)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adamw']).default('adamw'))
    .option('--lr <rate>', 'learning rate', decimal(0), 1e-3)
    .option('--weight-decay <wd>', 'decoupled weight decay on kernels', decimal(0), 0)
    .option('--seed <n>', 'student initialisation and shuffle seed', integer(0), 0)
    .option('--checkpoint <dir>', 'save a checkpoint here after every epoch')
    .option('--resume', 'continue from the checkpoint in --checkpoint')
    .option('--workers <n>', 'render threads (0: on the main thread)', integer(0))
    .option('--prefetch <n>', 'batches prepared ahead', integer(0), 2)
    .option('--temperature <t>', 'sharpen (<1) or soften (>1) the stored labels', decimal(1e-6))
    .addOption(new Option('--on-error <policy>', 'missing or unreadable images and damaged shards').choices(['throw', 'skip']).default('throw'))
    .option('--cache-dir <dir>', 'keep label blocks fetched from object storage here')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .addOption(new Option('--dtype <type>', 'pixels the loader hands the student; auto is uint8 (normalised on the GPU) with tfjs-node-gpu, else float32').choices(['auto', 'float32', 'uint8']).default('auto'))
    .option('--json', 'print epoch lines as JSON')
    .action(async (flags) => {
      const runtime = await loadTf('training');
      const dtype: 'float32' | 'uint8' = flags.dtype === 'auto' ? trainingDtype(runtime) : flags.dtype;
      context.stderr.write(`student: TF.js ${runtime.backend} backend (${runtime.packageName}), ${dtype} pixels${runtime.backend === 'cpu' ? '; install @tensorflow/tfjs-node or -gpu for speed' : ''}\n`);
      const result = await distill({
        data: flags.data,
        labels: flags.labels,
        open: { ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}), ...(flags.s3Endpoint ? { endpoint: flags.s3Endpoint } : {}) },
        epochs: flags.epochs,
        student: flags.student,
        batchSize: flags.batchSize,
        size: flags.size,
        optimizer: flags.optimizer,
        learningRate: flags.lr,
        weightDecay: flags.weightDecay,
        seed: flags.seed,
        dtype,
        loader: {
          shuffle: flags.seed,
          prefetch: flags.prefetch,
          onError: flags.onError,
          ...(flags.workers === undefined ? {} : { workers: flags.workers }),
          ...(flags.temperature === undefined ? {} : { temperature: flags.temperature }),
        },
        ...(flags.checkpoint ? { checkpointDir: flags.checkpoint } : {}),
        ...(flags.resume ? { resume: true } : {}),
        signal: context.signal,
        onLog: (line) => {
          if (flags.json) printJson(context, line);
          else
            context.stdout.write(
              `epoch ${line.epoch}: loss ${line.loss.toFixed(4)}, accuracy ${(line.accuracy * 100).toFixed(1)}%, ${line.imagesPerSec.toFixed(1)} crops/s, ${line.steps} steps, ${line.seconds.toFixed(1)} s` +
                (line.loader.skippedImages.length ? `, ${line.loader.skippedImages.length} images skipped` : '') +
                '\n',
            );
        },
      });
      const last = result.history.at(-1);
      if (!flags.json && last) context.stdout.write(`final loss ${last.loss.toFixed(4)}${flags.checkpoint ? `; checkpoint in ${flags.checkpoint}` : ''}\n`);
    });
}
