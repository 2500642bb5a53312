import type { Input } from './context.js';
import { CliError } from './errors.js';

// Reading from stdin: one line (a prompt's answer; a secret one read with the terminal's echo
// off) or all of it (--password-stdin). Lines are read by hand rather than with readline so that
// what follows a line stays in the stream for the next read.

/** One line without its end, or undefined at the end of input. */
export async function readLine(input: Input, secret = false): Promise<string | undefined> {
  if (input.readableEnded) return undefined;
  const tty = input as Input & { setRawMode?: (raw: boolean) => unknown };
  const raw = secret && tty.isTTY === true && typeof tty.setRawMode === 'function';
  if (raw) tty.setRawMode?.(true);
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      let line = '';
      const cleanup = (): void => {
        input.off('data', onData);
        input.off('end', onEnd);
        input.off('error', onError);
        input.pause();
      };
      const finish = (value: string | undefined, rest = ''): void => {
        cleanup();
        if (rest !== '') input.unshift(Buffer.from(rest));
        resolve(value);
      };
      const onData = (chunk: Buffer | string): void => {
        const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
        for (let i = 0; i < text.length; i++) {
          const c = text[i] ?? '';
          if (c === '\n' || c === '\r') {
            const rest = text.slice(i + 1);
            finish(line, c === '\r' && rest.startsWith('\n') ? rest.slice(1) : rest);
            return;
          }
          if (raw && c === '\x03') {
            cleanup();
            reject(new CliError('cancelled'));
            return;
          }
          if (raw && c === '\x04') {
            finish(line === '' ? undefined : line);
            return;
          }
          if (raw && (c === '\x7f' || c === '\b')) line = line.slice(0, -1);
          else line += c;
        }
      };
      const onEnd = (): void => finish(line === '' ? undefined : line);
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      input.on('data', onData);
      input.once('end', onEnd);
      input.once('error', onError);
      input.resume();
    });
  } finally {
    if (raw) tty.setRawMode?.(false);
  }
}

/** Everything on stdin, without the final newline. */
export async function readAll(input: Input): Promise<string> {
  let text = '';
  for await (const chunk of input as AsyncIterable<Buffer | string>) text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  return text.replace(/\r?\n$/, '');
}
