import { describe, expect, it } from 'vitest';
import { isExcluded, parseDockerignore, patternRegex } from './build-context.js';

describe('.dockerignore patterns', () => {
  it('follow Go\'s filepath.Match with "**"', () => {
    expect(patternRegex('*.log').test('a.log')).toBe(true);
    expect(patternRegex('*.log').test('dir/a.log')).toBe(false);
    expect(patternRegex('**/*.log').test('dir/sub/a.log')).toBe(true);
    expect(patternRegex('**/*.log').test('a.log')).toBe(true);
    expect(patternRegex('a?c').test('abc')).toBe(true);
    expect(patternRegex('[a-c]x').test('bx')).toBe(true);
    expect(patternRegex('[!a-c]x').test('bx')).toBe(false);
    expect(patternRegex('docs/**').test('docs/a/b.md')).toBe(true);
    expect(patternRegex('a.b').test('axb')).toBe(false);
  });

  it('the last matching rule wins, a directory rule covers its contents, "!" brings files back', () => {
    const rules = parseDockerignore('# comment\n\n*.log\n/build/\nsecrets\n!secrets/public.pem\n./tmp/./x\n');
    expect(isExcluded(rules, 'debug.log')).toBe(true);
    expect(isExcluded(rules, 'src/debug.log')).toBe(false);
    expect(isExcluded(rules, 'build/out/app.js')).toBe(true);
    expect(isExcluded(rules, 'secrets/key.pem')).toBe(true);
    expect(isExcluded(rules, 'secrets/public.pem')).toBe(false);
    expect(isExcluded(rules, 'tmp/x')).toBe(true);
    expect(isExcluded(rules, 'src/main.ts')).toBe(false);
    expect(parseDockerignore('   \n#x\n')).toEqual([]);
  });
});
