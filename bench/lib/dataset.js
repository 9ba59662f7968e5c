// A photo-sized ImageFolder for benchmarks: 500×375 JPEGs of about the size of an ImageNet
// image (~110 KB), so decode costs are realistic. Smooth colour fields with edges and grain
// compress like photos; pure noise would be several times larger and slower to decode.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { mulberry32 as seeded } from '../../scripts/lib/onnx-graph.js';


/**
 * Writes `<dir>/class-N/img-M.jpg` unless it exists, and returns `dir`.
 * @example const data = await ensureBenchDataset('bench/out/data', { classes: 4, perClass: 24 });
 */
export async function ensureBenchDataset(dir, { classes = 4, perClass = 24, width = 500, height = 375 } = {}) {
  const marker = join(dir, `class-${classes - 1}`, `img-${perClass - 1}.jpg`);
  if (existsSync(marker)) return dir;
  const random = seeded(2022);
  for (let c = 0; c < classes; c++) {
    mkdirSync(join(dir, `class-${c}`), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const data = Buffer.alloc(width * height * 3);
      const f = [1 + random() * 6, 1 + random() * 6, 1 + random() * 6];
      const phase = [random() * 6, random() * 6, random() * 6];
      const base = [random() * 255, random() * 255, random() * 255];
      base[c % 3] = 200;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const edge = (x + 2 * y) % 97 < 3 ? 60 : 0;
          for (let k = 0; k < 3; k++) {
            const wave = 50 * Math.sin((x / width) * f[k] * 6.28 + phase[k]) * Math.cos((y / height) * f[(k + 1) % 3] * 6.28);
            data[(y * width + x) * 3 + k] = Math.max(0, Math.min(255, base[k] * 0.7 + wave + edge + (random() - 0.5) * 40));
          }
        }
      }
      await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(dir, `class-${c}`, `img-${i}.jpg`));
    }
  }
  return dir;
}
