// The report page: one self-contained HTML document (inline CSS, inline SVG, PNG crops as data
// URLs, no script), so it opens offline, mails as one file and has nothing to fail at run time.
import type { ReportData } from './collect.js';
import type { SheetPicture } from './contact-sheet.js';
import type { Histogram } from './stats.js';
import { columnChart, escapeXml, rowChart } from './svg.js';

/** Classes shown in the per-class chart. */
export const WORST_CLASSES = 20;

const STYLE = `
:root { --ink: #1d2330; --muted: #5d6678; --line: #dde1e8; --panel: #f6f7f9; --accent: #2f6fd6; --bad: #c2410c; --good: #15803d; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 32px 48px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 18px; border-bottom: 1px solid var(--line); padding-bottom: 14px; }
h1 { font-size: 22px; margin: 0; font-weight: 650; }
h1 span { color: var(--accent); }
h2 { font-size: 16px; margin: 30px 0 10px; font-weight: 650; }
.where { color: var(--muted); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; word-break: break-all; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; margin-top: 18px; }
.figure { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.figure b { display: block; font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.figure span { color: var(--muted); font-size: 12.5px; }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr)); gap: 12px; }
table { border-collapse: collapse; width: 100%; }
.summary table { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
caption { text-align: left; font-weight: 650; padding: 10px 12px 4px; }
th, td { text-align: left; padding: 4px 12px; vertical-align: top; font-variant-numeric: tabular-nums; }
th { color: var(--muted); font-weight: 500; white-space: nowrap; width: 1%; }
td { word-break: break-word; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px 8px; }
.card h3 { font-size: 14px; margin: 0 0 2px; font-weight: 650; }
.card p { margin: 0 0 6px; color: var(--muted); font-size: 12.5px; }
svg.plot { display: block; width: 100%; height: auto; max-width: 560px; }
svg.plot .bar { fill: var(--accent); }
svg.plot .bar:hover { fill: #1d4ea3; }
svg.plot .grid { stroke: var(--line); stroke-width: 1; }
svg.plot .axis { stroke: #9aa3b2; stroke-width: 1; }
svg.plot text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.plot .axis-label { font-size: 12px; fill: var(--ink); }
svg.plot .row-label { font-size: 12px; fill: var(--ink); }
svg.plot .value { font-size: 11px; fill: var(--ink); }
.sheet { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.sheet figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; background: var(--panel); }
.sheet img { display: block; width: 100%; height: auto; image-rendering: auto; background: #000; }
.sheet figcaption { padding: 6px 8px 8px; font-size: 12px; }
.sheet ol { margin: 0; padding: 0 0 0 18px; }
.sheet li { font-variant-numeric: tabular-nums; }
.sheet .folder { color: var(--muted); margin-top: 4px; }
.sheet .agree { color: var(--good); font-weight: 600; }
.sheet .disagree { color: var(--bad); font-weight: 600; }
.sheet .path { color: var(--muted); font-size: 11px; word-break: break-all; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 10px; }
`;

const percent = (value: number | null, digits = 1): string => (value === null ? '–' : `${(value * 100).toFixed(digits)}%`);
const fixed = (value: number, digits = 3): string => value.toFixed(digits);
const count = (value: number): string => value.toLocaleString('en-US');

