import { describe, expect, it } from 'vitest';
import { isFkdError } from '../../src/errors.js';
import { parseClassMap, resolveClassMap, restrictToFolders } from '../../src/labels/class-map.js';
import { toProbabilities } from '../../src/labels/probabilities.js';

const FOLDERS = ['cat', 'dog', 'fox'];

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isFkdError(error, 'E_CLASS_MAP'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('class maps', () => {
  it('read a JSON object and a two-column text file alike, comments, blank lines and spaced folder names included', () => {
    expect(parseClassMap('{ "cat": 3, "dog": 0 }', 'm.json')).toEqual({ cat: 3, dog: 0 });
    expect(parseClassMap('# folder index\ncat 3\n\nred fox\t7\r\ndog  0\n', 'm.txt')).toEqual({ cat: 3, 'red fox': 7, dog: 0 });
  });

  it('refuse a text line without an index and a folder mapped twice, naming the line', () => {
    expect(refusal(() => parseClassMap('cat 3\ndog\n', 'm.txt'))).toMatch(/m\.txt line 2: expected "folder outputIndex"/);
    expect(refusal(() => parseClassMap('cat 3\ncat 4\n', 'm.txt'))).toMatch(/line 2: folder "cat" is mapped twice/);
    expect(refusal(() => parseClassMap('{ "cat": ', 'm.json'))).toMatch(/does not parse/);
    // The JSON form refuses a key given twice, as the text form does (JSON.parse would keep the last).
    expect(refusal(() => parseClassMap('{ "cat": 3, "cat": 4 }', 'm.json'))).toMatch(/m\.json starts like JSON but does not parse: duplicate key "cat"/);
    // A trailing comment is a comment, not part of the folder or the index; a "#" inside a folder name stays.
    expect(parseClassMap('cat 3  # a tabby\nred fox 7 # two words\nc#sharp 1\n', 'm.txt')).toEqual({ cat: 3, 'red fox': 7, 'c#sharp': 1 });
  });

  it('give each folder its output, in folder order, and allow entries for folders the dataset lacks', () => {
    expect(resolveClassMap({ fox: 1, cat: 9, dog: 4, wolf: 2 }, FOLDERS, 10, 'm')).toEqual({ outputs: 10, indices: [9, 4, 1] });
  });

  it('refuse unmapped folders, naming them', () => {
    expect(refusal(() => resolveClassMap({ dog: 4 }, FOLDERS, 10, 'm.json'))).toMatch(/m\.json does not map 2 of the 3 class folders: "cat", "fox"/);
  });

  it('refuse two folders on one output, naming both', () => {
    expect(refusal(() => resolveClassMap({ cat: 4, dog: 4, fox: 1 }, FOLDERS, 10, 'm'))).toMatch(/maps both "cat" and "dog" to teacher output 4/);
  });

  it.each([[10], [-1], [1.5], ['3']])('refuse an output index %j outside the teacher\'s 0..9', (index) => {
    expect(refusal(() => resolveClassMap({ cat: index, dog: 4, fox: 1 }, FOLDERS, 10, 'm'))).toMatch(/maps "cat" to .*the teacher has 10 outputs, so each index must be an integer in 0\.\.9/);
  });

  it('restrict softmax(logits / T) over every output to the mapped ones and renormalise: the softmax of the mapped logits alone', () => {
    const logits = Float32Array.of(2, -1, 0.5, 3, 0, 1.25, -2);
    const indices = [5, 0, 3];
    const all = toProbabilities(logits, 1, 7, { outputs: 'logits', temperature: 2 });
    const restricted = restrictToFolders(all, 1, 7, indices, new Float32Array(3));
    const direct = toProbabilities(Float32Array.from(indices, (i) => logits[i]!), 1, 3, { outputs: 'logits', temperature: 2 });
    for (let f = 0; f < 3; f++) expect(restricted[f]).toBeCloseTo(direct[f]!, 6);
    expect(Array.from(restrictToFolders(new Float32Array(7), 1, 7, indices, new Float32Array(3)))).toEqual([1 / 3, 1 / 3, 1 / 3].map(Math.fround));
  });
});
