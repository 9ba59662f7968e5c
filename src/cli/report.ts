import { Command } from 'commander';
import { FkdError } from '../errors.js';
import { collectReport, type CollectProgress } from '../report/collect.js';
import { DEFAULT_SHEET_CROPS, MAX_SHEET_CROPS, writeReport } from '../report/report.js';
import { printJson, type CommandContext } from './context.js';
import { integer } from '../options/schema.js';
import { optionOf, pinOption, allowFormat1Option, trustOf } from './options.js';
import { createProgress } from './progress.js';

interface ReportFlags {
  out?: string;
  data?: string;
  sample: number;
  seed: number;
  s3Endpoint?: string;
  json?: boolean;
  sha256?: string;
  allowFormat1?: boolean;
}

export function reportCommand(context: CommandContext): Command {
  return new Command('report')
    .summary('write an HTML report of what the teacher said')
    .description(
      'Reads every record of a label store once, epoch by epoch, and writes one self-contained HTML file (works offline): the store summary with teacher, sampler and codec settings; histograms of the top-1 probability, of the entropy of the stored distribution and of the mass outside the top-k; top-1 agreement with the folder label by crop scale (ten bins) and per class (worst 20 first). With --data, a contact sheet of --sample crops rendered as the loader renders them, captioned with their stored top-3. --json prints the same statistics as data.',
    )
    .argument('<store>', 'label store: a directory or s3://bucket/prefix')
    .option('--out <file>', 'the HTML file to write (needed unless --json)')
    .option('--data <dir>', 'the ImageFolder tree the labels were made from: adds the contact sheet')
    .addOption(optionOf(integer({ flag: '--sample', value: '<n>', summary: 'crops on the contact sheet', min: 0, max: MAX_SHEET_CROPS }), DEFAULT_SHEET_CROPS))
    .addOption(optionOf(integer({ flag: '--seed', value: '<n>', summary: 'which crops the contact sheet shows', min: 0, max: Number.MAX_SAFE_INTEGER }), 0))
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .addOption(pinOption('--sha256'))
    .addOption(allowFormat1Option())
    .option('--json', 'print the statistics as JSON')
    .action(async (location: string, flags: ReportFlags) => {
      if (flags.out === undefined && !flags.json) throw new FkdError('E_USAGE', 'fkd report needs --out <file> (or --json to print the statistics).');
      if (flags.data !== undefined && flags.out === undefined) throw new FkdError('E_USAGE', 'The contact sheet (--data) goes into the HTML file: pass --out <file> too.');
      const progress = createProgress({ label: 'report', unit: 'blocks', rateField: 'records' });
      const onProgress = (p: CollectProgress): void => {
        progress.update({ done: p.blocksDone, total: p.blocksTotal, fields: { records: p.records, epoch: p.epoch } });
      };
      const common = {
        seed: flags.seed,
        signal: context.signal,
        onProgress,
        ...(flags.s3Endpoint === undefined ? {} : { s3: { endpoint: flags.s3Endpoint } }),
        ...trustOf(flags),
      };
      let report;
      try {
        report =
          flags.out === undefined
            ? await collectReport(location, common)
            : await writeReport(location, { ...common, out: flags.out, sample: flags.sample, ...(flags.data === undefined ? {} : { data: flags.data }) });
      } finally {
        progress.stop();
      }
      if (flags.json) printJson(context, report);
      else {
        const { stats } = report;
        const agreement = stats.agreement === null ? 'no records' : `${(stats.agreement * 100).toFixed(1)}% top-1 agreement with the folder label`;
        context.stdout.write(`wrote ${flags.out ?? ''}: ${stats.records} records, ${agreement}, mean top-1 ${stats.top1.mean.toFixed(3)}, ${report.sample.length} crops on the contact sheet\n`);
      }
    });
}
