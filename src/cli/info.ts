import { Command } from 'commander';
import { storeInfo } from '../check/info.js';
import { confidenceShares } from '../check/confidence.js';
import { openEnsemble } from '../store/ensemble.js';
import { openLabels } from '../store/labels.js';
import { printJson, type CommandContext } from './context.js';

export function infoCommand(context: CommandContext): Command {
  return new Command('info')
    .summary('summarise a label store')
    .description('Reports images, records, epochs, crops, top-k, classes, teacher, total bytes, bytes per record, completeness and the images the label pass skipped. Works on unfinished stores too.')
    .argument('<stores...>', 'label store: a directory or s3://bucket/prefix; several stores of the same crops (fkd label --like) are checked to hold the same crops and their teachers listed')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (or AWS_ENDPOINT_URL)')
    .option('--json', "print JSON, with teacherConfidence: the share of records whose stored probability of the folder class is below 0.1, 0.3 and 0.5 (reads every record)")
    .action(async (locations: string[], flags) => {
      const open = flags.s3Endpoint ? { s3: { endpoint: flags.s3Endpoint } } : {};
      const describe = async (location: string) => ({ ...(await storeInfo(location, open)), ...(flags.json ? { teacherConfidence: await confidenceShares(await openLabels(location, { ...open, allowIncomplete: true })) } : {}) });
      const infos = await Promise.all(locations.map(describe));
      // Several stores: the teachers of one set of crops. openEnsemble refuses stores whose crops differ, naming the setting.
      const teachers = locations.length > 1 ? (await openEnsemble(locations, open)).teachers : null;
      if (flags.json) return printJson(context, teachers ? { stores: infos, sameCrops: true, teachers } : infos[0]);
      const blocks = infos.map((info) => {
        const lines = [
          `store:          ${info.location}`,
          `complete:       ${info.complete ? 'yes' : `no (${info.shards.present} of ${info.shards.expected} shards)`}`,
          `images:         ${info.images} (${info.skipped.length} skipped)`,
          `records:        ${info.records} (${info.epochs} epochs × ${info.crops} crops per image)`,
          `top-k:          ${info.topK} of ${info.classes} classes`,
          `teacher:        ${info.teacher.file} (${info.teacher.backend}, ${info.teacher.inputSize}px, T=${info.teacher.temperature}, sha256 ${info.teacher.sha256.slice(0, 12)}…)`,
          `total bytes:    ${info.totalBytes}`,
          `bytes/record:   ${info.bytesPerRecord.toFixed(2)}`,
        ];
        for (const skipped of info.skipped) lines.push(`skipped:        ${skipped.path}: ${skipped.reason}`);
        return lines.join('\n');
      });
      if (teachers) blocks.push(`same crops:     yes (${teachers.length} teachers: ${teachers.map((t) => t.file).join(', ')})`);
      context.stdout.write(`${blocks.join('\n\n')}\n`);
    });
}
