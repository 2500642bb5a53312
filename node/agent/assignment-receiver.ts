import type { Logger } from '../log.js';
import type { TaskObject } from '../store/index.js';

/**
 * The worker's view of its assignments: applies gossip messages in version order and, when it
 * sees a gap (or on start, or when told the leader is ahead), syncs the full set directly.
 */
export class AssignmentReceiver {
  private version = 0;
  /**
   * Until one full set has arrived, a message has nothing to apply on top of (a new leader's first
   * one names prev 0, as a fresh receiver is): each asks for the full set instead.
   */
  private synced = false;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly nodeId: string,
    private readonly sync: () => Promise<{ version: number; tasks: TaskObject[] }>,
    private readonly apply: (tasks: TaskObject[]) => void,
    private readonly logger: Logger,
  ) {}

  current(): number {
    return this.version;
  }

  /** A gossip message: applied when it follows the last one seen, else a direct sync. */
  onMessage(m: { version: number; prev: number; nodes: Record<string, TaskObject[]> }): void {
    if (m.version <= this.version) return;
    if (!this.synced || m.prev !== this.version) {
      void this.resync();
      return;
    }
    this.version = m.version;
    const mine = m.nodes[this.nodeId];
    this.logger.debug({ version: m.version, tasks: mine?.length }, 'assignments gossiped');
    if (mine) this.apply(mine);
  }

  /**
   * The leader says its assignments are at `version`: catch up if behind. Also while no sync has
   * succeeded yet (the first one, on start, fails when no manager is up): a new leader's version
   * starts at 0, so it may never look ahead, and until the set arrives adopted tasks are not
   * re-announced on the overlay.
   */
  leaderAt(version: number): void {
    if (!this.synced || version > this.version) void this.resync();
  }

  resync(): Promise<void> {
    this.syncing ??= this.sync()
      .then((r) => {
        // A manager whose store holds nothing yet (restarted, not caught up): its empty set would
        // stop every task this node adopted.
        if (r.version === 0) throw new Error('the manager has applied no state yet');
        this.logger.debug({ version: r.version, had: this.version, tasks: r.tasks.length }, 'assignments synced');
        if (r.version >= this.version) {
          this.version = r.version;
          this.synced = true;
          this.apply(r.tasks);
        }
      })
      .catch((err: unknown) => this.logger.debug({ err }, 'assignment sync failed; will retry'))
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }
}
