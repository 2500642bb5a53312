// Tables as docker prints them (Go's tabwriter with minwidth 10, padding 3): every column but the
// last is as wide as its widest cell plus 3, and at least 10.

export interface TableOptions {
  minWidth?: number;
  padding?: number;
}

/** Width in code points, as tabwriter counts runes. */
function width(s: string): number {
  return [...s].length;
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const { minWidth = 10, padding = 3 } = options;
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(minWidth, ...all.map((r) => width(r[col] ?? '') + padding)));
  return all
    .map((r) =>
      header
        .map((_, col) => {
          const cell = r[col] ?? '';
          return col === header.length - 1 ? cell : cell + ' '.repeat((widths[col] ?? 0) - width(cell));
        })
        .join('')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
