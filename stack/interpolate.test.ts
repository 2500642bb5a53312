import { afterEach, describe, expect, it } from 'vitest';
import { ComposeError } from './errors.js';
import { interpolate, InterpolationError } from './interpolate.js';
import { issuesOf, load, removeFixtures } from './testing.js';

afterEach(removeFixtures);

const env: Record<string, string> = { SET: 'value', EMPTY: '', PORT: '8080' };
const lookup = (name: string): string | undefined => env[name];
const run = (s: string): string => interpolate(s, lookup);

describe('interpolate', () => {
  it('substitutes $VAR and ${VAR}; unset is empty and reported', () => {
    const unset: string[] = [];
    expect(interpolate('a-$SET-${SET}-$NOPE-${NOPE}', lookup, { onUnset: (n) => unset.push(n) })).toBe('a-value-value--');
    expect(unset).toEqual(['NOPE', 'NOPE']);
    expect(run('$SET.x')).toBe('value.x'); // a name ends at the first character that cannot be in one
    expect(run('${PORT}:80')).toBe('8080:80');
  });

  it('$$ is a literal $ and is not read as a variable', () => {
    expect(run('echo $$SET $${SET} $$$SET')).toBe('echo $SET ${SET} $value');
    expect(run('costs 5$$')).toBe('costs 5$');
  });

  it('${VAR:-default}: the default when unset OR empty', () => {
    expect(run('${SET:-d}')).toBe('value');
    expect(run('${EMPTY:-d}')).toBe('d');
    expect(run('${NOPE:-d}')).toBe('d');
    expect(run('${NOPE:-}')).toBe('');
  });

  it('${VAR-default}: the default only when unset', () => {
    expect(run('${SET-d}')).toBe('value');
    expect(run('${EMPTY-d}')).toBe('');
    expect(run('${NOPE-d}')).toBe('d');
  });

  it('${VAR:?err}: an error naming the variable when unset or empty', () => {
    expect(run('${SET:?must be set}')).toBe('value');
    expect(() => run('${EMPTY:?must be set}')).toThrow('required variable EMPTY is missing a value: must be set');
    expect(() => run('${NOPE:?must be set}')).toThrow('required variable NOPE is missing a value: must be set');
    expect(() => run('${NOPE:?}')).toThrow(new InterpolationError('required variable NOPE is missing a value'));
  });

  it('${VAR?err}: an error only when unset', () => {
    expect(run('${EMPTY?must be set}')).toBe('');
    expect(() => run('${NOPE?must be set}')).toThrow('required variable NOPE is missing a value: must be set');
  });

  it('${VAR:+alt} and ${VAR+alt}: the alternative when set (and, with the colon, not empty)', () => {
    expect(run('${SET:+alt}')).toBe('alt');
    expect(run('${EMPTY:+alt}')).toBe('');
    expect(run('${NOPE:+alt}')).toBe('');
    expect(run('${EMPTY+alt}')).toBe('alt');
    expect(run('${NOPE+alt}')).toBe('');
  });

  it('nests, and evaluates the inner text only when it is used', () => {
    expect(run('${NOPE:-${SET}}')).toBe('value');
    expect(run('${NOPE:-${ALSO_NOPE:-deep}}')).toBe('deep');
    expect(run('${SET:-${NOPE:?never evaluated}}')).toBe('value');
    expect(run('${NOPE:-a}}')).toBe('a}');
    expect(run('${SET:+--port=${PORT}}')).toBe('--port=8080');
  });

  it('refuses malformed references like compose, suggesting $$', () => {
    const msg = 'you may need to escape any $ with another $';
    for (const bad of ['echo $1', 'cost: $', '${', '${SET', '${}', '${1A}', '${SET:x}', '${SET%%x}']) {
      expect(() => run(bad), bad).toThrow(msg);
    }
  });
});

