import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TeacherBatcher, type LabelSink } from '../../src/generate/teacher-batcher.js';
import { encodeProbability } from '../../src/labels/codec.js';
import { toProbabilities } from '../../src/labels/probabilities.js';
import { topK } from '../../src/labels/topk.js';
import type { TeacherEngine } from '../../src/teacher/engine.js';
import { loadTeacher } from '../../src/teacher/load.js';
import { FIXTURE_ONNX } from '../helpers/cli.js';
import { pseudoRandomBatch } from '../teacher/helpers.js';

let teacher: TeacherEngine;
beforeAll(async () => {
  teacher = await loadTeacher(FIXTURE_ONNX, { threads: 1 });
});
afterAll(async () => {
  await teacher.dispose();
});

/** A sink that keeps every label it is sent, by tag. */
function collector(k: number) {
  const labels = new Map<number, { classes: number[]; codes: number[] }>();
  const sink: LabelSink = {
    setLabels(tag, classes, codes, offset) {
      labels.set(tag, { classes: [...classes.subarray(offset, offset + k)], codes: [...codes.subarray(offset, offset + k)] });
    },
  };
  return { sink, labels };
}

/** The teacher, with each call's input recorded (the real engine still runs). */
function recording(engine: TeacherEngine) {
  const calls: { rows: number; buffer: ArrayBufferLike }[] = [];
  const spy: TeacherEngine = {
    info: engine.info,
    infer: (input, rows) => {
      calls.push({ rows, buffer: input.buffer });
      return engine.infer(input, rows);
    },
    dispose: () => engine.dispose(),
  };
  return { spy, calls };
}

describe('TeacherBatcher', () => {
  const k = 2;
  const options = { batchSize: 3, topK: k, outputs: 'logits' as const, temperature: 2 };

  it('labels each row as the teacher, softmax, top-k and the codec do one row at a time', async () => {
    const rowLength = 3 * teacher.info.inputSize ** 2;
    const rows = Array.from({ length: 7 }, (_, row) => pseudoRandomBatch(rowLength, row + 1));
    const { spy, calls } = recording(teacher);
    const batcher = new TeacherBatcher(spy, options);
    const { sink, labels } = collector(k);
    for (const [row, pixels] of rows.entries()) {
      batcher.input.set(pixels, batcher.row * rowLength);
      await batcher.add(sink, 100 + row);
    }
    expect(calls.map((call) => call.rows)).toEqual([3, 3]); // full batches go at once
    await batcher.flush();
    await batcher.flush(); // nothing left: no call
    expect(calls.map((call) => call.rows)).toEqual([3, 3, 1]);
    expect(batcher.labelled).toBe(7);

    for (const [row, pixels] of rows.entries()) {
      const outputs = await teacher.infer(pixels, 1);
      const best = topK(toProbabilities(outputs, 1, teacher.info.numClasses, options), 1, teacher.info.numClasses, k);
      expect(labels.get(100 + row)).toEqual({ classes: [...best.classes], codes: [...best.probs].map(encodeProbability) });
    }
  });

  it('sends every batch from the one input buffer it allocated', async () => {
    const { spy, calls } = recording(teacher);
    const batcher = new TeacherBatcher(spy, options);
    const { sink } = collector(k);
    for (let row = 0; row < 8; row++) await batcher.add(sink, row);
    await batcher.flush();
    expect(calls).toHaveLength(3);
    expect(calls.every((call) => call.buffer === batcher.input.buffer)).toBe(true);
  });

  it('stops before calling the teacher once the signal is aborted', async () => {
    const { spy, calls } = recording(teacher);
    const controller = new AbortController();
    const batcher = new TeacherBatcher(spy, { ...options, signal: controller.signal });
    const { sink } = collector(k);
    await batcher.add(sink, 0);
    controller.abort(new Error('stopped by the user'));
    await expect(batcher.flush()).rejects.toThrow('stopped by the user');
    expect(calls).toEqual([]);
  });
});
