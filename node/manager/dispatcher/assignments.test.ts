import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../log.js';
import { ClusterStore, encodeProposal, type StoreAction, type TaskObject } from '../../store/index.js';
import { mkTask } from '../test-helpers.js';
import { AssignmentPublisher, decodeAssignments, type AssignmentMessage } from './assignments.js';

// Which task changes the leader gossips to the nodes: those a node must act on, never a node's
// own status reports, except the one that ends a stopped task (the node then cleans it up).

function setup() {
  const store = new ClusterStore();
  let index = 0;
  const apply = (actions: StoreAction[]): void => {
    store.apply({ term: 1, index: ++index, kind: 'normal', data: encodeProposal({ actions, proposedAt: '2026-01-01T00:00:00Z' }) });
  };
  const sent: AssignmentMessage[] = [];
  const publisher = new AssignmentPublisher(
    store,
    async (bytes) => {
      sent.push(decodeAssignments(bytes)!);
    },
    silentLogger(),
  );
  publisher.start();
  const update = (id: string, change: (t: TaskObject) => TaskObject): void => {
    const t = store.get('tasks', id)!;
    apply([{ op: 'update', table: 'tasks', object: change(t), expectVersion: t.Version.Index }]);
  };
  const status = (state: TaskObject['Status']['State']) => (t: TaskObject): TaskObject => ({ ...t, Status: { ...t.Status, State: state } });
  /** Waits past the publisher's batching window; the messages sent meanwhile. */
  const flushed = async (): Promise<AssignmentMessage[]> => {
    await new Promise((r) => setTimeout(r, 30));
    return sent.splice(0);
  };
  return { apply, update, status, flushed, publisher };
}

describe('AssignmentPublisher', () => {
  it("stays quiet on a node's own progress reports, and tells the node when its stopped task is done", async () => {
    const { apply, update, status, flushed, publisher } = setup();
    const { Version: _v, ...task } = mkTask('t1', 's1', { node: 'n1', state: 'assigned', slot: 1 });
    apply([{ op: 'create', table: 'tasks', object: task }]);
    expect((await flushed()).map((m) => m.nodes['n1']?.map((t) => t.ID))).toEqual([['t1']]);

    update('t1', status('starting'));
    update('t1', status('running'));
    expect(await flushed()).toEqual([]);

    // Told to stop: the node must act.
    update('t1', (t) => ({ ...t, DesiredState: 'shutdown' }));
    expect((await flushed()).map((m) => m.nodes['n1']?.map((t) => [t.ID, t.DesiredState]))).toEqual([[['t1', 'shutdown']]]);

    // Its report that the task stopped takes it out of the node's assignments: that goes out.
    update('t1', status('shutdown'));
    expect((await flushed()).map((m) => m.nodes['n1'])).toEqual([[]]);
    publisher.stop();
  });
});
