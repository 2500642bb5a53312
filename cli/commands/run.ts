import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ContainerCreateBody } from '../../node/api/index.js';
import { ApiError } from '../client.js';
import type { CliContext } from '../context.js';
import { CliError, ExitStatus, reportError, UsageError } from '../errors.js';
import { argument, flag, hostname, repeatable } from '../flags.js';
import {
  absolutePath,
  bindMount,
  capability,
  containerName,
  cpus,
  envVar,
  imageRef,
  memoryBytes,
  pidsLimit,
  tmpfsMount,
} from '../runtime-flags.js';
import { demux } from '../stream.js';

// swarm run: create, start, stream the output, wait, and exit with the container's exit code, as
// `docker run` does (without attaching: the output comes from the log stream). Exit codes 125-127
// are docker's: the daemon failed (125), the command could not be run (126) or found (127).

/** Commands whose options stop at their first operand (the image): the rest belongs to the container. */
const STOP_AT_OPERAND = new WeakSet<Command>();

/** Options of `cmd` end at its first operand (an image): the rest is the container's command. */
export function stopAtFirstOperand(cmd: Command): Command {
  STOP_AT_OPERAND.add(cmd);
  return cmd;
}

/** Whether options after the first operand of `cmd` are the container's, not ours. */
export function stopsAtFirstOperand(cmd: Command): boolean {
  return STOP_AT_OPERAND.has(cmd);
}

interface RunOptions {
  rm?: boolean;
  name?: string;
  env?: [string, string | undefined][];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  init?: boolean;
  readOnly?: boolean;
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
  capAdd?: string[];
  capDrop?: string[];
  volume?: string[];
  tmpfs?: [string, string][];
  hostname?: string;
  detach?: boolean;
}

