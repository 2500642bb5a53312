import { describe, expect, it } from 'vitest';
import { DockerfileError, expandVariables, parseDockerfile } from './dockerfile.js';

describe('parseDockerfile', () => {
  it('parses every supported instruction with line numbers', () => {
    const text = [
      '# a comment',
      'ARG BASE=busybox:test',
      'FROM ${BASE}',
      'ENV A=1 B="two words"',
      'ENV LEGACY some value',
      'LABEL org.example.name="demo" version=1',
      'WORKDIR /app',
      'COPY --chown=1000:1000 a.txt b.txt /app/',
      'ADD files.tar /opt/',
      'RUN echo hi \\',
      '    && echo there',
      'RUN ["sh", "-c", "echo exec"]',
      'USER nobody',
      'EXPOSE 80 53/udp',
      'HEALTHCHECK --interval=5s --timeout=2s --retries=3 --start-period=1s CMD wget -q localhost',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'CMD echo done',
    ].join('\n');
    const ins = parseDockerfile(text);
    expect(ins.map((i) => `${i.line}:${i.kind}`)).toEqual([
      '2:ARG', '3:FROM', '4:ENV', '5:ENV', '6:LABEL', '7:WORKDIR', '8:COPY', '9:ADD', '10:RUN', '12:RUN', '13:USER', '14:EXPOSE', '15:HEALTHCHECK', '16:ENTRYPOINT', '17:CMD',
    ]);
    expect(ins[2]).toMatchObject({ kind: 'ENV', pairs: [['A', '1'], ['B', 'two words']] });
    expect(ins[3]).toMatchObject({ kind: 'ENV', pairs: [['LEGACY', 'some value']] });
    expect(ins[6]).toMatchObject({ kind: 'COPY', sources: ['a.txt', 'b.txt'], dest: '/app/', chown: '1000:1000' });
    expect(ins[8]).toMatchObject({ kind: 'RUN', command: { form: 'shell', command: 'echo hi && echo there' } });
    expect(ins[9]).toMatchObject({ kind: 'RUN', command: { form: 'exec', args: ['sh', '-c', 'echo exec'] } });
    expect(ins[12]).toMatchObject({ kind: 'HEALTHCHECK', check: { test: ['CMD-SHELL', 'wget -q localhost'], intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 1000 } });
  });

  it('names the line and the reason for bad input', () => {
    const bad: [string, RegExp][] = [
      ['FROM a\nFROBNICATE x', /Dockerfile:2: unknown or unsupported instruction "FROBNICATE"/],
      ['RUN echo', /Dockerfile:1: the first instruction must be FROM/],
      ['FROM a\nCMD ["sh", 1]', /Dockerfile:2: CMD: the exec form must be a JSON array of strings/],
      ['FROM a\nCOPY onlyone', /Dockerfile:2: COPY needs at least one source and a destination/],
      ['FROM a\nHEALTHCHECK --interval=soon CMD true', /Dockerfile:2: HEALTHCHECK --interval: "soon" is not a duration/],
      ['FROM a AS b', /multi-stage/],
      ['FROM a\nENV A="unterminated', /Dockerfile:2: unterminated " quote/],
      ['FROM a\nEXPOSE http', /Dockerfile:2: EXPOSE: "http" is not a port/],
      ['# nothing', /no FROM/],
    ];
    for (const [text, re] of bad) {
      let err: unknown;
      try {
        parseDockerfile(text);
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(DockerfileError);
      expect((err as Error).message, text).toMatch(re);
    }
  });

  it('accepts HEALTHCHECK NONE and FROM scratch', () => {
    const ins = parseDockerfile('FROM scratch\nHEALTHCHECK NONE');
    expect(ins[0]).toMatchObject({ kind: 'FROM', image: 'scratch' });
    expect(ins[1]).toMatchObject({ kind: 'HEALTHCHECK', check: { test: ['NONE'] } });
  });
});

describe('expandVariables', () => {
  const vars = new Map([
    ['A', 'x'],
    ['EMPTY', ''],
  ]);
  it('expands the forms Docker supports', () => {
    expect(expandVariables('$A-${A}-${MISSING:-def}-${A:-def}-${A:+alt}-${EMPTY:+alt}-$MISSING-\\$A', vars)).toBe('x-x-def-x-alt---$A');
  });
});
