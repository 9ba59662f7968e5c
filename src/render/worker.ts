import { parentPort } from 'node:worker_threads';
import { ringRenderer } from '../crop/render.js';
import type { DecodedImage } from '../dataset/image.js';
import { FkdError, isFkdError } from '../errors.js';
import { collectGarbage } from '../pipeline/collect-garbage.js';
import { openImage, renderIntoRing, renderPlaces, runImageJob, type RingViews } from './job.js';
import type { WorkerReply, WorkerRequest } from './pool.js';

/**
 * A render thread. Rings registered by loaders stay mapped here until released; render jobs
 * write into them and answer with just their id. Plain jobs answer with a transferred buffer.
 */
const rings = new Map<number, RingViews>();
/** Images opened for the label pass, by the id of their `open` job, until their last crops are drawn. */
const held = new Map<number, DecodedImage>();
/** `open` jobs waiting to be admitted, by id. */
const admissions = new Map<number, (refused?: string) => void>();

/** Asks the main thread to admit `pixels` for job `id` and waits for its answer, unless they are at most `freely`. */
const admit = (id: number, name: string, freely: number) => (pixels: number) => {
  if (pixels <= freely) {
    reply({ id, admit: pixels, early: true });
    return Promise.resolve();
  }
  return new Promise<void>((resolve, reject) => {
    admissions.set(id, (refused) => (refused === undefined ? resolve() : reject(new FkdError('E_ABORTED', `${name}: not decoded, the pass stopped (${refused}).`, { path: name }))));
    reply({ id, admit: pixels });
  });
};

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
    case 'open':
      openImage(message.file, message.name, { maxPixels: message.maxPixels, allowSvg: message.allowSvg, admit: admit(message.id, message.name, message.freely) }).then(({ image, hash }) => {
        held.set(message.id, image);
        reply({ id: message.id, opened: { width: image.width, height: image.height, hash: hash.slice(), inThread: image.layout === 'rgbx' } });
      }, failure(message.id, message.name));
      return;
    case 'admitted': {
      const answer = admissions.get(message.id);
      admissions.delete(message.id);
      answer?.(message.refused);
      return;
    }
    case 'draw': {
      const ring = rings.get(message.ring);
      const image = held.get(message.image);
      const name = `image ${message.image}`;
      if (!ring || !image) {
        failure(message.id, name)(new Error(ring ? `image ${message.image} is not held by this render thread` : `ring ${message.ring} is not registered with this render thread`));
        return;
      }
      try {
        renderPlaces(ring, image, message.places);
      } catch (error) {
        failure(message.id, name)(error);
        return;
      }
      if (!message.last) {
        reply({ id: message.id });
        return;
      }
      held.delete(message.image);
      // A large image's buffer is freed only when this thread's collector runs, and an idle thread never runs it.
      if (message.collect) void collectGarbage().then(() => reply({ id: message.id }));
      else reply({ id: message.id });
      return;
    }
    case 'drop':
      held.delete(message.image);
      return;
    case 'job':
      runImageJob(message.job).then((result) => reply({ id: message.id, result }, [result.pixels.buffer as ArrayBuffer]), failure(message.id, message.job.name));
      return;
  }
});
