import { pack, unpack } from 'msgpackr';

/** A command of the simulated key-value service; `request` makes it apply at most once. */
export type KvCommand =
  | { op: 'write'; key: string; value: number; request: string }
  | { op: 'cas'; key: string; expected: number | null; value: number; request: string };

export interface KvResult {
  /** For cas: whether the expected value matched. Writes always succeed. */
  ok: boolean;
}

/** The replicated state machine the simulator checks: registers plus a table of applied requests. */
export class KvStore {
  private values = new Map<string, number>();
  private results = new Map<string, KvResult>();

  get(key: string): number | null {
    return this.values.get(key) ?? null;
  }

  apply(cmd: KvCommand): KvResult {
    const seen = this.results.get(cmd.request);
    if (seen) return seen; // a duplicated proposal: answer as the first time, change nothing
    let result: KvResult;
    if (cmd.op === 'write') {
      this.values.set(cmd.key, cmd.value);
      result = { ok: true };
    } else {
      const ok = this.get(cmd.key) === cmd.expected;
      if (ok) this.values.set(cmd.key, cmd.value);
      result = { ok };
    }
    this.results.set(cmd.request, result);
    return result;
  }

  snapshot(): Uint8Array {
    return pack({ values: [...this.values], results: [...this.results] });
  }

  static restore(data: Uint8Array): KvStore {
    const kv = new KvStore();
    if (data.byteLength === 0) return kv;
    const s = unpack(data) as { values: [string, number][]; results: [string, KvResult][] };
    kv.values = new Map(s.values);
    kv.results = new Map(s.results);
    return kv;
  }

  static encode(cmd: KvCommand): Uint8Array {
    return pack(cmd);
  }

  static decode(data: Uint8Array): KvCommand {
    return unpack(data) as KvCommand;
  }
}
