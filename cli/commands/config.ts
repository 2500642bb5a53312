import type { Command } from 'commander';
import type { ConfigObject } from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { label, labelKey, repeatable } from '../flags.js';
import { registerSecretLikeCommands } from './secret.js';

// swarm config create | ls | inspect | rm: the secret commands (secret.ts) for configs, whose
// data the API does return (inspect --pretty shows it); and config update, for labels only.

interface UpdateOptions {
  labelAdd?: [string, string][];
  labelRm?: string[];
}

export function registerConfigCommands(program: Command, ctx: CliContext): void {
  const group = registerSecretLikeCommands(program, ctx, 'config');

  group
    .command('update')
    .description("Change a config's labels (its name and data cannot change)")
    .argument('<config>', 'config name or ID')
    .addOption(repeatable('--label-add <key=value>', 'add or change a config label (repeatable)', label))
    .addOption(repeatable('--label-rm <key>', 'remove a config label (repeatable)', labelKey))
    .action(async (ref: string, o: UpdateOptions) => {
      if (!o.labelAdd && !o.labelRm) throw new UsageError('nothing to update: give --label-add or --label-rm');
      const client = ctx.client();
      const config = await client.get<ConfigObject>(`/configs/${encodeURIComponent(ref)}`);
      const labels = { ...config.Spec.Labels };
      for (const key of o.labelRm ?? []) {
        if (!(key in labels)) throw new CliError(`key ${key} doesn't exist in config's labels`);
        delete labels[key];
      }
      for (const [k, v] of o.labelAdd ?? []) labels[k] = v;
      // Written back by the ID and version read: the server refuses if the config changed meanwhile.
      await client.post(`/configs/${encodeURIComponent(config.ID)}/update`, { Name: config.Spec.Name, Labels: labels, Data: config.Spec.Data }, { version: config.Version.Index });
      ctx.out(`${ref}\n`);
    });
}
