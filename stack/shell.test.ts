import { describe, expect, it } from 'vitest';
import { shellSplit } from './shell.js';

describe('shellSplit', () => {
  it('splits like compose (go-shellwords)', () => {
    expect(shellSplit('nginx -g "daemon off;"')).toEqual(['nginx', '-g', 'daemon off;']);
    expect(shellSplit("sh -c 'echo $HOME && sleep 1'")).toEqual(['sh', '-c', 'echo $HOME && sleep 1']);
    expect(shellSplit('  a\tb\n c  ')).toEqual(['a', 'b', 'c']);
    expect(shellSplit('a\\ b "c\\"d" e\\\\f')).toEqual(['a b', 'c"d', 'e\\f']);
    expect(shellSplit('"a"\'b\'c')).toEqual(['abc']);
    expect(shellSplit('x "" y')).toEqual(['x', '', 'y']);
    expect(shellSplit('"keep \\n as is"')).toEqual(['keep \\n as is']);
    expect(shellSplit('')).toEqual([]);
  });

  it('refuses unterminated quotes', () => {
    expect(() => shellSplit('echo "hi')).toThrow('unterminated double quote in "echo \\"hi"');
    expect(() => shellSplit("echo 'hi")).toThrow('unterminated single quote');
    expect(() => shellSplit('echo \\')).toThrow('unfinished escape');
  });
});
