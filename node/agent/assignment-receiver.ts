import type { Logger } from '../log.js';
import type { TaskObject } from '../store/index.js';

/**
 * The worker's view of its assignments: applies gossip messages in version order and, when it
 * sees a gap (or on start, or when told the leader is ahead), syncs the full set directly.
 */
export class AssignmentReceiver {
  private version = 0;
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
    if (m.prev !== this.version) {
      void this.resync();
      return;
    }
    this.version = m.version;
    const mine = m.nodes[this.nodeId];
    this.logger.debug({ version: m.version, tasks: mine?.length }, 'assignments gossiped');
    if (mine) this.apply(mine);
  }

  /** The leader says its assignments are at `version`: catch up if behind. */
  leaderAt(version: number): void {
    if (version > this.version) void this.resync();
  }

  resync(): Promise<void> {
    this.syncing ??= this.sync()
      .then((r) => {
        this.logger.debug({ version: r.version, had: this.version, tasks: r.tasks.length }, 'assignments synced');
        if (r.version >= this.version) {
          this.version = r.version;
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
