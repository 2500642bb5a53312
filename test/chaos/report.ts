// The chaos suite's outputs: the summary line (one JSON object) and the markdown report.
import type { ScenarioResult } from './runner.js';

export interface ChaosSummary {
  chaos: true;
  scenarios: number;
  passed: number;
  /** Scenarios the target cannot run (not counted in scenarios). */
  skipped: number;
  failoverMsMedian: number | null;
  rescheduleMsMedian: number | null;
  /** A worker cut off (alive but silent) is noticed later than a dead one: reported apart. */
  cutOffRescheduleMsMedian: number | null;
  lostAckedWrites: number;
  failedRequestsOutsideWindows: number;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

export function summarize(results: readonly ScenarioResult[]): ChaosSummary {
  return {
    chaos: true,
    scenarios: results.filter((r) => !r.skipped).length,
    passed: results.filter((r) => r.passed).length,
    skipped: results.filter((r) => r.skipped).length,
    failoverMsMedian: median(results.flatMap((r) => r.failoverMs)),
    rescheduleMsMedian: median(results.flatMap((r) => r.rescheduleMs)),
    cutOffRescheduleMsMedian: median(results.flatMap((r) => r.cutOffRescheduleMs)),
    lostAckedWrites: results.reduce((n, r) => n + (r.history?.lostAckedWrites ?? 0), 0),
    failedRequestsOutsideWindows: results.reduce((n, r) => n + r.requests.failedOutsideWindows, 0),
  };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export interface RunDescription {
  seed: number;
  target: 'netns' | 'compose';
  managers: number;
  workers: number;
  /** compose: the project the suite ran against. */
  project?: string;
}

export function renderReport(results: readonly ScenarioResult[], run: RunDescription): string {
  const s = summarize(results);
  const where =
    run.target === 'compose'
      ? `the docker-compose.test.yml cluster (project ${run.project ?? '?'}): ${run.managers} managers (drained during the run) and ${run.workers} workers, each a container; a node killed is its whole container; the suite's own machine requests the published web service through the last worker`
      : `${run.managers} managers (drained) and ${run.workers} workers on network-namespace hosts; a client outside the swarm requests the published web service through the last worker`;
  const lines = [
    '# Chaos report',
    '',
    `Seed ${run.seed}; ${where}.`,
    '',
    `${s.passed} of ${s.scenarios} scenarios passed${s.skipped > 0 ? ` (${s.skipped} not run on this target)` : ''}. Leader failover median: ${s.failoverMsMedian ?? '-'} ms (goal < 1500). Dead worker's tasks running elsewhere, median: ${s.rescheduleMsMedian ?? '-'} ms (goal < 2000); a cut-off worker's: ${s.cutOffRescheduleMsMedian ?? '-'} ms (it is down after 2 s of silence). Lost acknowledged writes: ${s.lostAckedWrites}. Requests failed outside fault windows: ${s.failedRequestsOutsideWindows}.`,
    '',
    '| scenario | result | time | failover ms | reschedule ms | API ops ok/fail/info | linearizable | requests ok/failed | failed in windows |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if (r.skipped) {
      lines.push(`| ${r.scenario} | not run | - | - | - | - | - | - | - |`);
      continue;
    }
    const ops = r.history?.ops;
    const windows = r.requests.windows.map((w) => `${w.what}: ${w.failedRequests} (${seconds(w.end - w.start)})`).join('; ');
    lines.push(
      `| ${r.scenario} | ${r.passed ? 'pass' : 'FAIL'} | ${seconds(r.durationMs)} | ${r.failoverMs.join(', ') || '-'} | ${[...r.rescheduleMs, ...r.cutOffRescheduleMs.map((ms) => `${ms} (cut off)`)].join(', ') || '-'} | ${ops ? `${ops.ok}/${ops.fail}/${ops.info}` : '-'} | ${r.history?.linearizable ?? '-'} | ${r.requests.ok}/${r.requests.failed} | ${windows || '-'} |`,
    );
  }
  for (const r of results) {
    lines.push('', `## ${r.scenario}`, '');
    if (r.skipped) lines.push(`Not run on this target: ${r.skipped}.`);
    if (r.failure) lines.push(`**Failed:** ${r.failure}`, '');
    for (const n of r.notes) lines.push(`- ${n}`);
    for (const i of r.invariants) lines.push(`- ${i.ok ? 'ok' : 'BROKEN'}: ${i.name} (${i.detail})`);
    if (r.history) lines.push(`- history: ${r.history.ackedWrites} acknowledged writes, ${r.history.lostAckedWrites} lost; linearizable: ${r.history.linearizable}${r.history.reason ? ` (${r.history.reason})` : ''}`);
    if (r.historyFile) lines.push(`- history file: \`${r.historyFile}\``);
    if (r.requests.samples.length > 0) lines.push(`- failures outside windows: ${r.requests.samples.join(' | ')}`);
  }
  return `${lines.join('\n')}\n`;
}
