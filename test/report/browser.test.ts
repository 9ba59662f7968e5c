/**
 * Opens a report of the fixture store in a real headless Chromium (Debian's `chromium`
 * package; `.ci/run` installs it) and checks what a reader would see: no console errors, every
 * plot drawn, the contact sheet's images all decoded. Keeps a screenshot as a test artifact.
 * Without /usr/bin/chromium (or FKD_CHROMIUM) the test is skipped and says why.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { label } from '../../src/generate/label.js';
import { writeReport } from '../../src/report/report.js';
import { FIXTURE_IMAGES, FIXTURE_ONNX, REPO_ROOT } from '../helpers/cli.js';

const CHROMIUM = process.env.FKD_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Where the screenshot is kept (gitignored); CI can upload it. */
const SCREENSHOT = join(REPO_ROOT, 'test-artifacts', 'report.png');
const SHEET = 12;

if (!HAVE_CHROMIUM) console.warn(`report browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set FKD_CHROMIUM)`);

describe.skipIf(!HAVE_CHROMIUM)('fkd report in headless Chromium', () => {
  let work: string;
  let browser: Browser;
  let html: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fkd-report-browser-'));
    const store = join(work, 'labels');
    await label({ data: FIXTURE_IMAGES, teacher: FIXTURE_ONNX, out: store, epochs: 3, crops: 4, topK: 3, threads: 1 });
    html = join(work, 'report.html');
    await writeReport(store, { out: html, data: FIXTURE_IMAGES, sample: SHEET });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Root in a container has no user namespace for the sandbox; nothing here is untrusted.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('renders without console errors, draws every plot and shows the whole contact sheet', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, offline: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });

    const plots = await page.$$eval('svg.plot', (svgs) =>
      svgs.map((svg) => {
        const marks = [...svg.querySelectorAll('.bar')].map((bar) => (bar as unknown as { getBBox(): { width: number; height: number } }).getBBox());
        return { id: svg.getAttribute('data-plot'), marks: marks.length, drawn: marks.filter((box) => box.width > 0 && box.height > 0.5).length, width: svg.getBoundingClientRect().width };
      }),
    );
    expect(plots.map((plot) => plot.id)).toEqual(['top1', 'entropy', 'scale', 'outside', 'classes']);
    for (const plot of plots) {
      expect(plot.width, `${plot.id} is laid out`).toBeGreaterThan(200);
      expect(plot.drawn, `${plot.id} has visible bars`).toBeGreaterThan(0);
    }

    const images = await page.$$eval('.sheet img', (imgs) => imgs.map((img) => img as unknown as { complete: boolean; naturalWidth: number }).map((img) => ({ complete: img.complete, width: img.naturalWidth })));
    expect(images).toHaveLength(SHEET);
    for (const image of images) expect(image.complete && image.width > 0, 'every crop decodes').toBe(true);
    expect(await page.locator('.sheet figcaption li').count()).toBe(SHEET * 3);
    expect(await page.locator('.summary table').count()).toBe(3);

    await mkdir(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });
});
