import type { ComposeConfig } from './types.js';
import { toYaml } from './yaml.js';

// The loaded model as a compose file: sections in compose's order, keys sorted everywhere else,
// and every $ doubled so that loading the output again reads the same values.

const SECTIONS = ['services', 'networks', 'volumes', 'secrets', 'configs'] as const;

function sorted(v: unknown): unknown {
  // A function, because '$$' in a replacement string means one '$'.
  if (typeof v === 'string') return v.replaceAll('$', () => '$$');
  if (Array.isArray(v)) return v.map(sorted);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sorted(x);
    }
    return out;
  }
  return v;
}

export function stringifyCompose(c: ComposeConfig): string {
  const out: Record<string, unknown> = {};
  for (const key of SECTIONS) {
    const section = c[key];
    if (key === 'services' || Object.keys(section).length > 0) out[key] = sorted(section);
  }
  for (const key of Object.keys(c).sort()) if (key.startsWith('x-')) out[key] = sorted(c[key as `x-${string}`]);
  return toYaml(out);
}
