import { parentPort } from 'node:worker_threads';
import { isFkdError } from '../errors.js';
import { runImageJob, type ImageJob } from './job.js';

/** A render thread: receives image jobs, answers with transferred pixel buffers or a plain error. */
parentPort?.on('message', (message: { id: number; job: ImageJob }) => {
  runImageJob(message.job).then(
    (result) => parentPort?.postMessage({ id: message.id, result }, [result.pixels.buffer as ArrayBuffer]),
    (error: unknown) =>
      parentPort?.postMessage({
        id: message.id,
        error: {
          code: isFkdError(error) ? error.code : 'E_BAD_IMAGE',
          message: error instanceof Error ? error.message : String(error),
          path: isFkdError(error) ? error.path : message.job.name,
        },
      }),
  );
});
