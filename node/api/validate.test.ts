import { describe, expect, it } from 'vitest';
import { arrayOf, decodeAs, integer, mapOf, object, oneOf, optional, required, string, withDefault } from './validate.js';

const spec = object({
  Name: optional(string),
  Labels: withDefault(mapOf(string), () => ({})),
  Role: required(oneOf(['manager', 'worker'] as const)),
  Ports: withDefault(arrayOf(integer({ min: 1, max: 65535 })), () => []),
});

describe('decoders', () => {
  it('fills defaults for absent and null fields, omits optional ones and ignores unknown fields', () => {
    expect(decodeAs('T', spec, { Role: 'worker', Labels: null, Extra: 1 })).toEqual({ Labels: {}, Role: 'worker', Ports: [] });
    expect(decodeAs('T', spec, { Role: 'manager', Name: 'n', Ports: [80] })).toEqual({ Name: 'n', Labels: {}, Role: 'manager', Ports: [80] });
  });

  it('names the field path and the reason', () => {
    expect(() => decodeAs('T', spec, {})).toThrow('invalid T: Role is required');
    expect(() => decodeAs('T', spec, { Role: 'boss' })).toThrow('invalid T: Role must be one of manager, worker, got "boss"');
    expect(() => decodeAs('T', spec, { Role: 'worker', Ports: [80, 0] })).toThrow('invalid T: Ports[1] must be an integer between 1 and 65535, got 0');
    expect(() => decodeAs('T', spec, { Role: 'worker', Labels: { 'a.b': true } })).toThrow('invalid T: Labels["a.b"] must be a string, got true');
    expect(() => decodeAs('T', spec, 'x')).toThrow('invalid T: body must be an object, got "x"');
    expect(() => decodeAs('T', integer(), 1.5)).toThrow('invalid T: body must be an integer, got 1.5');
  });
});
