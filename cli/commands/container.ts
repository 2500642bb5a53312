import type { Command } from 'commander';
import type { ContainerInspect, ContainerSummary } from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { forEachArg } from '../errors.js';
import { flag, integer, oneOf } from '../flags.js';
import { inspectJson, shortId, timeAgo } from '../format.js';
import { signalName, tailLines } from '../runtime-flags.js';
import { demux } from '../stream.js';
import { renderTable } from '../table.js';
import { defineRun } from './run.js';

// swarm container ls | logs | stop | kill | rm | inspect | run, and docker's shortcuts ps and run.

function containerPath(ref: string): string {
  return `/containers/${encodeURIComponent(ref)}`;
}

/** docker ps's COMMAND cell: quoted, cut at 20 characters with an ellipsis. */
function commandCell(command: string): string {
  const chars = [...command];
  return `"${chars.length > 20 ? `${chars.slice(0, 19).join('')}…` : command}"`;
}

export function containerTable(containers: readonly ContainerSummary[], now = Date.now()): string {
  return renderTable(
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
    containers.map((c) => [
      shortId(c.Id),
      c.Image,
      commandCell(c.Command),
      timeAgo(now - c.Created * 1000),
      c.Status,
      '',
      c.Names.map((n) => n.replace(/^\//, '')).join(','),
    ]),
  );
}

function defineLs(cmd: Command, ctx: CliContext): Command {
  return cmd
    .description('List the containers of this node (running ones unless -a)')
    .option('-a, --all', 'show stopped containers too')
    .option('-q, --quiet', 'print container IDs only')
    .addOption(flag('--format <format>', 'table or json (one object per line)', oneOf(['table', 'json'] as const)).default('table'))
    .action(async (opts: { all?: boolean; quiet?: boolean; format: 'table' | 'json' }) => {
      const list = await ctx.client().get<ContainerSummary[]>('/containers/json', { all: opts.all ? '1' : undefined });
      list.sort((a, b) => b.Created - a.Created);
      if (opts.quiet) ctx.out(list.map((c) => `${shortId(c.Id)}\n`).join(''));
      else if (opts.format === 'json') ctx.out(list.map((c) => `${JSON.stringify(c)}\n`).join(''));
      else ctx.out(containerTable(list));
    });
}

export function registerContainerCommands(program: Command, ctx: CliContext): void {
  const container = program.command('container').description('Manage the containers of this node');

  defineLs(container.command('ls').alias('list'), ctx);
  defineLs(program.command('ps'), ctx);
  defineRun(container.command('run'), ctx);
  defineRun(program.command('run'), ctx);

  container
    .command('logs')
    .description("Print a container's output (stdout to stdout, stderr to stderr)")
    .argument('<container>', 'container name or ID')
    .option('-f, --follow', 'keep printing new output until the container stops')
    .addOption(flag('-n, --tail <lines>', 'only the last N lines ("all" for everything)', tailLines).default('all'))
    .option('-t, --timestamps', 'prefix each line with its time')
    .action(async (ref: string, opts: { follow?: boolean; tail: string; timestamps?: boolean }) => {
      const res = await ctx.client().open('GET', `${containerPath(ref)}/logs`, {
        query: { stdout: '1', stderr: '1', follow: opts.follow ? '1' : undefined, tail: opts.tail, timestamps: opts.timestamps ? '1' : undefined },
      });
      await demux(res, ctx.io.stdout, ctx.io.stderr);
    });

  container
    .command('stop')
    .description('Stop one or more containers (SIGTERM, then SIGKILL after the timeout)')
    .argument('<container...>', 'container name or ID')
    .addOption(flag('-t, --time <seconds>', 'seconds to wait before killing (default: the container\'s stop timeout)', integer(0, 86_400)))
    .action(async (refs: string[], opts: { time?: number }) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().post(`${containerPath(ref)}/stop`, undefined, { t: opts.time });
        ctx.out(`${ref}\n`);
      }),
    );

  container
    .command('kill')
    .description('Send a signal to one or more containers (SIGKILL unless -s)')
    .argument('<container...>', 'container name or ID')
    .addOption(flag('-s, --signal <signal>', 'the signal, e.g. SIGTERM, HUP or 9', signalName).default('SIGKILL'))
    .action(async (refs: string[], opts: { signal: string }) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().post(`${containerPath(ref)}/kill`, undefined, { signal: opts.signal });
        ctx.out(`${ref}\n`);
      }),
    );

  container
    .command('rm')
    .alias('remove')
    .description('Remove one or more containers')
    .argument('<container...>', 'container name or ID')
    .option('-f, --force', 'kill and remove a running container')
    .action(async (refs: string[], opts: { force?: boolean }) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().delete(containerPath(ref), { force: opts.force ? '1' : undefined });
        ctx.out(`${ref}\n`);
      }),
    );

  container
    .command('inspect')
    .description('Show the details of one or more containers')
    .argument('<container...>', 'container name or ID')
    .action(async (refs: string[]) => {
      const found: ContainerInspect[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(await ctx.client().get<ContainerInspect>(`${containerPath(ref)}/json`));
        } catch (err) {
          errors.push(err);
        }
      }
      // As docker: print what was found, then fail for what was not.
      ctx.out(inspectJson(found));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    });
}
