import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerSecretLikeCommands } from './secret.js';

// swarm config create | ls | inspect | rm: the secret commands (secret.ts) for configs, whose
// data the API does return (inspect --pretty shows it).

export function registerConfigCommands(program: Command, ctx: CliContext): void {
  registerSecretLikeCommands(program, ctx, 'config');
}