/** Docker's env-file: KEY=VALUE lines (the value taken as is), KEY alone from this environment, # comments. */
async function readEnvFile(path: string, env: Record<string, string | undefined>): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the env file ${path}: ${(err as Error).message}`);
  }
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (key === '' || /\s/.test(key)) throw new UsageError(`invalid line ${i + 1} in the env file ${path}: ${JSON.stringify(raw)} is not KEY=VALUE`);
    if (eq >= 0) out.push(line);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  }
  return out;
}

async function createBody(image: string, command: string[], opts: RunOptions, env: Record<string, string | undefined>): Promise<ContainerCreateBody> {
  const vars: string[] = [];
  for (const f of opts.envFile ?? []) vars.push(...(await readEnvFile(f, env)));
  for (const [k, v] of opts.env ?? []) {
    const value = v ?? env[k];
    if (value !== undefined) vars.push(`${k}=${value}`);
  }
  const host: NonNullable<ContainerCreateBody['HostConfig']> = {
    ...(opts.volume ? { Binds: opts.volume } : {}),
    ...(opts.tmpfs ? { Tmpfs: Object.fromEntries(opts.tmpfs) } : {}),
    ...(opts.memory !== undefined ? { Memory: opts.memory } : {}),
    ...(opts.cpus !== undefined ? { NanoCpus: opts.cpus } : {}),
    ...(opts.pidsLimit !== undefined ? { PidsLimit: opts.pidsLimit } : {}),
    ...(opts.capAdd ? { CapAdd: opts.capAdd } : {}),
    ...(opts.capDrop ? { CapDrop: opts.capDrop } : {}),
    ...(opts.readOnly ? { ReadonlyRootfs: true } : {}),
    ...(opts.init ? { Init: true } : {}),
    // Attached, the CLI removes the container itself once it has the exit code: a daemon-side
    // removal could win the race against the wait and lose it.
    ...(opts.rm && opts.detach ? { AutoRemove: true } : {}),
  };
  return {
    Image: image,
    ...(command.length > 0 ? { Cmd: command } : {}),
    // docker: --entrypoint "" resets the image's entrypoint.
    ...(opts.entrypoint !== undefined ? { Entrypoint: [opts.entrypoint] } : {}),
    ...(vars.length > 0 ? { Env: vars } : {}),
    ...(opts.workdir !== undefined ? { WorkingDir: opts.workdir } : {}),
    ...(opts.user !== undefined ? { User: opts.user } : {}),
    ...(opts.hostname !== undefined ? { Hostname: opts.hostname } : {}),
    ...(Object.keys(host).length > 0 ? { HostConfig: host } : {}),
  };
}

/** docker run's exit code for a container that could not be started. */
function startFailureCode(err: unknown): number {
  const message = err instanceof Error ? err.message : '';
  if (/executable file not found|no such file or directory|not found in \$PATH/i.test(message)) return 127;
  if (/permission denied/i.test(message)) return 126;
  return 125;
}

export function defineRun(cmd: Command, ctx: CliContext): Command {
  STOP_AT_OPERAND.add(cmd);
  return cmd
    .description('Run a command in a new container on this node')
    .usage('[options] IMAGE [COMMAND [ARG...]]')
    .addArgument(argument('<image>', 'the image (pulled when missing)', imageRef))
    .argument('[command...]', 'the command and its arguments (default: the image\'s)')
    .option('-d, --detach', 'run in the background and print the container ID')
    .option('--rm', 'remove the container when it exits')
    .addOption(flag('--name <name>', 'name the container', containerName))
    .addOption(repeatable('-e, --env <key=value>', 'set a variable; KEY alone takes it from this environment (repeatable)', envVar))
    .addOption(repeatable('--env-file <file>', 'read variables from a file of KEY=VALUE lines (repeatable)', (v: string) => v))
    .addOption(flag('-w, --workdir <dir>', 'working directory in the container (absolute)', absolutePath))
    .option('-u, --user <user>', 'user[:group] or uid[:gid] to run as')
    .option('--entrypoint <command>', 'replace the image\'s entrypoint ("" clears it)')
    .option('--init', 'run an init process as PID 1 that reaps zombies and forwards signals')
    .option('--read-only', 'mount the root filesystem read-only')
    .addOption(flag('-m, --memory <size>', 'memory limit, e.g. 64m or 1g', memoryBytes))
    .addOption(flag('--cpus <n>', 'CPU limit, e.g. 0.5', cpus))
    .addOption(flag('--pids-limit <n>', 'process limit (-1: unlimited)', pidsLimit))
    .addOption(repeatable('--cap-add <cap>', 'add a Linux capability, e.g. NET_ADMIN (repeatable)', capability))
    .addOption(repeatable('--cap-drop <cap>', 'drop a Linux capability, or ALL (repeatable)', capability))
    .addOption(repeatable('-v, --volume <src:dst[:ro]>', 'bind a host path or volume (repeatable)', bindMount))
    .addOption(repeatable('--tmpfs <path[:options]>', 'mount a tmpfs, e.g. /tmp:size=64m (repeatable)', tmpfsMount))
    .addOption(flag('--hostname <name>', 'the container\'s host name', hostname))
    .action(async (image: string, command: string[], opts: RunOptions) => {
      const body = await createBody(image, command, opts, ctx.env());
      const client = ctx.client();
      const stderr = ctx.io.stderr;
      const daemonFailure = (err: unknown): ExitStatus => new ExitStatus(125, err);

      let id: string;
      try {
        const created = await client.post<{ Id: string; Warnings: string[] | null }>('/containers/create', body, { name: opts.name });
        for (const w of created.Warnings ?? []) stderr.write(`WARNING: ${w}\n`);
        id = created.Id;
      } catch (err) {
        throw daemonFailure(err);
      }
      const path = `/containers/${encodeURIComponent(id)}`;
      const removeQuietly = async (): Promise<void> => {
        await client.delete(path, { force: '1' }).catch((err: unknown) => void reportError(stderr, err));
      };

      try {
        await client.post(`${path}/start`);
      } catch (err) {
        if (opts.rm) await removeQuietly();
        throw new ExitStatus(startFailureCode(err), err);
      }
      if (opts.detach) {
        ctx.out(`${id}\n`);
        return;
      }

      // Ctrl-C stops the container (a second one kills it); the exit code still comes from the wait.
      let interrupts = 0;
      const onInterrupt = (): void => {
        interrupts++;
        const call = interrupts === 1 ? client.post(`${path}/stop`) : client.post(`${path}/kill`, undefined, { signal: 'SIGKILL' });
        call.catch((err: unknown) => {
          if (!(err instanceof ApiError && (err.status === 304 || err.status === 409))) reportError(stderr, err);
        });
      };
      const signals = ctx.interrupts();
      signals.on('SIGINT', onInterrupt);
      let result: { StatusCode: number; Error?: { Message: string } | null };
      try {
        try {
          const logs = await client.open('GET', `${path}/logs`, { query: { stdout: '1', stderr: '1', follow: '1' } });
          await demux(logs, ctx.io.stdout, stderr);
        } catch (err) {
          // The output is lost, not the run: still wait for the exit code.
          reportError(stderr, err);
        }
        result = await client.post(`${path}/wait`, undefined, { condition: 'not-running' });
      } catch (err) {
        if (opts.rm) await removeQuietly();
        throw daemonFailure(err);
      } finally {
        signals.off('SIGINT', onInterrupt);
      }
      if (opts.rm) await client.delete(path).catch((err: unknown) => void reportError(stderr, err));
      if (result.Error?.Message) throw new ExitStatus(125, new CliError(`error waiting for the container: ${result.Error.Message}`));
      if (result.StatusCode !== 0) throw new ExitStatus(result.StatusCode);
    });
}
