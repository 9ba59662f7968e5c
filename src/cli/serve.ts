import { Command } from 'commander';
import { DEFAULT_SLOTS, serveBatches } from '../serve/server.js';
import type { CommandContext } from './context.js';

/** How long the server may take to wind down once its client is gone, before it exits regardless. */
const CLIENT_GONE_EXIT_MS = 1_500;

export function serveCommand(context: CommandContext): Command {
  return new Command('serve')
    .summary('stream loader batches to one training process (PyTorch, JAX, numpy) through shared memory')
    .description(
      `One server per training rank, started by its client (python/fkd does it). Control messages are JSON lines: the client writes to stdin, the server answers on stdout. The client's first line is {"type":"open","version":1,"options":{...},"slots":${DEFAULT_SLOTS}} with createLoader's options in camelCase (data and labels as paths; checked by the loader's own rules); the server answers "ready" with the path of a ring file of slots, each holding one batch, which the client maps. Then {"type":"epoch","epoch":e,"startBatch":k} streams an epoch: a "batch" message per filled slot, which the client hands back with "release"; "end" closes it. The server exits, removing the ring file, when stdin ends (the client exited or was killed) or on "close". Errors arrive as {"type":"error","code","message"}. Protocol: docs/serve-protocol.md.`,
    )
    .option('--shm-dir <dir>', 'folder for the ring file (default /dev/shm, or the OS temp folder where there is none)')
    .action(async (flags: { shmDir?: string }) => {
      const input = process.stdin;
      // A client that is gone cannot be waited on: past the grace, exit; the exit hook removes the ring file.
      input.once('end', () => setTimeout(() => process.exit(0), CLIENT_GONE_EXIT_MS).unref());
      await serveBatches({ input, output: context.stdout, signal: context.signal, ...(flags.shmDir === undefined ? {} : { directory: flags.shmDir }) });
    });
}