describe('interpolation in a compose file', () => {
  it('applies to values (not keys) everywhere, typed fields included', () => {
    const { config, warnings } = load(
      `
services:
  web:
    image: "nginx:\${TAG:-latest}"
    command: ["echo", "$$HOME", "\${GREETING-hi}"]
    deploy:
      replicas: \${REPLICAS}
    environment:
      \${NOT_A_KEY}: x
    labels:
      empty: "\${EMPTY_VAR-unset}"
      colon: "\${EMPTY_VAR:-unset}"
`,
      {},
      { env: { REPLICAS: '3', EMPTY_VAR: '' } },
    );
    const web = config.services['web'];
    expect(web?.image).toBe('nginx:latest');
    expect(web?.command).toEqual(['echo', '$HOME', 'hi']);
    expect(web?.deploy?.replicas).toBe(3);
    expect(web?.environment).toEqual({ '${NOT_A_KEY}': 'x' });
    expect(web?.labels).toEqual({ empty: '', colon: 'unset' });
    expect(warnings).toEqual([]);
  });

  it('warns about unset variables once each, as compose does', () => {
    const { config, warnings } = load('services:\n  web:\n    image: "nginx:$TAG"\n    hostname: "${TAG}h"\n');
    expect(config.services['web']?.image).toBe('nginx:');
    expect(warnings).toEqual(['The "TAG" variable is not set. Defaulting to a blank string.']);
  });

  it('a missing :? variable fails the load, naming the variable and the path', () => {
    const yml = 'services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD in .env}\n  web:\n    image: ${IMAGE?}\n';
    expect(issuesOf(yml)).toEqual([
      { path: 'services.db.environment.POSTGRES_PASSWORD', message: 'required variable DB_PASSWORD is missing a value: set DB_PASSWORD in .env' },
      { path: 'services.web.image', message: 'required variable IMAGE is missing a value' },
    ]);
    expect(() => load(yml)).toThrow(ComposeError);
    expect(() => load(yml)).toThrow(/^services\.db\.environment\.POSTGRES_PASSWORD: required variable DB_PASSWORD is missing a value: set DB_PASSWORD in \.env\nservices\.web\.image: /);
  });

  it('a malformed reference names the path', () => {
    expect(issuesOf("services:\n  web:\n    image: busybox\n    command: echo $1\n")).toEqual([
      { path: 'services.web.command', message: 'invalid interpolation format in "echo $1": you may need to escape any $ with another $' },
    ]);
  });
});

describe('.env beside the compose file', () => {
  const dotenv = [
    '# comment',
    'TAG=1.25',
    'export REPLICAS=2',
    'FROM_ENV=from-dotenv',
    "SINGLE='keep $TAG literal'",
    'DOUBLE="tag ${TAG}\\tx"',
    'TRAILING=a b # comment',
    'HASH=a#b',
    'EMPTY=',
    'MULTI="line1',
    'line2"',
    'ESCAPED="\\$TAG"',
  ].join('\n');
  const yml = `
services:
  web:
    image: nginx:\${TAG}
    deploy:
      replicas: \${REPLICAS}
    labels:
      from_env: \${FROM_ENV}
      single: \${SINGLE}
      double: \${DOUBLE}
      trailing: \${TRAILING}
      hash: \${HASH}
      empty: \${EMPTY-unset}
      multi: \${MULTI}
      escaped: \${ESCAPED}
`;

  it('provides variables in dotenv syntax', () => {
    const { config } = load(yml, { '.env': dotenv });
    const web = config.services['web'];
    expect(web?.image).toBe('nginx:1.25');
    expect(web?.deploy?.replicas).toBe(2);
    expect(web?.labels).toEqual({
      from_env: 'from-dotenv',
      single: 'keep $TAG literal',
      double: 'tag 1.25\tx',
      trailing: 'a b',
      hash: 'a#b',
      empty: '',
      multi: 'line1\nline2',
      escaped: '$TAG',
    });
  });

  it('the real environment wins over .env, also inside .env values', () => {
    const { config } = load(yml, { '.env': dotenv }, { env: { TAG: '1.27', FROM_ENV: 'from-shell', EMPTY: 'not empty' } });
    expect(config.services['web']?.image).toBe('nginx:1.27');
    expect(config.services['web']?.labels?.['from_env']).toBe('from-shell');
    expect(config.services['web']?.labels?.['double']).toBe('tag 1.27\tx');
    expect(config.services['web']?.labels?.['empty']).toBe('not empty');
  });

  it('is not the service environment: only interpolation sees it', () => {
    const { config } = load('services:\n  web:\n    image: busybox\n', { '.env': 'A=1\n' });
    expect(config.services['web']?.environment).toBeUndefined();
  });

  it('reports its errors with the line', () => {
    expect(issuesOf('services:\n  web:\n    image: busybox\n', { '.env': 'OK=1\nBAD KEY=2\nQ="open\n' })).toEqual([
      { path: '.env:2', message: 'invalid variable name "BAD KEY"' },
      { path: '.env:3', message: 'unterminated double quote' },
    ]);
  });
});