function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 0;
  let scaled = value;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${scaled.toFixed(2)} ${units[unit]} (${count(value)} B)`;
}

function table(caption: string, rows: Array<[string, string]>): string {
  return `<table><caption>${escapeXml(caption)}</caption><tbody>${rows.map(([name, value]) => `<tr><th>${escapeXml(name)}</th><td>${escapeXml(value)}</td></tr>`).join('')}</tbody></table>`;
}

function histogramBars(histogram: Histogram, describe: (from: number, to: number) => string): Array<{ value: number; title: string }> {
  const width = (histogram.to - histogram.from) / histogram.counts.length;
  return histogram.counts.map((n, i) => {
    const from = histogram.from + i * width;
    return { value: n, title: `${describe(from, from + width)}: ${count(n)} records` };
  });
}

function card(title: string, note: string, svg: string): string {
  return `<section class="card"><h3>${escapeXml(title)}</h3><p>${escapeXml(note)}</p>${svg}</section>`;
}

function summary(data: ReportData): string {
  const { info, teacher, sampler, codec } = data;
  const store = table('Store', [
    ['location', info.location],
    ['complete', info.complete ? 'yes' : `no (${info.shards.present} of ${info.shards.expected} shards)`],
    ['images', `${count(info.images)} (${count(info.skipped.length)} skipped)`],
    ['records', `${count(info.records)} (${info.epochs} epochs × ${info.crops} crops per image)`],
    ['top-k', `${info.topK} of ${count(info.classes)} classes`],
    ['shards', `${count(info.shards.present)} of ${count(info.shards.expected)}`],
    ['total bytes', bytes(info.totalBytes)],
    ['bytes/record', info.bytesPerRecord.toFixed(2)],
  ]);
  const teacherTable = table('Teacher', [
    ['file', teacher.file],
    ['sha256', teacher.sha256],
    ['engine', `${teacher.engine} (${teacher.backend})`],
    ['input', `${teacher.inputSize} px, ${teacher.layout}`],
    ['mean', teacher.mean.join(', ')],
    ['std', teacher.std.join(', ')],
    ['outputs', teacher.outputs],
    ['temperature', String(teacher.temperature)],
  ]);
  const samplerTable = table('Sampler and codec', [
    ['seed', String(sampler.seed)],
    ['scale', sampler.scale.join(' – ')],
    ['ratio', sampler.ratio.map((r) => fixed(r, 4)).join(' – ')],
    ['flip', String(sampler.flip)],
    ['interpolation', sampler.interpolation],
    ['max pixels', count(sampler.maxPixels)],
    ['codec', `${codec.name}, step ln ${codec.stepLn}`],
    ['target', codec.target],
  ]);
  return `<div class="summary">${store}${teacherTable}${samplerTable}</div>`;
}

function figures(data: ReportData): string {
  const { stats } = data;
  const items: Array<[string, string]> = [
    [percent(stats.agreement), `top-1 agrees with the folder label (${count(stats.agreeing)} of ${count(stats.records)} records)`],
    [fixed(stats.top1.mean), 'mean top-1 probability'],
    [`${fixed(stats.entropy.mean, 2)} bits`, `mean entropy of the stored distribution (max ${fixed(stats.entropy.max, 2)})`],
    [percent(stats.outsideTopK.mean, 2), `mean mass outside the top-${data.codec.topK} (max ${percent(stats.outsideTopK.max, 1)})`],
  ];
  return `<div class="figures">${items.map(([value, label]) => `<div class="figure"><b>${escapeXml(value)}</b><span>${escapeXml(label)}</span></div>`).join('')}</div>`;
}

function plots(data: ReportData): string {
  const { stats, codec } = data;
  const top1 = columnChart({
    id: 'top1', label: 'Histogram of the top-1 probability', xLabel: 'top-1 probability', yLabel: 'records',
    from: 0, to: 1, bars: histogramBars(stats.top1.histogram, (a, b) => `p ${fixed(a, 3)}–${fixed(b, 3)}`),
  });
  const entropy = columnChart({
    id: 'entropy', label: 'Histogram of the entropy', xLabel: 'entropy (bits)', yLabel: 'records',
    from: 0, to: stats.entropy.max, bars: histogramBars(stats.entropy.histogram, (a, b) => `${fixed(a, 2)}–${fixed(b, 2)} bits`), formatX: (x) => x.toFixed(1),
  });
  const byScale = columnChart({
    id: 'scale', label: 'Top-1 agreement by crop scale', xLabel: 'crop scale (box area ÷ image area)', yLabel: 'agreement',
    from: stats.byScale[0]?.from ?? 0, to: stats.byScale[stats.byScale.length - 1]?.to ?? 1, yMax: 1,
    bars: stats.byScale.map((bin) => ({ value: bin.agreement ?? 0, title: `scale ${fixed(bin.from, 2)}–${fixed(bin.to, 2)}: ${percent(bin.agreement)} of ${count(bin.records)} records` })),
    formatX: (x) => x.toFixed(2), formatY: (y) => percent(y, 0),
  });
  const outside = columnChart({
    id: 'outside', label: `Histogram of the mass outside the top-${codec.topK}`, xLabel: `1 − Σ top-${codec.topK} probabilities`, yLabel: 'records',
    from: 0, to: stats.outsideTopK.histogram.to, bars: histogramBars(stats.outsideTopK.histogram, (a, b) => `${fixed(a, 4)}–${fixed(b, 4)}`),
  });
  const worst = stats.byClass.filter((c) => c.agreement !== null).slice(0, WORST_CLASSES);
  const classes = rowChart({
    id: 'classes', label: `Top-1 agreement of the ${worst.length} worst classes`, xLabel: 'top-1 agreement with the folder label', xMax: 1,
    rows: worst.map((c) => ({ name: c.name, value: c.agreement ?? 0, title: `${c.name}: ${percent(c.agreement)} of ${count(c.records)} records` })),
    formatX: (x) => percent(x, 0),
  });
  return `<div class="plots">
