import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { isFkdError } from '../errors.js';
import { noticeEndOfLife } from '../node-support.js';
import type { CommandContext } from './context.js';
import { benchCommand } from './bench.js';
import { finalizeCommand } from './finalize.js';
import { infoCommand } from './info.js';
import { labelCommand } from './label.js';
import { packCommand } from './pack.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { trainCommand } from './train.js';
import { verifyCommand } from './verify.js';
import { handleStopSignals, RESUME_HINT } from './stop.js';
import { flagOf } from './flags.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * Runs the `fkd` command line and resolves to the process exit code: 0 on success, 1 for
 * a reported failure, 2 for a usage error, 130 after Ctrl-C.
 */
export async function main(argv: string[]): Promise<number> {
  const stop = handleStopSignals({ stderr: process.stderr });
  const context: CommandContext = { stdout: process.stdout, stderr: process.stderr, signal: stop.signal };
  noticeEndOfLife((line) => context.stderr.write(`${line}\n`));
  const program = new Command('fkd')
    .description('Fast Knowledge Distillation: make compact soft labels once, then train students without the teacher.')
    .version(version)
    .option('--verbose', 'show stack traces for errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => context.stdout.write(text), writeErr: (text) => context.stderr.write(text) });
  for (const command of [labelCommand(context), infoCommand(context), verifyCommand(context), finalizeCommand(context), reportCommand(context), trainCommand(context), serveCommand(context), benchCommand(context), packCommand(context)]) {
    program.addCommand(command.exitOverride());
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    }
    const verbose = program.opts().verbose === true || argv.includes('--verbose');
    if (isFkdError(error)) {
      context.stderr.write(`fkd: error ${error.code}: ${error.message}\n`);
      const flag = error.details.option === undefined ? undefined : flagOf(error.details.option);
      if (flag !== undefined) context.stderr.write(`fkd: ${error.details.option} is ${flag} on the command line\n`);
      if (verbose && error.stack) context.stderr.write(`${error.stack}\n`);
      if (error.code === 'E_ABORTED' || stop.signal.aborted) return 130;
      return error.code === 'E_USAGE' ? 2 : 1;
    }
    if (stop.signal.aborted) {
      context.stderr.write(`fkd: stopped; ${RESUME_HINT}\n`);
      return 130;
    }
    context.stderr.write(`fkd: unexpected error: ${error instanceof Error ? (verbose ? error.stack : error.message) : String(error)}\n`);
    if (!verbose) context.stderr.write('(run with --verbose for the stack trace)\n');
    return 1;
  } finally {
    stop.dispose();
  }
}
