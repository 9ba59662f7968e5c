// `fkd report` as a library call: collect the statistics, render the contact sheet when a
// dataset is given, write one self-contained HTML file.
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import { checkOutputFile, type CommandInput } from '../io/output-file.js';
import { localPathOf } from '../storage/open.js';
import { CONFIG_KEY, MANIFEST_KEY, SHARDS_PREFIX } from '../store/layout.js';
import { FkdError } from '../errors.js';
import { collectReport, type CollectOptions, type ReportData } from './collect.js';
import { renderContactSheet } from './contact-sheet.js';
import { reportHtml } from './html.js';

/** Crops on the contact sheet unless `sample` says otherwise. */
export const DEFAULT_SHEET_CROPS = 24;
/** Largest contact sheet: each crop is a PNG inside the page. */
export const MAX_SHEET_CROPS = 1000;

export interface WriteReportOptions extends Omit<CollectOptions, 'sample'> {
  /** Where to write the HTML file. */
  out: string;
  /** The ImageFolder tree the labels were made from: adds the contact sheet. */
  data?: string;
  /** Crops on the contact sheet (default 24; needs `data`). */
  sample?: number;
}

/**
 * Reads a label store once and writes its report to `out`; resolves to the same statistics
 * as data (what `fkd report --json` prints).
 *
 * @example
 * const data = await writeReport('./labels', { out: 'report.html', data: '~/imagenet/train' });
 * console.log(`${(data.stats.agreement ?? 0) * 100}% top-1 agreement`);
 */
export async function writeReport(location: string, options: WriteReportOptions): Promise<ReportData> {
  const { out, data: dataRoot, sample = DEFAULT_SHEET_CROPS, ...collectOptions } = options;
  if (typeof out !== 'string' || out === '') throw new FkdError('E_USAGE', 'Expected an output path for the report (out).');
  if (!Number.isInteger(sample) || sample < 0 || sample > MAX_SHEET_CROPS) {
    throw new FkdError('E_USAGE', `Expected an integer in [0, ${MAX_SHEET_CROPS}] for sample but received ${String(sample)}.`);
  }
  const store = localPathOf(location);
  const inputs: CommandInput[] = [...(store === null ? [] : [{ path: store, what: 'the label store' }]), ...(dataRoot === undefined ? [] : [{ path: dataRoot, what: 'the dataset (--data)' }])];
  const holder = await storeAround(out);
  if (holder !== null) inputs.push({ path: holder, what: 'a label store' });
  await checkOutputFile(out, 'The report (--out, out)', inputs);
  const report = await collectReport(location, { ...collectOptions, sample: dataRoot === undefined ? 0 : sample });
  const pictures =
    dataRoot === undefined
      ? []
      : await renderContactSheet(report.sample, {
          data: dataRoot,
          fingerprint: report.fingerprint,
          classes: report.classes,
          images: report.info.images,
          size: report.teacher.inputSize,
          interpolation: report.sampler.interpolation,
          maxPixels: report.sampler.maxPixels,
          decoder: report.sampler.decoder,
          location: report.info.location,
        });
  await writeFileAtomic(out, new TextEncoder().encode(reportHtml(report, pictures)));
  return report;
}

/** The label store a path lies in (a folder up the path holding shards/ and a manifest or config), if any: a report never goes inside one. */
async function storeAround(path: string): Promise<string | null> {
  for (let folder = dirname(resolve(path)); ; folder = dirname(folder)) {
    const has = (name: string) => access(join(folder, name)).then(() => true, () => false);
    if ((await has(SHARDS_PREFIX)) && ((await has(MANIFEST_KEY)) || (await has(CONFIG_KEY)))) return folder;
    if (dirname(folder) === folder) return null;
  }
}
