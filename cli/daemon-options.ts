// Types only: the daemon itself is imported lazily, so other commands do not load it.
import type { DaemonOptions } from '../node/daemon.js';

export type { DaemonOptions };
export type RunDaemon = (options: DaemonOptions) => Promise<void>;
