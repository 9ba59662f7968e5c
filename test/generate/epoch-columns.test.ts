import { describe, expect, it } from 'vitest';
import { EpochColumns } from '../../src/generate/epoch-columns.js';

describe('EpochColumns', () => {
  it('puts boxes and labels in the record slot of their epoch, and trims to the labelled images', () => {
    const columns = new EpochColumns({ epochs: 2, crops: 2, topK: 2, images: 3 });
    columns.setBox(1, 3, { top: 5, left: 6, height: 7, width: 8, flip: true });
    columns.setBox(0, 0, { top: 1, left: 2, height: 3, width: 4, flip: false });
    columns.setLabels(columns.cell(1, 3), new Uint32Array([9, 9, 4, 2]), new Uint16Array([0, 0, 10, 20]), 2);
    columns.setLabels(columns.cell(0, 0), new Uint32Array([7, 1]), new Uint16Array([30, 40]), 0);
    const [first, second] = columns.finish(2); // two of the three images had records
    expect(first).toMatchObject({ epoch: 0, crops: 2, topK: 2, count: 4 });
    expect([...first!.top, ...first!.left, ...first!.height, ...first!.width, ...first!.flip]).toEqual([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]);
    expect([...first!.classes]).toEqual([7, 1, 0, 0, 0, 0, 0, 0]);
    expect([...first!.codes]).toEqual([30, 40, 0, 0, 0, 0, 0, 0]);
    expect(second).toMatchObject({ epoch: 1, count: 4 });
    expect([second!.top[3], second!.left[3], second!.height[3], second!.width[3], second!.flip[3]]).toEqual([5, 6, 7, 8, 1]);
    expect([...second!.classes.subarray(6)]).toEqual([4, 2]);
    expect([...second!.codes.subarray(6)]).toEqual([10, 20]);
    expect(second!.classes).toHaveLength(8);
  });

  it('gives empty columns when no image had records', () => {
    const [only] = new EpochColumns({ epochs: 1, crops: 4, topK: 5, images: 2 }).finish(0);
    expect(only).toMatchObject({ count: 0 });
    expect(only!.classes).toHaveLength(0);
  });
});
