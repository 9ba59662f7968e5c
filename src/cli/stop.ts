/**
 * How to continue a stopped run. Not "re-run the same command": that resumes fkd label, but
 * would start fkd train over (it refuses to overwrite its checkpoint without --resume).
 */
export const RESUME_HINT = 'finished work is kept: run fkd label again with the same options, or fkd train with --resume, to continue';

/** How long a run may take to stop on its own after the first signal; `FKD_STOP_GRACE_MS` overrides it. */
export const STOP_GRACE_MS = 5_000;

export interface StopSignals {
  /** Aborted on the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Removes the handlers and the timer (when the command has ended). */
  dispose(): void;
}

/**
 * SIGINT and SIGTERM for a command line run. The first signal aborts `signal`: the run stops
 * at its next check (a teacher batch, a decode, a shard), keeping every finished shard. If
 * it has not ended `graceMs` later (blocked in a read that never returns, or in a long
 * synchronous step), or on a second signal, the process exits with 130 at once.
 *
 * Exiting mid-shard is safe because of how shards are committed: a shard is written to a
 * temp file and renamed (or sent as one S3 object), and its entry is written only after it,
 * so a stop at any point leaves either a finished shard with its entry or no entry, and a
 * re-run resumes (the SIGKILL tests hold it to that).
 *
 * @example
 * const stop = handleStopSignals({ stderr: process.stderr });
 * try { await run(stop.signal); } finally { stop.dispose(); }
 */
export function handleStopSignals(options: { stderr: NodeJS.WritableStream; graceMs?: number; exit?: (code: number) => void }): StopSignals {
  const controller = new AbortController();
  const graceMs = options.graceMs ?? graceFromEnvironment();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      options.stderr.write(`\nfkd: ${name} again, quitting now; ${RESUME_HINT}\n`);
      exit(130);
      return;
    }
    options.stderr.write(`\nstopping (${name}): finished shards are kept; press Ctrl-C again to quit at once\n`);
    controller.abort();
    timer = setTimeout(() => {
      options.stderr.write(`fkd: still running ${graceMs} ms after ${name} (blocked in a read or a long step), quitting now; ${RESUME_HINT}\n`);
      exit(130);
    }, graceMs);
    // The timer only bounds a stop; it must not keep a run that ends by itself alive.
    timer.unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function graceFromEnvironment(): number {
  const text = process.env['FKD_STOP_GRACE_MS'];
  const value = text === undefined || text.trim() === '' ? Number.NaN : Number(text);
  return Number.isSafeInteger(value) && value >= 0 ? value : STOP_GRACE_MS;
}
