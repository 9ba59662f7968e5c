import { encodeProbability } from '../labels/codec.js';
import { restrictToFolders } from '../labels/class-map.js';
import { toProbabilities, type ProbabilityOptions } from '../labels/probabilities.js';
import { topK, type TopK } from '../labels/topk.js';
import type { TeacherEngine } from '../teacher/engine.js';

/** Where labelled rows go: `setLabels(tag, …)` receives a row's k classes and codes at `offset`. */
export interface LabelSink {
  setLabels(tag: number, classes: Uint32Array, codes: Uint16Array, offset: number): void;
}

export interface TeacherBatcherOptions extends ProbabilityOptions {
  /** Crops per teacher call. */
  batchSize: number;
  topK: number;
  signal?: AbortSignal | undefined;
  /** Sees every normalised batch exactly as the teacher gets it. */
  onTeacherInput?: ((input: Float32Array, rows: number) => void) | undefined;
  /** Teacher output of each folder class (`teacher.classMap.indices`), when the teacher's classes are not the folders. */
  classMap?: readonly number[] | undefined;
}

/**
 * Fills fixed-size teacher batches and turns the teacher's outputs into stored labels:
 * softmax (or sharpening) at the run's temperature, top-k, and the probability codes. The
 * caller renders each crop straight into `input` at row `row`, then calls `add` with a tag
 * saying where the label belongs; a full batch goes to the teacher at once, and `flush` sends
 * a short last one. The input batch, the probabilities, the top-k and the codes are allocated
 * once and reused for every batch.
 *
 * @example
 * const batcher = new TeacherBatcher(teacher, { batchSize: 32, topK: 5, outputs: 'logits', temperature: 1 });
 * renderNormalized(image, spec, size, 'bilinear', batcher.input, batcher.row, layout, norm);
 * await batcher.add(columns, columns.cell(epoch, slot));
 * await batcher.flush();
 */
export class TeacherBatcher {
  #input: Float32Array | null = null;
  /** Rows labelled so far. */
  labelled = 0;
  private filled = 0;
  private readonly rowLength: number;
  private readonly sinks: LabelSink[] = [];
  private readonly tags: Int32Array;
  private readonly probabilities: Float32Array;
  /** The teacher's distribution over the folder classes, when a class map restricts it. */
  private readonly restricted: Float32Array | null;
  private readonly best: TopK;
  private readonly codes: Uint16Array;

  constructor(
    private readonly teacher: TeacherEngine,
    private readonly options: TeacherBatcherOptions,
  ) {
    const { inputSize, numClasses } = teacher.info;
    this.rowLength = 3 * inputSize * inputSize;
    this.probabilities = new Float32Array(options.batchSize * numClasses);
    this.restricted = options.classMap ? new Float32Array(options.batchSize * options.classMap.length) : null;
    this.best = { classes: new Uint32Array(options.batchSize * options.topK), probs: new Float32Array(options.batchSize * options.topK) };
    this.codes = new Uint16Array(options.batchSize * options.topK);
    this.tags = new Int32Array(options.batchSize);
  }

  /** The teacher's input batch: `batchSize` rows of `3 × inputSize²` floats in the teacher's layout (allocated on first use: `run` callers bring their own). */
  get input(): Float32Array {
    this.#input ??= new Float32Array(this.options.batchSize * this.rowLength);
    return this.#input;
  }

  /** The row of `input` the next crop is rendered into. */
  get row(): number {
    return this.filled;
  }

  /** Commits the crop rendered at `row`; its label goes to `sink` with `tag`. Runs the teacher when the batch is full. */
  async add(sink: LabelSink, tag: number): Promise<void> {
    this.sinks[this.filled] = sink;
    this.tags[this.filled] = tag;
    this.filled++;
    if (this.filled === this.options.batchSize) await this.flush();
  }

  /** Labels the rows added so far, if any. */
  async flush(): Promise<void> {
    const rows = this.filled;
    if (rows === 0) return;
    await this.run(this.input.subarray(0, rows * this.rowLength), rows, this.sinks, this.tags);
    this.filled = 0;
  }

  /**
   * Labels `rows` crops rendered into `input` elsewhere (a batch of the label pass's teacher
   * ring): row r's label goes to `sinks[r]` with `tags[r]`.
   */
  async run(input: Float32Array, rows: number, sinks: readonly LabelSink[], tags: Int32Array): Promise<void> {
    this.options.signal?.throwIfAborted();
    const { numClasses } = this.teacher.info;
    const k = this.options.topK;
    this.options.onTeacherInput?.(input, rows);
    const outputs = await this.teacher.infer(input, rows);
    const all = toProbabilities(outputs, rows, numClasses, this.options, this.probabilities.subarray(0, rows * numClasses));
    const map = this.options.classMap;
    const probabilities = map ? restrictToFolders(all, rows, numClasses, map, this.restricted!.subarray(0, rows * map.length)) : all;
    const best = topK(probabilities, rows, map ? map.length : numClasses, k, { classes: this.best.classes.subarray(0, rows * k), probs: this.best.probs.subarray(0, rows * k) });
    for (let i = 0; i < rows * k; i++) this.codes[i] = encodeProbability(best.probs[i]!);
    for (let row = 0; row < rows; row++) sinks[row]!.setLabels(tags[row]!, best.classes, this.codes, row * k);
    this.labelled += rows;
  }
}