${card('Top-1 probability', 'How sure the teacher is: the largest stored probability of each crop.', top1)}
${card('Entropy of the stored distribution', `In bits, of the target the loader rebuilds (${codec.target}); 0 is a one-hot label.`, entropy)}
${card('Agreement by crop scale', 'Share of crops whose top-1 class is the folder label, in ten bins of crop scale. Small crops are where easy images turn hard.', byScale)}
${card(`Mass outside the top-${codec.topK}`, 'Probability the store does not keep per class; marginal smoothing spreads it evenly over the other classes.', outside)}
</div>
<h2>Agreement by class, worst ${worst.length} first</h2>
<div class="plots">${card('Per-class top-1 agreement', `${stats.byClass.length} classes; the ${worst.length} with the lowest agreement.`, classes)}</div>`;
}

function sheet(data: ReportData, pictures: readonly SheetPicture[]): string {
  if (pictures.length === 0) return '';
  const figures = pictures
    .map(({ record, png }) => {
      const folder = data.classes[record.folderClass] ?? String(record.folderClass);
      const agrees = record.top[0]?.classIndex === record.folderClass;
      const top = record.top.map((t) => `<li>${escapeXml(data.classes[t.classIndex] ?? String(t.classIndex))} <b>${fixed(t.probability, 3)}</b></li>`).join('');
      const src = `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
      const alt = `crop ${record.crop} of ${record.path}, label epoch ${record.epoch}`;
      return `<figure><img src="${src}" alt="${escapeXml(alt)}" width="${data.teacher.inputSize}" height="${data.teacher.inputSize}"><figcaption><ol>${top}</ol>` +
        `<div class="folder">folder: ${escapeXml(folder)} <span class="${agrees ? 'agree' : 'disagree'}">${agrees ? '✓' : '✗'}</span></div>` +
        `<div class="path">${escapeXml(record.path)} · epoch ${record.epoch} · crop ${record.crop}${record.box.flip ? ' · flipped' : ''}</div></figcaption></figure>`;
    })
    .join('\n');
  return `<h2>Contact sheet: ${pictures.length} sampled crops, as the student sees them</h2>
<p class="where">Rendered by the loader's renderer at ${data.teacher.inputSize} px (${data.sampler.interpolation}); captions are the stored top-${Math.min(3, data.codec.topK)} classes and probabilities.</p>
<div class="sheet" data-sheet="${pictures.length}">
${figures}
</div>`;
}

/**
 * The report as one HTML document.
 *
 * @example
 * await writeFile('report.html', reportHtml(await collectReport('./labels'), []));
 */
export function reportHtml(data: ReportData, pictures: readonly SheetPicture[] = []): string {
  const title = `fkd report: ${data.info.location}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header><h1><span>fkd</span> report</h1><div class="where">${escapeXml(data.info.location)}</div></header>
${figures(data)}
<h2>Summary</h2>
${summary(data)}
<h2>What the teacher said</h2>
${plots(data)}
${sheet(data, pictures)}
<footer>Labels written ${escapeXml(data.createdAt)} by ${escapeXml(data.tool.name)} ${escapeXml(data.tool.version)}; this report read all ${count(data.stats.records)} records of ${data.info.epochs} label epochs. Every plot is inline SVG: the page needs no network.</footer>
</main>
</body>
</html>
`;
}
