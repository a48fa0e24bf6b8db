// What the benchmarks share: the stack (from the environment, else provisioned like the tests),
// an isolated namespace, percentiles and a line format that prints numbers.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import kafkajs from 'kafkajs';
import { provisionStack, type Stack } from '@sitrep/local-stack/stack';

export async function benchStack(): Promise<Stack> {
  const stack = await provisionStack({ purpose: 'test', log: (m) => console.error(`[stack] ${m}`) });
  process.env.KAFKA_BROKERS = stack.kafkaBrokers.join(',');
  process.env.CLICKHOUSE_URL = stack.clickhouseUrl;
  return stack;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Deletes the topics a benchmark created (by prefix), so a long session does not fill the disk. */
export async function deleteTopics(brokers: string[], prefix: string): Promise<void> {
  const admin = new kafkajs.Kafka({ brokers, clientId: 'bench-cleanup', logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length) await admin.deleteTopics({ topics: mine });
  } finally {
    await admin.disconnect();
  }
}

/** user + system CPU time of a process, in ms (Linux /proc; undefined elsewhere). On a shared
 *  2-core machine, CPU per report is steadier than wall-clock rates, which other work inflates. */
export function processCpuMs(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/**
 * The process listening on a local TCP port (Linux /proc; undefined elsewhere or when not ours to
 * see): the broker's pid when the stack came from the environment rather than from this bench.
 */
export function listeningPid(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[] = [];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the socket's inode.
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(`socket:[${f[9]}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`)))) return Number(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/** CPU used by some processes between start() and the call of the returned function, in ms each. */
export function cpuMeter(pids: (number | undefined)[]): () => (number | undefined)[] {
  const before = pids.map(processCpuMs);
  return () => pids.map((pid, i) => {
    const now = processCpuMs(pid);
    return now === undefined || before[i] === undefined ? undefined : now - before[i]!;
  });
}

export const loadAverage = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
