import { Command } from 'commander';
import { storeInfo } from '../check/info.js';
import { confidenceShares } from '../check/confidence.js';
import { openEnsemble } from '../store/ensemble.js';
import { openLabels } from '../store/labels.js';
import { escapeControl } from '../io/hostile-text.js';
import { printJson, type CommandContext } from './context.js';

export function infoCommand(context: CommandContext): Command {
  return new Command('info')
    .summary('summarise a label store')
    .description('Reports images, records, epochs, crops, top-k, classes, teacher, total bytes, bytes per record, completeness and the images the label pass skipped. Works on unfinished stores too.')
    .argument('<stores...>', 'label store: a directory or s3://bucket/prefix; several stores of the same crops (fkd label --like) are checked to hold the same crops and their teachers listed')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .option('--json', "print JSON, with teacherConfidence: the share of records whose stored probability of the folder class is below 0.1, 0.3 and 0.5 (reads every record)")
    .action(async (locations: string[], flags) => {
      // fkd info is where a store is inspected before it is trusted: it reads format 1 too, and says so.
      const open = { ...(flags.s3Endpoint ? { s3: { endpoint: flags.s3Endpoint } } : {}), allowFormat1: true };
      const describe = async (location: string) => ({ ...(await storeInfo(location, open)), ...(flags.json ? { teacherConfidence: await confidenceShares(await openLabels(location, { ...open, allowIncomplete: true })) } : {}) });
      const infos = await Promise.all(locations.map(describe));
      // Several stores: the teachers of one set of crops. openEnsemble refuses stores whose crops differ, naming the setting.
      const teachers = locations.length > 1 ? (await openEnsemble(locations, open)).teachers : null;
      if (flags.json) return printJson(context, teachers ? { stores: infos, sameCrops: true, teachers } : infos[0]);
      const blocks = infos.map((info) => {
        // Store text and file names may hold control characters: printed escaped, never raw.
        const t = info.teacher;
        const lines = [
          `store:          ${escapeControl(info.location)}`,
          `format:         ${info.format}${info.format === 1 ? ' (no integrity hash: other commands read it only with --allow-format-1)' : ''}`,
          `manifest:       ${info.manifestSha256 === null ? 'none yet' : `sha256 ${info.manifestSha256} (pin it: --labels-sha256 / --sha256)`}`,
          `complete:       ${info.complete ? 'yes' : `no (${info.shards.present} of ${info.shards.expected} shards)`}`,
          `images:         ${info.images} (${info.skipped.length} skipped)`,
          `records:        ${info.records} (${info.epochs} epochs × ${info.crops} crops per image)`,
          `top-k:          ${info.topK} of ${info.classes} classes`,
          `teacher:        ${escapeControl(t.file)} (${escapeControl(t.backend)}, ${t.inputSize}px, T=${t.temperature}, sha256 ${t.sha256.slice(0, 12)}…)`,
          `total bytes:    ${info.totalBytes}`,
          `bytes/record:   ${info.bytesPerRecord.toFixed(2)}`,
        ];
        for (const skipped of info.skipped) lines.push(`skipped:        ${escapeControl(skipped.path)}: ${escapeControl(skipped.reason)}`);
        return lines.join('\n');
      });
      if (teachers) blocks.push(`same crops:     yes (${teachers.length} teachers: ${teachers.map((t) => escapeControl(t.file)).join(', ')})`);
      context.stdout.write(`${blocks.join('\n\n')}\n`);
    });
}
