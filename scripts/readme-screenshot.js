// Makes docs/report.png, the README's picture of a report, from the screenshot the browser test
// keeps (test/report/browser.test.ts writes test-artifacts/report.png from the fixture store).
// Usage: npx vitest run test/report/browser.test.ts && node scripts/readme-screenshot.js
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = fileURLToPath(new URL('..', import.meta.url));
const source = `${root}test-artifacts/report.png`;
const target = `${root}docs/report.png`;
const { width, height } = await sharp(source).metadata();
// The summary, the four plots and the first row of the contact sheet.
const shown = Math.min(height, Math.round(width * 1.45));
await sharp(source).extract({ left: 0, top: 0, width, height: shown }).resize({ width: 800 }).png({ palette: true, quality: 90, compressionLevel: 9 }).toFile(target);
console.log(`wrote ${target} from ${source} (${width}×${shown} → 800 px wide)`);
