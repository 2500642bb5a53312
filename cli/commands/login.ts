import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { readAll, readLine } from '../prompt.js';

// swarm login: the daemon checks the credentials against the registry (POST /auth) and keeps them
// for the pulls and pushes it makes for this node.

/** Docker Hub's address, as the docker CLI sends it when no registry is named. */
const DEFAULT_REGISTRY = 'https://index.docker.io/v1/';

interface LoginOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

export function registerLoginCommand(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description('Log in to a registry (asks for what is missing when stdin is a terminal)')
    .argument('[registry]', 'HOST[:PORT] of the registry (default: Docker Hub)')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password or token (visible to other users of this host: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (registry: string | undefined, opts: LoginOptions) => {
      if (opts.password !== undefined && opts.passwordStdin) throw new UsageError('--password and --password-stdin cannot be used together');
      if (opts.passwordStdin && opts.username === undefined) throw new UsageError('--password-stdin needs --username: stdin carries the password');
      if (opts.password !== undefined) ctx.io.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      const stdin = ctx.stdin();
      const tty = stdin.isTTY === true;
      let username = opts.username;
      if (username === undefined) {
        if (!tty) throw new UsageError('give --username: stdin is not a terminal, so it cannot be asked for');
        ctx.out('Username: ');
        username = (await readLine(stdin))?.trim();
      }
      let password = opts.password;
      if (opts.passwordStdin) {
        password = await readAll(stdin);
      } else if (password === undefined) {
        if (!tty) throw new UsageError('give --password-stdin (or --password): stdin is not a terminal, so the password cannot be asked for');
        ctx.out('Password: ');
        password = await readLine(stdin, true);
        ctx.out('\n');
      }
      if (!username) throw new CliError('the user name is empty');
      if (!password) throw new CliError('the password is empty');
      const res = await ctx.client().post<{ Status: string }>('/auth', { username, password, serveraddress: registry ?? DEFAULT_REGISTRY });
      ctx.out(`${res.Status}\n`);
    });
}
