/**
 * A binary min-heap ordered by `less`. Only what placement needs: the top, its removal, and
 * re-sifting the top after its key grew (placing a task only ever makes a node less attractive).
 */
export class Heap<T> {
  private readonly items: T[];

  constructor(
    private readonly less: (a: T, b: T) => boolean,
    items: T[] = [],
  ) {
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      this.down(0);
    }
    return top;
  }

  /** Restores order after the top's key increased. */
  fixTop(): void {
    this.down(0);
  }

  private down(i: number): void {
    const a = this.items;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const m = r < n && this.less(a[r]!, a[l]!) ? r : l;
      if (!this.less(a[m]!, a[i]!)) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}
