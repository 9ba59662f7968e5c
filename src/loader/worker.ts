import { parentPort } from 'node:worker_threads';
import { ringRenderer } from '../crop/render.js';
import { isFkdError } from '../errors.js';
import { renderIntoRing, runImageJob, type RingViews } from './job.js';
import type { WorkerReply, WorkerRequest } from './pool.js';

/**
 * A render thread. Rings registered by loaders stay mapped here until released; render jobs
 * write into them and answer with just their id. Plain jobs answer with a transferred buffer.
 */
const rings = new Map<number, RingViews>();

const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []): void => parentPort?.postMessage(message, transfer);

const failure = (id: number, name: string) => (error: unknown) =>
  reply({
    id,
    error: {
      code: isFkdError(error) ? error.code : 'E_BAD_IMAGE',
      message: error instanceof Error ? error.message : String(error),
      details: isFkdError(error) ? { ...error.details, path: error.path ?? name } : { path: name },
    },
  });

parentPort?.on('message', (message: WorkerRequest) => {
  switch (message.kind) {
    case 'ring':
      rings.set(message.ring, {
        settings: message.settings,
        images: message.settings.dtype === 'float32' ? new Float32Array(message.images) : new Uint8Array(message.images),
        boxes: new Uint32Array(message.boxes),
        renderer: message.region ? ringRenderer(message.region) : null,
      });
      return;
    case 'release':
      rings.delete(message.ring);
      return;
    case 'rings':
      reply({ id: message.id, rings: [...rings.keys()], direct: [...rings].filter(([, views]) => views.renderer).map(([ring]) => ring) });
      return;
    case 'render': {
      const ring = rings.get(message.ring);
      if (!ring) {
        failure(message.id, message.name)(new Error(`ring ${message.ring} is not registered with this render thread`));
        return;
      }
      renderIntoRing(ring, message.file, message.name, message.expected, message.places).then((inThread) => reply({ id: message.id, inThread }), failure(message.id, message.name));
      return;
    }
    case 'job':
      runImageJob(message.job).then((result) => reply({ id: message.id, result }, [result.pixels.buffer as ArrayBuffer]), failure(message.id, message.job.name));
      return;
  }
});
