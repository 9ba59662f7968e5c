import cliProgress from 'cli-progress';

export interface ProgressSnapshot {
  done: number;
  total: number;
  /** Extra counters shown next to the bar and included in log lines. */
  fields: Record<string, number | string>;
}

export interface ProgressReporter {
  update(snapshot: ProgressSnapshot): void;
  stop(): void;
}

/**
 * A bar with rate and ETA on a TTY; elsewhere (CI, Kubernetes logs) one JSON line at most
 * every `intervalMs`, which log collectors can parse.
 *
 * @example
 * const progress = createProgress({ label: 'label', unit: 'images', rateField: 'crops' });
 */
export function createProgress(options: {
  label: string;
  unit: string;
  /** The field whose rate per second is shown, e.g. `crops`. */
  rateField?: string;
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const started = performance.now();
  const rate = (snapshot: ProgressSnapshot): number => {
    const seconds = (performance.now() - started) / 1000;
    const value = options.rateField ? Number(snapshot.fields[options.rateField] ?? 0) : snapshot.done;
    return seconds > 0 ? value / seconds : 0;
  };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${options.label} [{bar}] {percentage}% | {value}/{total} ${options.unit} | {rate} ${options.rateField ?? options.unit}/s | ETA {eta_formatted}`,
        etaBuffer: 50,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(snapshot) {
        const payload = { ...snapshot.fields, rate: rate(snapshot).toFixed(1) };
        if (!started) {
          bar.start(snapshot.total, snapshot.done, payload);
          started = true;
        } else {
          bar.setTotal(snapshot.total);
          bar.update(snapshot.done, payload);
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const intervalMs = options.intervalMs ?? 5000;
  let last = -Infinity;
  let latest: ProgressSnapshot | null = null;
  const emit = (snapshot: ProgressSnapshot): void => {
    const seconds = (performance.now() - started) / 1000;
    const perSecond = rate(snapshot);
    const remaining = snapshot.total - snapshot.done;
    const unitRate = seconds > 0 ? snapshot.done / seconds : 0;
    stream.write(
      `${JSON.stringify({
        event: 'progress',
        task: options.label,
        done: snapshot.done,
        total: snapshot.total,
        unit: options.unit,
        ...snapshot.fields,
        ratePerSec: Number(perSecond.toFixed(2)),
        etaSec: unitRate > 0 ? Math.round(remaining / unitRate) : null,
        elapsedSec: Number(seconds.toFixed(1)),
      })}\n`,
    );
  };
  return {
    update(snapshot) {
      latest = snapshot;
      const now = performance.now();
      if (now - last >= intervalMs) {
        last = now;
        emit(snapshot);
      }
    },
    stop() {
      if (latest && latest.done === latest.total) emit(latest);
    },
  };
}
