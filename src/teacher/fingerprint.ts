import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { FkdError } from '../errors.js';
import { modelFileError } from './common.js';
import { locateTeacher } from './load.js';
import { readTfjsModelJson } from './tfjs.js';

export interface TeacherFingerprint {
  /** Lowercase hex SHA-256 identifying the teacher's exact bytes. */
  sha256: string;
  /** Every file that went into the hash, in hashing order. */
  files: string[];
}

/**
 * Identifies a teacher by content, so labels can be tied to the exact model that made them.
 * An ONNX model hashes as its file alone (the same digest as `sha256sum model.onnx`). A TF.js
 * model hashes `model.json` and then every weight shard in manifest order, each preceded by
 * its byte length, so a change to any weight byte, or bytes moved between files, changes it.
 *
 * @example
 * const { sha256, files } = await fingerprintTeacher('models/tfjs');
 * // files: ['models/tfjs/model.json', 'models/tfjs/group1-shard1of1.bin']
 */
export async function fingerprintTeacher(file: string): Promise<TeacherFingerprint> {
  const located = await locateTeacher(file);
  const hash = createHash('sha256');
  if (located.format === 'onnx') {
    await hashFile(hash, located.path);
    return { sha256: hash.digest('hex'), files: [located.path] };
  }
  const { weightFiles } = await readTfjsModelJson(located.path);
  const files = [located.path, ...weightFiles];
  for (const path of files) {
    const size = await fileSize(path, located.path);
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(size));
    hash.update(prefix);
    await hashFile(hash, path);
  }
  return { sha256: hash.digest('hex'), files };
}

async function fileSize(path: string, modelJson: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && path !== modelJson) {
      throw new FkdError('E_MODEL_LOAD', `Weight file ${path} listed in ${modelJson} is missing. Copy every shard named in weightsManifest next to model.json.`, {
        path,
        cause: error,
      });
    }
    throw modelFileError(error, path);
  }
}

// Streamed, because teachers run to hundreds of megabytes.
async function hashFile(hash: Hash, path: string): Promise<void> {
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    throw modelFileError(error, path);
  }
}
