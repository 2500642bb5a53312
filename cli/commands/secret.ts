import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ConfigObject, SecretObject } from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { CliError, forEachArg } from '../errors.js';
import { filter, label, repeatable } from '../flags.js';
import { aligned, inspectJson, naturalCompare, timeAgo } from '../format.js';
import { renderTable } from '../table.js';
import { filtersOf } from './task.js';

// swarm secret create | ls | inspect | rm, and the same for configs (config.ts): one set of
// commands for both kinds, as docker's differ only in a column and in showing the data.

export type SecretKind = 'secret' | 'config';

type Stored = SecretObject | ConfigObject;

async function readAllInput(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/** The bytes of FILE, or of stdin for "-". */
async function readData(ctx: CliContext, kind: SecretKind, file: string): Promise<Buffer> {
  let data: Buffer;
  if (file === '-') {
    data = await readAllInput(ctx.stdin() as AsyncIterable<Buffer | string>);
  } else {
    try {
      data = await readFile(file);
    } catch (err) {
      throw new CliError(`cannot read the ${kind} file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
  }
  if (data.length === 0) throw new CliError(`the ${kind} data is empty: ${file === '-' ? 'nothing came on stdin' : `${file} is empty`}`);
  return data;
}

function table(kind: SecretKind, list: readonly Stored[], now = Date.now()): string {
  const sorted = [...list].sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name));
  const ago = (t: string): string => timeAgo(now - Date.parse(t));
  if (kind === 'secret') {
    return renderTable(['ID', 'NAME', 'DRIVER', 'CREATED', 'UPDATED'], sorted.map((s) => [s.ID, s.Spec.Name, '', ago(s.CreatedAt), ago(s.UpdatedAt)]));
  }
  return renderTable(['ID', 'NAME', 'CREATED', 'UPDATED'], sorted.map((s) => [s.ID, s.Spec.Name, ago(s.CreatedAt), ago(s.UpdatedAt)]));
}

function pretty(kind: SecretKind, o: Stored): string {
  const out: string[] = [aligned([['ID', o.ID], ['Name', o.Spec.Name]], 18)];
  const labels = Object.entries(o.Spec.Labels);
  if (labels.length > 0) out.push('Labels:\n', ...labels.map(([k, v]) => ` - ${k}=${v}\n`));
  if (kind === 'secret') out.push(aligned([['Driver', '']], 18));
  out.push(aligned([['Created at', o.CreatedAt], ['Updated at', o.UpdatedAt]], 18));
  if (kind === 'config' && 'Data' in o.Spec) out.push(`Data:\n${Buffer.from(o.Spec.Data, 'base64').toString('utf8')}${o.Spec.Data === '' ? '' : '\n'}`);
  return out.join('');
}

/** Returns the command group, for commands only one kind has (config update). */
export function registerSecretLikeCommands(program: Command, ctx: CliContext, kind: SecretKind): Command {
  const path = (ref: string): string => `/${kind}s/${encodeURIComponent(ref)}`;
  const group = program.command(kind).description(kind === 'secret' ? 'Manage secrets (sensitive data given to services)' : 'Manage configs (files given to services)');

  group
    .command('create')
    .description(`Create a ${kind} from a file or from stdin ("-")`)
    .argument('<name>', `the ${kind} name`)
    .argument('<file>', 'the file with the data, or "-" for stdin')
    .addOption(repeatable('-l, --label <key=value>', `a ${kind} label (repeatable)`, label))
    .action(async (name: string, file: string, o: { label?: [string, string][] }) => {
      const data = await readData(ctx, kind, file);
      const created = await ctx.client().post<{ ID: string }>(`/${kind}s/create`, { Name: name, Labels: Object.fromEntries(o.label ?? []), Data: data.toString('base64') });
      ctx.out(`${created.ID}\n`);
    });

  group
    .command('ls')
    .alias('list')
    .description(`List the ${kind}s`)
    .addOption(repeatable('-f, --filter <key=value>', 'filter: id, label, name (repeatable)', filter))
    .option('-q, --quiet', 'print IDs only')
    .action(async (o: { filter?: [string, string][]; quiet?: boolean }) => {
      const filters = filtersOf(o.filter);
      const list = await ctx.client().get<Stored[]>(`/${kind}s`, Object.keys(filters).length > 0 ? { filters: JSON.stringify(filters) } : undefined);
      if (o.quiet) ctx.out([...list].sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name)).map((s) => `${s.ID}\n`).join(''));
      else ctx.out(table(kind, list));
    });

  group
    .command('inspect')
    .description(`Show the details of one or more ${kind}s${kind === 'secret' ? ' (never the data)' : ''}`)
    .argument(`<${kind}...>`, `${kind} name or ID`)
    .option('--pretty', 'human-readable form')
    .action(async (refs: string[], o: { pretty?: boolean }) => {
      const found: Stored[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(await ctx.client().get<Stored>(path(ref)));
        } catch (err) {
          errors.push(err);
        }
      }
      ctx.out(o.pretty ? found.map((x) => pretty(kind, x)).join('\n') : inspectJson(found));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    });

  group
    .command('rm')
    .alias('remove')
    .description(`Remove one or more ${kind}s`)
    .argument(`<${kind}...>`, `${kind} name or ID`)
    .action(async (refs: string[]) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().delete(path(ref));
        ctx.out(`${ref}\n`);
      }),
    );
  return group;
}

export function registerSecretCommands(program: Command, ctx: CliContext): void {
  registerSecretLikeCommands(program, ctx, 'secret');
}
