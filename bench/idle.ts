import '../polyfill.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BenchCluster, log, round1, sleep, waitFor } from './cluster.js';

// The cost of an idle cluster: 3 managers as real daemon processes on loopback, formed, left to
// settle, then left alone for --seconds (default 30) while only /proc is read (no API calls
// during the window, which would cost the daemons CPU).
//
// RSS: VmRSS from /proc/<pid>/status, sampled every second; MB here are MiB.
// CPU: utime+stime from /proc/<pid>/stat at the start and end of the window, in clock ticks,
//      divided by the wall time of the window: 100% = one core busy.
// Last line: {"bench":"idle","seconds":S,"rssMbPerNode":<the max>,"rssMbPerNodeStat":"max","rssMbMax":...,
//             "rssMbMean":...,"cpuPercentPerNode":<mean over nodes>,"cpuPercentMax":...,...}

const MANAGERS = ['m1', 'm2', 'm3'];

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // no getconf: Linux's USER_HZ is 100 everywhere it runs
  }
  return 100;
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces or parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field k is fields[k - 3].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat: ${stat}`);
  return utime + stime;
}

/** Resident set size in MiB (VmRSS of /proc/<pid>/status, given in kB). */
function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

interface NodeSample {
  name: string;
  pid: number;
  ticks0: number;
  rss: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '30' }, settle: { type: 'string', default: '5' } } });
  const seconds = Number(values.seconds);
  const settle = Number(values.settle);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  if (!Number.isFinite(settle) || settle < 0) throw new Error(`--settle must be a number >= 0, got ${values.settle}`);
  const hz = clockTicks();

  const cluster = new BenchCluster('idle');
  try {
    const leader = await cluster.formManagers(MANAGERS);
    log(`cluster formed: leader ${leader}; settling for ${settle} s`);
    await sleep(settle * 1000);

    const nodes: NodeSample[] = MANAGERS.map((name) => ({ name, pid: cluster.pid(name), ticks0: 0, rss: [] }));
    log(`idle window: ${seconds} s, sampling ${nodes.map((n) => `${n.name}=${n.pid}`).join(' ')}`);
    const t0 = performance.now();
    for (const n of nodes) {
      n.ticks0 = cpuTicks(n.pid);
      n.rss.push(rssMb(n.pid));
    }
    const end = t0 + seconds * 1000;
    for (let next = t0 + 1000; next < end; next += 1000) {
      await sleep(next - performance.now());
      for (const n of nodes) n.rss.push(rssMb(n.pid));
    }
    await sleep(end - performance.now());
    const ticks1 = nodes.map((n) => cpuTicks(n.pid));
    const wallS = (performance.now() - t0) / 1000;
    for (const n of nodes) n.rss.push(rssMb(n.pid));

    for (const m of MANAGERS) if (!cluster.h.node(m).running()) throw new Error(`${m} died during the idle window`);
    const after = await waitFor(() => cluster.healthyLeader(MANAGERS), 'the cluster to be whole after the window', 10_000);

    const perNode = nodes.map((n, i) => ({
      name: n.name,
      rssMbMax: round1(Math.max(...n.rss)),
      rssMbMean: round1(n.rss.reduce((a, b) => a + b, 0) / n.rss.length),
      cpuPercent: Math.round(((ticks1[i]! - n.ticks0) / hz / wallS) * 100 * 100) / 100,
    }));
    for (const p of perNode) log(`${p.name}: RSS max ${p.rssMbMax} MiB, mean ${p.rssMbMean} MiB; CPU ${p.cpuPercent}%`);
    log(`leader after the window: ${after}`);
    const allRss = nodes.flatMap((n) => n.rss);
    const cpus = perNode.map((p) => p.cpuPercent);
    const rssMbMax = round1(Math.max(...allRss));
    const result = {
      bench: 'idle',
      seconds,
      rssMbPerNode: rssMbMax,
      rssMbPerNodeStat: 'max',
      rssMbMax,
      rssMbMean: round1(allRss.reduce((a, b) => a + b, 0) / allRss.length),
      cpuPercentPerNode: Math.round((cpus.reduce((a, b) => a + b, 0) / cpus.length) * 100) / 100,
      cpuPercentMax: Math.max(...cpus),
      nodes: MANAGERS.length,
      clockTicksPerSec: hz,
      perNode,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    cluster.logTails();
    throw err;
  } finally {
    await cluster.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:idle failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
