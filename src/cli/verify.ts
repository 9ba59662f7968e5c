import { Command } from 'commander';
import { verifyStore } from '../check/verify.js';
import { FkdError } from '../errors.js';
import { printJson, type CommandContext } from './context.js';
import { VERIFY_DEFAULTS, VERIFY_SCHEMA } from '../check/options.js';
import { optionOf, pinOption, allowFormat1Option, trustOf } from './options.js';

export function verifyCommand(context: CommandContext): Command {
  return new Command('verify')
    .summary('check a label store\'s checksums, dataset and teacher agreement')
    .description(
      'Always reads every shard and checks its sha256 and every block. With --data, checks the dataset fingerprint. With --teacher too, re-renders --sample stored crops, re-runs the teacher and reports top-1 agreement, the largest relative error of a stored probability and the mean KL divergence. Exits 1 when anything is off.',
    )
    .argument('<store>', 'label store: a directory or s3://bucket/prefix')
    .addOption(optionOf(VERIFY_SCHEMA.data))
    .addOption(optionOf(VERIFY_SCHEMA.teacher))
    .addOption(optionOf(VERIFY_SCHEMA.sample, VERIFY_DEFAULTS.sample))
    .addOption(optionOf(VERIFY_SCHEMA.tolerance, VERIFY_DEFAULTS.tolerance))
    .addOption(optionOf(VERIFY_SCHEMA.seed, VERIFY_DEFAULTS.seed))
    .addOption(optionOf(VERIFY_SCHEMA.device, VERIFY_DEFAULTS.device))
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .addOption(pinOption('--sha256'))
    .addOption(allowFormat1Option())
    .option('--json', 'print the report as JSON')
    .action(async (location: string, flags) => {
      const report = await verifyStore(location, {
        ...trustOf(flags),
        sample: flags.sample,
        tolerance: flags.tolerance,
        seed: flags.seed,
        device: flags.device,
        ...(flags.data === undefined ? {} : { data: flags.data }),
        ...(flags.teacher === undefined ? {} : { teacher: flags.teacher }),
        ...(flags.s3Endpoint === undefined ? {} : { s3: { endpoint: flags.s3Endpoint } }),
      });
      if (flags.json) printJson(context, report);
      else {
        const out = context.stdout;
        out.write(`shards checked: ${report.shards.checked}, corrupt: ${report.shards.corrupt.length}\n`);
        for (const bad of report.shards.corrupt) out.write(`  ${bad.key}: ${bad.error}\n`);
        if (report.dataset) {
          out.write(`dataset fingerprint: ${report.dataset.fingerprintMatches ? 'matches' : 'DIFFERS'}\n`);
          const content = report.dataset.content;
          if (content) out.write(`image contents: ${content.changed.length === 0 ? `all ${content.checked} match` : `${content.changed.length} of ${content.checked} CHANGED`}\n`);
          else if (report.dataset.fingerprintMatches) out.write('image contents: not checked (a format 1 store has no content hashes)\n');
          const tars = report.dataset.shards;
          if (tars) out.write(`tar shards: ${tars.problems.length === 0 ? `all ${tars.checked} match their index` : `${tars.problems.length} of ${tars.checked} BROKEN`}\n`);
        }
        if (report.teacher) {
          const t = report.teacher;
          out.write(`teacher re-run on ${t.sampled} crops: top-1 agreement ${(t.top1Agreement * 100).toFixed(2)}%, max relative error ${(t.maxRelativeError * 100).toFixed(3)}%, mean KL ${t.meanKl.toExponential(3)}\n`);
        }
        out.write(report.ok ? 'ok\n' : `FAILED:\n  ${report.problems.join('\n  ')}\n`);
      }
      if (!report.ok) throw new FkdError('E_VERIFY_FAILED', `${report.location} failed verification (${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}).`);
    });
}
