// The system-time floor the decoder sets: sharp (libvips) decoding the bench photos alone, one
// at a time on the main thread, as a share of the CPU time it takes. Its worker-thread
// hand-offs (futex waits and wake-ups) are system time the loader cannot avoid while sharp
// decodes, so the loader's own system share is printed beside this one.
import { readFile } from 'node:fs/promises';
import { decodeImage } from '../../dist/dataset/decode.js';
import { imagePath, scanDataset } from '../../dist/dataset/scan.js';

export async function decodeSystemShare(data, rounds = 4) {
  const listing = await scanDataset(data);
  const files = await Promise.all(listing.images.map((image) => readFile(imagePath(listing, image))));
  for (const bytes of files) await decodeImage(bytes);
  const cpu = process.cpuUsage();
  for (let round = 0; round < rounds; round++) for (const bytes of files) await decodeImage(bytes);
  const used = process.cpuUsage(cpu);
  return { decodes: rounds * files.length, systemShare: used.system / (used.user + used.system) };
}
