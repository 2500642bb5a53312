import { pack, unpack } from 'msgpackr';
import type { MemberId, Message } from '../core/types.js';
import type { RaftTransport } from './raft-node.js';

/**
 * An in-process transport for benchmarks and the demo: messages go through the wire encoding and arrive on a later turn of the event loop. Members can be cut off.
 */
export class LocalNetwork {
  private readonly handlers = new Map<MemberId, (m: Message) => void>();
  private readonly down = new Set<MemberId>();

  /** The transport a member sends with. */
  transport(): RaftTransport {
    return { send: (m) => this.deliver(m) };
  }

  attach(id: MemberId, handler: (m: Message) => void): void {
    this.handlers.set(id, handler);
  }

  detach(id: MemberId): void {
    this.handlers.delete(id);
  }

  /** Drops every message to and from the member until reconnect(). */
  disconnect(id: MemberId): void {
    this.down.add(id);
  }

  reconnect(id: MemberId): void {
    this.down.delete(id);
  }

  private deliver(m: Message): void {
    if (this.down.has(m.from) || this.down.has(m.to)) return;
    // Through the wire encoding, as between hosts: nothing is shared by reference.
    const wire = pack(m);
    setImmediate(() => {
      if (this.down.has(m.from) || this.down.has(m.to)) return;
      this.handlers.get(m.to)?.(unpack(wire) as Message);
    });
  }
}
