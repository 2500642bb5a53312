import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { ImageDeleteItem, ImageInspect, ImageSummary } from '../../node/api/index.js';
import { buildContext } from '../build-context.js';
import type { CliContext } from '../context.js';
import { CliError, forEachArg, UsageError } from '../errors.js';
import { argument, flag, oneOf, repeatable } from '../flags.js';
import { humanSize, inspectJson, shortId, timeAgo } from '../format.js';
import { showMessages } from '../progress.js';
import { readLine } from '../prompt.js';
import { envVar, imageName, imageRef, parseImageRef } from '../runtime-flags.js';
import { writeBytes } from '../stream.js';
import { renderTable } from '../table.js';

// swarm image ls | inspect | pull | push | tag | rm | load | save | prune | build, and the
// top-level shortcuts docker has: images, pull, push, build, rmi.

/** An image reference in a path: slashes stay (the API's {name...} takes them), the rest is escaped. */
export function imagePath(ref: string): string {
  return `/images/${ref
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/%3A/gi, ':').replace(/%40/g, '@'))
    .join('/')}`;
}

/** [repository, tag] of a RepoTag ("localhost:5000/a:1" → ["localhost:5000/a", "1"]). */
function splitRepoTag(repoTag: string): [string, string] {
  const i = repoTag.lastIndexOf(':');
  return i > repoTag.lastIndexOf('/') ? [repoTag.slice(0, i), repoTag.slice(i + 1)] : [repoTag, '<none>'];
}

interface ImageRow {
  repository: string;
  tag: string;
  digest: string;
  image: ImageSummary;
}

/** One row per tag, an untagged image as <none> <none> (its repository from a digest when it has one), newest first. */
function imageRows(images: readonly ImageSummary[]): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const image of [...images].sort((a, b) => b.Created - a.Created)) {
    const digest = image.RepoDigests[0]?.split('@')[1] ?? '<none>';
    const tags = image.RepoTags.filter((t) => t !== '<none>:<none>');
    if (tags.length === 0) {
      const repo = image.RepoDigests[0]?.split('@')[0] ?? '<none>';
      rows.push({ repository: repo, tag: '<none>', digest, image });
    }
    for (const t of tags) {
      const [repository, tag] = splitRepoTag(t);
      rows.push({ repository, tag, digest, image });
    }
  }
  return rows;
}

export function imageTable(images: readonly ImageSummary[], now = Date.now()): string {
  return renderTable(
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
    imageRows(images).map((r) => [r.repository, r.tag, shortId(r.image.Id), timeAgo(now - r.image.Created * 1000), humanSize(r.image.Size, 3)]),
  );
}

/** Go's time.Time String() in UTC, as docker's CreatedAt. */
function goTime(unixSeconds: number): string {
  return `${new Date(unixSeconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} +0000 UTC`;
}

/** `docker images --format json`: one object per row, keys in docker's order. */
function imageJsonLine(r: ImageRow, now: number): string {
  const size = humanSize(r.image.Size, 3);
  return `${JSON.stringify({
    Containers: r.image.Containers >= 0 ? String(r.image.Containers) : 'N/A',
    CreatedAt: goTime(r.image.Created),
    CreatedSince: timeAgo(now - r.image.Created * 1000),
    Digest: r.digest,
    ID: shortId(r.image.Id),
    Repository: r.repository,
    SharedSize: r.image.SharedSize >= 0 ? humanSize(r.image.SharedSize, 3) : 'N/A',
    Size: size,
    Tag: r.tag,
    UniqueSize: 'N/A',
    VirtualSize: size,
  })}\n`;
}

