// What format 2's content hashes add to the label pass: SHA-256 of each file's bytes, which the
// pass computes on its main thread from the bytes it reads anyway for the decode. Reading is
// not part of the cost (format 1 read the same bytes), so the files are read first and only the
// hashing is timed: the median of several rounds over every file.
import { readFile } from 'node:fs/promises';
import { contentHash } from '../../dist/dataset/file.js';
import { imagePath, scanDataset } from '../../dist/dataset/scan.js';

export async function hashSeconds(data, rounds = 7) {
  const listing = await scanDataset(data);
  const files = await Promise.all(listing.images.map((image) => readFile(imagePath(listing, image))));
  const times = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    for (const bytes of files) contentHash(bytes);
    times.push((performance.now() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(rounds / 2)], files: files.length, bytes: files.reduce((sum, bytes) => sum + bytes.byteLength, 0) };
}
