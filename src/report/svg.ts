// Inline SVG charts for the report: vertical bars over equal-width bins and horizontal bars per
// named row. Plain strings, no dependency: the charts are simple, the page must open offline,
// and SVG stays sharp at any zoom, keeps its text searchable and weighs a few kilobytes.

/** One vertical bar: its value and the hover text. */
export interface Bar {
  value: number;
  title: string;
}

export interface ColumnChart {
  /** Identifies the plot in the page (`data-plot`). */
  id: string;
  label: string;
  xLabel: string;
  yLabel: string;
  /** Left and right edge of the x axis. */
  from: number;
  to: number;
  bars: Bar[];
  /** Fixed top of the y axis (e.g. 1 for a fraction); default: the largest value, rounded up. */
  yMax?: number;
  formatX?: (x: number) => string;
  formatY?: (y: number) => string;
}

export interface RowChart {
  id: string;
  label: string;
  xLabel: string;
  rows: Array<{ name: string; value: number; title: string }>;
  /** The x axis spans [0, xMax]. */
  xMax: number;
  formatX?: (x: number) => string;
}

const WIDTH = 560;
const HEIGHT = 250;
const MARGIN = { top: 14, right: 16, bottom: 44, left: 58 };

/** Escapes text for use inside XML/HTML text and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Rounds `value` up to 1, 2 or 5 times a power of ten. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value * (1 - 1e-12)) return step * power;
  return 10 * power;
}

/** `count + 1` evenly spaced tick values over [from, to]. */
function ticks(from: number, to: number, count: number): number[] {
  return Array.from({ length: count + 1 }, (_, i) => from + ((to - from) * i) / count);
}

function plain(value: number): string {
  return Number.isInteger(value) ? String(value) : Number(value.toPrecision(3)).toString();
}

function round(value: number): string {
  return value.toFixed(1);
}

/**
 * A column chart: one bar per equal-width bin, axes with ticks, a hover title per bar.
 *
 * @example
 * columnChart({ id: 'top1', label: 'Top-1 probability', xLabel: 'p', yLabel: 'records', from: 0, to: 1, bars: [{ value: 3, title: '3' }] });
 */
export function columnChart(chart: ColumnChart): string {
  const formatX = chart.formatX ?? plain;
  const formatY = chart.formatY ?? plain;
  const largest = Math.max(0, ...chart.bars.map((bar) => bar.value));
  // Counts get whole, round tick steps (0, 20, 40, 60), fractions four quarters.
  const yStep = chart.yMax === undefined ? Math.max(1, niceCeiling(largest / 4)) : chart.yMax / 4;
  const yMax = chart.yMax ?? yStep * Math.max(1, Math.ceil(largest / yStep));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (value: number): number => MARGIN.left + ((value - chart.from) / (chart.to - chart.from)) * plotWidth;
  const y = (value: number): number => MARGIN.top + plotHeight - (value / yMax) * plotHeight;
  const step = plotWidth / Math.max(1, chart.bars.length);
  const gap = chart.bars.length > 20 ? 0.5 : 2;
  const bars = chart.bars
    .map((bar, i) => {
      const top = y(Math.min(bar.value, yMax));
      const height = MARGIN.top + plotHeight - top;
      return `<rect class="bar" x="${round(MARGIN.left + i * step + gap / 2)}" y="${round(top)}" width="${round(Math.max(0.5, step - gap))}" height="${round(height)}"><title>${escapeXml(bar.title)}</title></rect>`;
    })
    .join('');
  const yTicks = ticks(0, yMax, Math.round(yMax / yStep))
    .map((value) => `<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${round(y(value))}" y2="${round(y(value))}"/><text class="tick" x="${MARGIN.left - 6}" y="${round(y(value) + 4)}" text-anchor="end">${escapeXml(formatY(value))}</text>`)
    .join('');
  const xTicks = ticks(chart.from, chart.to, Math.min(chart.bars.length, 5))
    .map((value) => `<text class="tick" x="${round(x(value))}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escapeXml(formatX(value))}</text>`)
    .join('');
  return frame(chart.id, chart.label, `${yTicks}${bars}${xTicks}${axes()}` +
    `<text class="axis-label" x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>` +
    `<text class="axis-label" transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`, HEIGHT);
}

/**
 * Horizontal bars, one per named row, top to bottom in the given order.
 *
 * @example
 * rowChart({ id: 'classes', label: 'Agreement by class', xLabel: 'agreement', xMax: 1, rows: [{ name: 'cat', value: 0.4, title: '40%' }] });
 */
export function rowChart(chart: RowChart): string {
  const formatX = chart.formatX ?? plain;
  const rowHeight = 18;
  const left = 150;
  const height = MARGIN.top + chart.rows.length * rowHeight + MARGIN.bottom;
  const plotWidth = WIDTH - left - MARGIN.right - 44;
  const x = (value: number): number => left + (Math.min(value, chart.xMax) / chart.xMax) * plotWidth;
  const bottom = MARGIN.top + chart.rows.length * rowHeight;
  const rows = chart.rows
    .map((row, i) => {
      const top = MARGIN.top + i * rowHeight;
      const name = row.name.length > 22 ? `${row.name.slice(0, 21)}…` : row.name;
      return `<text class="row-label" x="${left - 8}" y="${top + 13}" text-anchor="end">${escapeXml(name)}<title>${escapeXml(row.name)}</title></text>` +
        `<rect class="bar" x="${left}" y="${top + 3}" width="${round(Math.max(0.5, x(row.value) - left))}" height="${rowHeight - 6}"><title>${escapeXml(row.title)}</title></rect>` +
        `<text class="value" x="${round(x(row.value) + 5)}" y="${top + 13}">${escapeXml(formatX(row.value))}</text>`;
    })
    .join('');
  const xTicks = ticks(0, chart.xMax, 4)
    .map((value) => `<line class="grid" x1="${round(x(value))}" x2="${round(x(value))}" y1="${MARGIN.top}" y2="${bottom}"/><text class="tick" x="${round(x(value))}" y="${bottom + 16}" text-anchor="middle">${escapeXml(formatX(value))}</text>`)
    .join('');
  return frame(chart.id, chart.label, `${xTicks}${rows}<line class="axis" x1="${left}" x2="${left}" y1="${MARGIN.top}" y2="${bottom}"/>` +
    `<text class="axis-label" x="${left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`, height);
}

function axes(): string {
  const bottom = HEIGHT - MARGIN.bottom;
  return `<line class="axis" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}"/><line class="axis" x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}"/>`;
}

function frame(id: string, label: string, body: string, height: number): string {
  return `<svg class="plot" data-plot="${escapeXml(id)}" role="img" aria-label="${escapeXml(label)}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" xmlns="http://www.w3.org/2000/svg">${body}</svg>`;
}