async function confirm(ctx: CliContext, warning: string): Promise<boolean> {
  ctx.out(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await readLine(ctx.stdin());
  if (answer === undefined) ctx.out('\n');
  return /^y(es)?$/i.test((answer ?? '').trim());
}

function defineLs(cmd: Command, ctx: CliContext): Command {
  return cmd
    .description('List the images on this node')
    .argument('[repository]', 'only images of this repository (REPO or REPO:TAG; * and ? match)')
    .option('-a, --all', 'show intermediate images too')
    .option('-q, --quiet', 'print image IDs only')
    .addOption(flag('--format <format>', 'table or json (one object per line)', oneOf(['table', 'json'] as const)).default('table'))
    .action(async (repository: string | undefined, opts: { all?: boolean; quiet?: boolean; format: 'table' | 'json' }) => {
      const filters = repository === undefined ? undefined : JSON.stringify({ reference: { [repository]: true } });
      const images = await ctx.client().get<ImageSummary[]>('/images/json', { all: opts.all ? '1' : undefined, filters });
      const now = Date.now();
      if (opts.quiet) ctx.out([...new Set(imageRows(images).map((r) => shortId(r.image.Id)))].map((id) => `${id}\n`).join(''));
      else if (opts.format === 'json') ctx.out(imageRows(images).map((r) => imageJsonLine(r, now)).join(''));
      else ctx.out(imageTable(images, now));
    });
}

function definePull(cmd: Command, ctx: CliContext): Command {
  return cmd
    .description('Pull an image from a registry')
    .addArgument(argument('<image>', 'NAME[:TAG|@DIGEST], e.g. alpine:3.20 or localhost:5000/app:1', imageRef))
    .action(async (ref: string) => {
      const parsed = parseImageRef(ref);
      let tag = parsed.digest ?? parsed.tag;
      if (tag === undefined) {
        ctx.out('Using default tag: latest\n');
        tag = 'latest';
      }
      const res = await ctx.client().open('POST', '/images/create', { query: { fromImage: parsed.name, tag } });
      await showMessages(res, ctx.io.stdout);
    });
}

function definePush(cmd: Command, ctx: CliContext): Command {
  return cmd
    .description('Push an image to its registry')
    .addArgument(argument('<image>', 'NAME[:TAG], e.g. localhost:5000/app:1', imageName))
    .action(async (ref: string) => {
      const parsed = parseImageRef(ref);
      if (parsed.tag === undefined) ctx.out('Using default tag: latest\n');
      const res = await ctx.client().open('POST', `${imagePath(parsed.name)}/push`, { query: { tag: parsed.tag ?? 'latest' } });
      await showMessages(res, ctx.io.stdout);
    });
}

function defineRm(cmd: Command, ctx: CliContext): Command {
  return cmd
    .description('Remove one or more images')
    .argument('<image...>', 'image name or ID')
    .option('-f, --force', 'remove even if tagged in several repositories or used by a container')
    .action(async (refs: string[], opts: { force?: boolean }) =>
      forEachArg(refs, async (ref) => {
        const items = await ctx.client().request<ImageDeleteItem[]>('DELETE', imagePath(ref), { query: { force: opts.force ? '1' : undefined } });
        ctx.out(items.map((i) => (i.Untagged !== undefined ? `Untagged: ${i.Untagged}\n` : i.Deleted !== undefined ? `Deleted: ${i.Deleted}\n` : '')).join(''));
      }),
    );
}

interface BuildOptions {
  tag?: string[];
  file?: string;
  buildArg?: [string, string | undefined][];
  cache: boolean;
}

function defineBuild(cmd: Command, ctx: CliContext): Command {
  return cmd
    .description('Build an image from a Dockerfile and a context directory')
    .argument('<dir>', 'the build context (.dockerignore in it is honoured)')
    .addOption(repeatable('-t, --tag <name>', 'name the image NAME[:TAG] (repeatable)', imageName))
    .option('-f, --file <path>', 'the Dockerfile (default: DIR/Dockerfile)')
    .addOption(repeatable('--build-arg <key=value>', 'set a build-time variable; KEY alone takes it from this environment (repeatable)', envVar))
    .option('--no-cache', 'do not use cached steps')
    .action(async (dir: string, opts: BuildOptions) => {
      const env = ctx.env();
      const buildArgs: Record<string, string> = {};
      for (const [k, v] of opts.buildArg ?? []) {
        const value = v ?? env[k];
        if (value !== undefined) buildArgs[k] = value;
      }
      const context = await buildContext(dir, opts.file);
      const res = await ctx.client().open('POST', '/build', {
        query: {
          t: opts.tag ?? [],
          dockerfile: context.dockerfile,
          buildargs: Object.keys(buildArgs).length > 0 ? JSON.stringify(buildArgs) : undefined,
          nocache: opts.cache ? undefined : '1',
          rm: '1',
        },
        raw: context.body,
        contentType: 'application/x-tar',
      });
      await showMessages(res, ctx.io.stdout);
    });
}

export function registerImageCommands(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('Manage the images of this node');

  defineLs(image.command('ls').alias('list'), ctx);
  defineLs(program.command('images'), ctx);

  image
    .command('inspect')
    .description('Show the details of one or more images')
    .argument('<image...>', 'image name or ID')
    .action(async (refs: string[]) => {
      const found: ImageInspect[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(await ctx.client().get<ImageInspect>(`${imagePath(ref)}/json`));
        } catch (err) {
          errors.push(err);
        }
      }
      // As docker: print what was found, then fail for what was not.
      ctx.out(inspectJson(found));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    });

  definePull(image.command('pull'), ctx);
  definePull(program.command('pull'), ctx);
  definePush(image.command('push'), ctx);
  definePush(program.command('push'), ctx);

  image
    .command('tag')
    .description('Give an image another name')
    .argument('<source>', 'image name or ID')
    .addArgument(argument('<target>', 'the new NAME[:TAG]', imageName))
    .action(async (source: string, target: string) => {
      const parsed = parseImageRef(target);
      await ctx.client().post(`${imagePath(source)}/tag`, undefined, { repo: parsed.name, tag: parsed.tag ?? 'latest' });
    });

  defineRm(image.command('rm').alias('remove'), ctx);
  defineRm(program.command('rmi'), ctx);

  image
    .command('load')
    .description('Load images from a docker save or OCI archive')
    .option('-i, --input <file>', 'read the archive from FILE instead of stdin')
    .action(async (opts: { input?: string }) => {
      let body: Readable;
      if (opts.input !== undefined) {
        const s = await stat(opts.input).catch(() => undefined);
        if (!s?.isFile()) throw new CliError(`cannot read ${opts.input}: ${s ? 'not a file' : 'no such file'}`);
        body = createReadStream(opts.input);
      } else {
        const stdin = ctx.stdin();
        if (stdin.isTTY === true) throw new UsageError('stdin is a terminal: give the archive with -i FILE, or pipe it in (swarm image load < app.tar)');
        body = stdin;
      }
      const res = await ctx.client().open('POST', '/images/load', { raw: body, contentType: 'application/x-tar' });
      await showMessages(res, ctx.io.stdout);
    });

  image
    .command('save')
    .description('Write one or more images to a tar archive (stdout unless -o)')
    .argument('<image...>', 'image name or ID')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .addOption(flag('--format <format>', 'docker (docker load) or oci (an OCI image layout)', oneOf(['docker', 'oci'] as const)).default('docker'))
    .action(async (refs: string[], opts: { output?: string; format: 'docker' | 'oci' }) => {
      if (opts.output === undefined && ctx.io.stdout.isTTY === true) {
        throw new UsageError('refusing to write a tar archive to a terminal: give -o FILE, or redirect stdout');
      }
      const res = await ctx.client().open('GET', '/images/get', { query: { names: refs, format: opts.format === 'oci' ? 'oci' : undefined } });
      const cutOff = (err: unknown): CliError =>
        new CliError(`the archive was cut off: ${(err as Error).message}`, 'the daemon failed while writing it; its log says why');
      if (opts.output === undefined) {
        try {
          for await (const chunk of res as AsyncIterable<Buffer>) await writeBytes(ctx.io.stdout, chunk);
        } catch (err) {
          throw cutOff(err);
        }
        return;
      }
      // Written beside the target and renamed: a failed save leaves no half archive behind.
      const tmp = join(dirname(opts.output), `.${basename(opts.output)}.${process.pid}.tmp`);
      const file = createWriteStream(tmp);
      let fileFailed = false;
      file.on('error', () => (fileFailed = true));
      try {
        await pipeline(res, file);
        await rename(tmp, opts.output);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        // The file's own failures carry a syscall; the daemon's stream breaking also destroys the
        // file (which then reports that same error), and is a cut-off archive.
        const e = err as NodeJS.ErrnoException;
        if (e.syscall === 'rename' || (fileFailed && typeof e.syscall === 'string')) throw new CliError(`cannot write ${opts.output}: ${e.message}`);
        throw cutOff(err);
      }
    });

  image
    .command('prune')
    .description('Remove unused images (dangling ones, or all unused with -a)')
    .option('-a, --all', 'remove every image no container uses, not just dangling ones')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (opts: { all?: boolean; force?: boolean }) => {
      const warning = opts.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!opts.force && !(await confirm(ctx, warning))) throw new CliError('image prune has been cancelled');
      const report = await ctx.client().post<{ ImagesDeleted: ImageDeleteItem[] | null; SpaceReclaimed: number }>('/images/prune', undefined, {
        filters: JSON.stringify({ dangling: { [opts.all ? 'false' : 'true']: true } }),
      });
      const deleted = report.ImagesDeleted ?? [];
      if (deleted.length > 0) {
        ctx.out(
          `Deleted Images:\n${deleted.map((i) => (i.Untagged !== undefined ? `untagged: ${i.Untagged}\n` : i.Deleted !== undefined ? `deleted: ${i.Deleted}\n` : '')).join('')}\n`,
        );
      }
      ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed)}\n`);
    });

  defineBuild(image.command('build'), ctx);
  defineBuild(program.command('build'), ctx);
}
