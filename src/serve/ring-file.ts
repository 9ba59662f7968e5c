import { closeSync, existsSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FkdError } from '../errors.js';
import type { Batch } from '../loader/batch.js';
import { sectionBytes, slotLayout, type Section, type SlotShape } from './layout.js';

/** Where ring files go by default: tmpfs on Linux, so the client's map is memory, not disk. */
export function defaultRingDirectory(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/**
 * The server's side of the shared ring: a file of `slots × slotBytes` that the client maps.
 * Node has no mmap, so each batch is written into its slot with positioned writes, one copy
 * per array (into the page cache of a tmpfs file, which is the client's mapped memory).
 */
export class RingFile {
  readonly path: string;
  readonly sections: Section[];
  readonly slotBytes: number;
  private fd: number | null = null;
  /** The provenance columns of one batch, gathered here and written with one call. */
  private readonly columns: Buffer;
  private readonly columnsAt: number;

  constructor(
    directory: string,
    readonly slots: number,
    readonly shape: SlotShape,
  ) {
    const { sections, slotBytes } = slotLayout(shape);
    this.sections = sections;
    this.slotBytes = slotBytes;
    this.path = join(directory, `fkd-serve-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      // 'wx': a name that exists already is never reused, so no one else's file is truncated.
      this.fd = openSync(this.path, 'wx', 0o600);
      ftruncateSync(this.fd, slots * slotBytes);
    } catch (error) {
      this.close();
      throw new FkdError('E_IO', `Cannot create the batch ring ${this.path} (${slots} × ${slotBytes} bytes): ${(error as Error).message}`, { path: this.path, cause: error });
    }
    this.columnsAt = this.section('imageIndex').offset;
    this.columns = Buffer.alloc(slotBytes - this.columnsAt);
  }

  section(name: Section['name']): Section {
    return this.sections.find((section) => section.name === name)!;
  }

  /** Writes `batch` into slot `slot`; its targets' rows go packed, `batch.targets.topK` per row. */
  write(slot: number, batch: Batch): void {
    const base = slot * this.slotBytes;
    const put = (name: Section['name'], array: ArrayBufferView): void => {
      const bytes = Buffer.from(array.buffer, array.byteOffset, array.byteLength);
      writeSync(this.fd!, bytes, 0, bytes.length, base + this.section(name).offset);
    };
    put('images', batch.images);
    put('dense', batch.targets.dense());
    put('classes', batch.targets.classes);
    put('probs', batch.targets.probs);
    this.columns.fill(0);
    const view = <T>(name: Section['name'], Type: new (buffer: ArrayBufferLike, offset: number, length: number) => T): T => {
      const section = this.section(name);
      return new Type(this.columns.buffer, this.columns.byteOffset + section.offset - this.columnsAt, sectionBytes(section, this.shape.batchSize) / (Type as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
    };
    const imageIndex = view('imageIndex', Uint32Array);
    const classIndex = view('classIndex', Uint32Array);
    const crop = view('crop', Uint32Array);
    const box = view('box', Uint32Array);
    const flip = view('flip', Uint8Array);
    const mixKind = view('mixKind', Uint8Array);
    const mixPartner = view('mixPartner', Uint32Array);
    const mixLambda = view('mixLambda', Float64Array);
    const mixBox = view('mixBox', Uint32Array);
    for (const [i, meta] of batch.meta.entries()) {
      imageIndex[i] = meta.imageIndex;
      classIndex[i] = meta.classIndex;
      crop[i] = meta.crop;
      box.set([meta.box.top, meta.box.left, meta.box.height, meta.box.width], i * 4);
      flip[i] = meta.box.flip ? 1 : 0;
      mixPartner[i] = meta.mix?.partner ?? i;
      mixLambda[i] = meta.mix?.lambda ?? 1;
      mixKind[i] = meta.mix === undefined ? 0 : meta.mix.box === undefined ? 1 : 2;
      if (meta.mix?.box) mixBox.set([meta.mix.box.top, meta.mix.box.left, meta.mix.box.height, meta.mix.box.width], i * 4);
    }
    writeSync(this.fd!, this.columns, 0, this.columns.length, base + this.columnsAt);
  }

  /** Closes and removes the file (the client's map stays valid until it lets go). Safe to call twice. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone (removed by the client after this process was killed, or never made).
    }
  }
}
