import { Command, CommanderError } from 'commander';
import { parseHost } from './client.js';
import { registerConfigCommands } from './commands/config.js';
import { registerContainerCommands } from './commands/container.js';
import { registerDaemonCommand, LOG_LEVELS } from './commands/daemon.js';
import { registerImageCommands } from './commands/image.js';
import { registerLoginCommand } from './commands/login.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerNodeCommands } from './commands/node.js';
import { stopsAtFirstOperand } from './commands/run.js';
import { registerSecretCommands } from './commands/secret.js';
import { registerServiceCommands } from './commands/service.js';
import { registerStackConfig } from './commands/stack-config.js';
import { registerStackCommands } from './commands/stack.js';
import { registerSwarmCommands } from './commands/swarm.js';
import { registerSystemCommands } from './commands/system.js';
import { createContext, type CliIo, type CliOverrides, type GlobalOptions } from './context.js';
import { EXIT_USAGE, reportError, UsageError } from './errors.js';
import { flag, oneOf } from './flags.js';
import { cliVersion } from './version.js';

export type { CliIo, CliOverrides } from './context.js';

/** Whether `arg` (an option as typed) consumes the next argument as its value. */
function takesNextArg(program: Command, cmd: Command, arg: string): boolean {
  const options = [...cmd.options, ...program.options];
  if (arg.startsWith('--')) {
    const opt = options.find((o) => o.long === arg.split('=')[0]);
    return opt !== undefined && (opt.required || opt.optional) && !arg.includes('=');
  }
  // A cluster of short flags (-dit, -eKEY=V): the first one taking a value takes the rest, or the next argument.
  for (let i = 1; i < arg.length; i++) {
    const opt = options.find((o) => o.short === `-${arg[i]}`);
    if (opt === undefined) return false;
    if (opt.required || opt.optional) return i === arg.length - 1;
  }
  return false;
}

/**
 * `--detach=false` as cobra reads it: commander's boolean flags take no value, so `--flag=true`
 * becomes `--flag` and `--flag=false` becomes `--no-flag` (or nothing, where the flag is off by
 * default). Undefined when `arg` is not a boolean flag of `cmd` with a true/false value.
 */
function booleanFlagValue(cmd: Command, arg: string): string[] | undefined {
  const eq = arg.indexOf('=');
  const name = arg.slice(0, eq);
  const value = arg.slice(eq + 1).toLowerCase();
  const opt = cmd.options.find((o) => o.long === name);
  if (opt === undefined || opt.required || opt.optional || opt.negate) return undefined;
  if (value === 'true' || value === '1') return [name];
  if (value !== 'false' && value !== '0') return undefined;
  const negation = `--no-${name.slice(2)}`;
  return cmd.options.some((o) => o.long === negation) ? [negation] : [];
}

/**
 * Two fixes to commander's reading of the command line, both as docker (cobra) reads it:
 * - a subcommand's short flag wins over the program's (`swarm run -v SRC:DST` is --volume, not
 *   --version): such flags are spelled out long;
 * - `swarm run IMAGE CMD -x`: options end at the image and the rest is the container's command.
 *   Commander has no per-command switch for that short of making every global option positional,
 *   so a "--" goes in after the image.
 */
function normalizeArgs(program: Command, args: readonly string[]): string[] {
  const out: string[] = [];
  let cmd = program;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') return [...out, ...args.slice(i)];
    if (arg.startsWith('--') && arg.includes('=')) {
      const bool = booleanFlagValue(cmd, arg);
      if (bool !== undefined) {
        out.push(...bool);
        continue;
      }
    }
    if (arg.startsWith('-') && arg !== '-') {
      const own = cmd === program || arg.startsWith('--') ? undefined : cmd.options.find((o) => o.short === arg.slice(0, 2));
      if (own?.long !== undefined && program.options.some((o) => o.short === own.short)) {
        const inline = arg.slice(2);
        out.push(inline === '' ? own.long : `${own.long}=${inline}`);
        if (inline === '' && (own.required || own.optional) && i + 1 < args.length) out.push(args[++i] ?? '');
        continue;
      }
      out.push(arg);
      if (takesNextArg(program, cmd, arg) && i + 1 < args.length) out.push(args[++i] ?? '');
      continue;
    }
    out.push(arg);
    if (stopsAtFirstOperand(cmd)) return i + 1 < args.length ? [...out, '--', ...args.slice(i + 1)] : out;
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) return [...out, ...args.slice(i + 1)];
    cmd = sub;
  }
  return out;
}

/** The command names in `args` that commander would follow (for "run 'swarm node ls --help'"). */
function commandPath(program: Command, args: readonly string[]): string {
  const names = [program.name()];
  let cmd = program;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      // Skip the value of an option that takes one (program options are valid after a subcommand too).
      const flagName = arg.split('=')[0];
      const opt = [...cmd.options, ...program.options].find((o) => o.long === flagName || o.short === flagName);
      if (opt && (opt.required || opt.optional) && !arg.includes('=')) i++;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

function buildProgram(io: CliIo, overrides: CliOverrides): Command {
  const program = new Command('swarm');
  const ctx = createContext(io, overrides, () => program.opts<GlobalOptions>());
  program
    .description('A swarm-mode container cluster')
    .usage('[options] <command>')
    .addOption(flag('-H, --host <socket>', 'daemon to talk to: unix:///path, /path or tcp://HOST:PORT (env SWARM_HOST; default /run/swarm/swarm.sock)', parseHost))
    .addOption(flag('--log-level <level>', `${LOG_LEVELS.join(', ')} (debug traces API calls)`, oneOf(LOG_LEVELS)))
    .version(cliVersion(), '-v, --version', 'print the version and exit')
    // Settings below are inherited by every subcommand created after them.
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: () => undefined, // printed by runCli, in the CLI's error format
    })
    .showSuggestionAfterError(true);
  registerDaemonCommand(program, ctx);
  registerSwarmCommands(program, ctx);
  registerSystemCommands(program, ctx);
  registerNodeCommands(program, ctx);
  registerImageCommands(program, ctx);
  registerContainerCommands(program, ctx);
  registerLoginCommand(program, ctx);
  registerServiceCommands(program, ctx);
  registerSecretCommands(program, ctx);
  registerConfigCommands(program, ctx);
  registerNetworkCommands(program, ctx);
  registerStackConfig(registerStackCommands(program, ctx), ctx);
  return program;
}

/**
 * Run the CLI on `args` (without node and the script path: process.argv.slice(2)) and return the
 * exit code: 0 success, 1 a failed operation, 2 a usage error.
 */
export async function runCli(args: string[], io: CliIo, overrides: CliOverrides = {}): Promise<number> {
  const program = buildProgram(io, overrides);
  try {
    await program.parseAsync(normalizeArgs(program, args), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // Help printed because a command group was given no command (`swarm node`).
      if (err.code === 'commander.help') return err.exitCode === 0 ? 0 : EXIT_USAGE;
      return reportError(io.stderr, new UsageError(err.message.replace(/^error: /, ''), commandPath(program, args)));
    }
    if (err instanceof UsageError) err.command ??= commandPath(program, args);
    return reportError(io.stderr, err);
  }
}
