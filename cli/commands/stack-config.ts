import type { Command } from 'commander';
import { ComposeError, loadCompose, stringifyCompose } from '../../stack/index.js';
import type { CliContext } from '../context.js';
import { ExitStatus, UsageError } from '../errors.js';

// swarm stack config -c FILE [-c FILE2]: the compose files merged and interpolated as a deploy
// would read them, or every problem in them (exit 1). Needs no daemon.

export interface StackConfigOptions {
  composeFile?: string[];
}

/**
 * Prints the final compose file on stdout and any warnings on stderr; on invalid files prints one
 * "Error: path: reason" line per problem and ends with exit status 1.
 */
export function stackConfig(ctx: CliContext, files: readonly string[]): void {
  if (files.length === 0) throw new UsageError('specify a compose file with --compose-file (-c)');
  try {
    const loaded = loadCompose({ files: [...files], env: ctx.env() });
    for (const w of loaded.warnings) ctx.io.stderr.write(`Warning: ${w}\n`);
    ctx.out(stringifyCompose(loaded.config));
  } catch (err) {
    if (!(err instanceof ComposeError)) throw err;
    for (const i of err.issues) ctx.io.stderr.write(`Error: ${i.path}: ${i.message}\n`);
    throw new ExitStatus(1);
  }
}

export function registerStackConfig(stackCommand: Command, ctx: CliContext): void {
  stackCommand
    .command('config')
    .description('Print the final compose file: files merged in order, variables interpolated, short syntax expanded')
    .option('-c, --compose-file <file>', 'a compose file; repeat to merge several, later files win', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .action((opts: StackConfigOptions) => stackConfig(ctx, opts.composeFile ?? []));
}
