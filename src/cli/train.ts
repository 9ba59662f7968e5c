import { Command } from 'commander';
import { FkdError } from '../errors.js';
import { loadTf } from '../tf/runtime.js';
import { distill, trainingDtype } from '../train/distill.js';
import { printJson, type CommandContext } from './context.js';
import { checkRecipeDependencies, recipeOptions, TRAIN_DEFAULTS, TRAIN_SCHEMA, validateTrainOptions } from '../train/options.js';
import { choice } from '../options/schema.js';
import { optionOf, pinOption, allowFormat1Option, trustOf } from './options.js';

export function trainCommand(context: CommandContext): Command {
  return new Command('train')
    .summary('train a TF.js student on stored soft labels (the teacher is never run)')
    .description(
      'For student epoch e, streams label epoch e mod E: each image is decoded once, its stored crops are replayed and the student minimises soft cross-entropy against the stored top-k labels. Prints one line per epoch (loss, accuracy against the folder labels, images/s) and saves a checkpoint after each epoch.',
    )
    .addOption(optionOf(TRAIN_SCHEMA.data, undefined, { required: true }))
    .addOption(optionOf(TRAIN_SCHEMA.labels, undefined, { required: true }))
    .addOption(optionOf(TRAIN_SCHEMA.epochs, TRAIN_DEFAULTS.epochs))
    .addOption(optionOf(TRAIN_SCHEMA.student, TRAIN_DEFAULTS.student))
    .addOption(optionOf(TRAIN_SCHEMA.batchSize, TRAIN_DEFAULTS.batchSize))
    .addOption(optionOf(TRAIN_SCHEMA.size, TRAIN_DEFAULTS.size))
    .addOption(optionOf(TRAIN_SCHEMA.optimizer, TRAIN_DEFAULTS.optimizer))
    .addOption(optionOf(TRAIN_SCHEMA.learningRate, TRAIN_DEFAULTS.learningRate))
    .addOption(optionOf(TRAIN_SCHEMA.weightDecay, TRAIN_DEFAULTS.weightDecay))
    .addOption(optionOf(TRAIN_SCHEMA.seed, TRAIN_DEFAULTS.seed))
    .addOption(optionOf(TRAIN_SCHEMA.checkpointDir))
    .addOption(optionOf(TRAIN_SCHEMA.resume))
    .addOption(optionOf(TRAIN_SCHEMA.workers))
    .addOption(optionOf(TRAIN_SCHEMA.prefetch, TRAIN_DEFAULTS.prefetch))
    .addOption(optionOf(TRAIN_SCHEMA.temperature))
    .addOption(optionOf(TRAIN_SCHEMA.onError, TRAIN_DEFAULTS.onError))
    .addOption(optionOf(TRAIN_SCHEMA.mixMode))
    .addOption(optionOf(TRAIN_SCHEMA.mixAlpha, TRAIN_DEFAULTS.mixAlpha))
    .addOption(optionOf(TRAIN_SCHEMA.mixProb, TRAIN_DEFAULTS.mixProb))
    .addOption(optionOf(TRAIN_SCHEMA.targetMode))
    .addOption(optionOf(TRAIN_SCHEMA.calibrateThreshold))
    .addOption(optionOf(TRAIN_SCHEMA.smoothing, TRAIN_DEFAULTS.smoothing))
    .addOption(optionOf(TRAIN_SCHEMA.cacheDir))
    .option('--with-labels <store>', "another teacher's labels of the same crops (made with fkd label --like): targets are the teachers' weighted mean; repeat for more", (value: string, list: string[]) => [...list, value], [])
    .option('--teacher-weights <w,...>', 'one weight > 0 per store, --labels first (default: equal); normalised to sum to 1')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .addOption(pinOption('--labels-sha256'))
    .addOption(allowFormat1Option())
    .addOption(optionOf(choice({ flag: '--dtype', value: '<type>', summary: 'pixels the loader hands the student; auto is uint8 (normalised on the GPU) with tfjs-node-gpu, else float32', choices: ['auto', 'float32', 'uint8'] as const }), 'auto'))
    .option('--json', 'print epoch lines as JSON')
    .action(async (flags, command: Command) => {
      const recipe = { mixMode: flags.mix, mixAlpha: flags.mixAlpha, mixProb: flags.mixProb, targetMode: flags.target, calibrateThreshold: flags.calibrateThreshold, smoothing: flags.smoothing };
      // Set on the command line, not by default: commander knows each option by its flag.
      const fromCli = (key: keyof typeof recipe) => {
        const option = command.options.find((candidate) => candidate.long === TRAIN_SCHEMA[key].flag);
        return option !== undefined && command.getOptionValueSource(option.attributeName()) === 'cli';
      };
      const given = new Set((Object.keys(recipe) as Array<keyof typeof recipe>).filter(fromCli));
      checkRecipeDependencies(given, recipe, 'cli');
      if (flags.teacherWeights !== undefined && flags.withLabels.length === 0) {
        throw new FkdError('E_USAGE', '--teacher-weights needs --with-labels: it weighs several teachers of the same crops, and --labels alone is one.');
      }
      if (flags.labelsSha256 !== undefined && flags.withLabels.length > 0) {
        throw new FkdError('E_USAGE', '--labels-sha256 pins one store, and --with-labels adds others: pin each store with openLabels(url, { sha256 }) and pass the opened sets to openEnsemble, or train on the pinned store alone.');
      }
      validateTrainOptions({ ...flags, learningRate: flags.lr, checkpointDir: flags.checkpoint, ...recipe }, 'cli');
      const runtime = await loadTf('training');
      const dtype: 'float32' | 'uint8' = flags.dtype === 'auto' ? trainingDtype(runtime) : flags.dtype;
      context.stderr.write(`student: TF.js ${runtime.backend} backend (${runtime.packageName}), ${dtype} pixels${runtime.backend === 'cpu' ? '; install @tensorflow/tfjs-node or -gpu for speed' : ''}\n`);
      const result = await distill({
        data: flags.data,
        labels: flags.withLabels.length === 0 ? flags.labels : [flags.labels, ...flags.withLabels],
        ...(flags.teacherWeights === undefined ? {} : { teacherWeights: String(flags.teacherWeights).split(',').map(Number) }),
        open: { ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}), ...(flags.s3Endpoint ? { s3: { endpoint: flags.s3Endpoint } } : {}), ...trustOf(flags) },
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
          ...recipeOptions({ ...recipe, seed: flags.seed }),
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
