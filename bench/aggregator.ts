// Aggregator benchmark (`npm run bench:aggregator`): drains a backlog of 30-population reports from
// Kafka into ClickHouse with one aggregator, next to a raw ClickHouse insert of the same rows in the
// same run; then freshness: p95 from 201 to visible in sitrep.rollups at a steady rate of posts.
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { COLUMNS, transform } from '@sitrep/aggregator/transform';
import { facilities, scenario, simMeasure, SIM_MEASURE_URL } from '../test/simulator/generate.js';
import { postReports } from '../test/simulator/post.js';
import { publishedRecord } from '../test/simulator/records.js';
import { clickhouse, dropTestDatabase, aggregatorLag, isolation, query } from '../test/helpers/stack.js';
import { serviceEnv, startAggregator, startIngest } from '../test/helpers/services.js';
import { waitFor } from '../test/helpers/wait.js';
import { benchStack, cpuMeter, fmt, listeningPid, percentile } from './common.js';

const { values: a } = parseArgs({
  options: {
    reports: { type: 'string', default: '30000' },
    // Facilities in the backlog (each reports daily: reports / facilities days).
    facilities: { type: 'string', default: '1000' },
    // Who reports in the freshness phase: 'new' facilities on a day of their own, or the backlog's
    // facilities on the day after it ('next-day': a month's history to combine, as at month end).
    fresh: { type: 'string', default: 'new' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    // Leaves the bench's database in place, to replay its statements by hand.
    'keep-database': { type: 'boolean', default: false },
    // Node flags for the aggregator child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    'aggregator-node-options': { type: 'string' },
  },
});
const N = Number(a.reports);
const stack = await benchStack();
const ch = clickhouse();
const iso = isolation('bench_agg');
const env = serviceEnv(iso);
const topics = topicNames(iso.topicPrefix);
const services: { name: string; output: () => string }[] = [];

try {
  // --- the backlog: N distinct reports (facilities x days), produced straight to Kafka ---
  const measure = simMeasure(10);
  const facilityCount = Math.min(N, Number(a.facilities));
  const days = Math.ceil(N / facilityCount);
  const fac = facilities(facilityCount, { states: 4, seed: 1 });
  const reports = scenario({ measure, subjects: fac.map((f) => f.key), days, startDate: '2021-01-01', correctionShare: 0, duplicateShare: 0, seed: 2 })
    .slice(0, N)
    .map((s) => s.report);
  const kafka = new kafkajs.Kafka({ brokers: stack.kafkaBrokers, logLevel: kafkajs.logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const { topicSpecs } = await import('@sitrep/shared/contracts/topics');
  await admin.createTopics({ topics: topicSpecs(topics), waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const receivedAt = new Date().toISOString();
  await producer.send({ topic: topics.measures, acks: -1, messages: [publishedRecord(measure, receivedAt)] });
  await producer.send({ topic: topics.locations, acks: -1, messages: fac.map((f) => publishedRecord(f.location, receivedAt)) });
  const messages = reports.map((r) => publishedRecord(r, receivedAt));
  for (let i = 0; i < messages.length; i += 2000) await producer.send({ topic: topics.measureReports, acks: -1, compression: kafkajs.CompressionTypes.GZIP, messages: messages.slice(i, i + 2000) });
  console.log(`backlog: ${fmt(N)} reports of 30 populations in Kafka (${fmt(messages.reduce((s, m) => s + m.value.length, 0) / 1e6, 1)} MB)`);

  // --- the ceiling: the same rows inserted straight into ClickHouse ---
  const rawDb = `${iso.database}_raw`;
  const { migrate } = await import('@sitrep/aggregator/migrations');
  const silent = { info: () => undefined } as never;
  await migrate(ch, rawDb, silent);
  const rows = messages.map((m, i) => {
    const t = transform({ value: m.value, partition: 0, offset: String(i) });
    if (t.kind !== 'ok') throw new Error(t.reason);
    return t.row;
  });
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += 5000) {
    await ch.insert({ table: `${rawDb}.reports`, values: rows.slice(i, i + 5000), format: 'JSONEachRow', columns: COLUMNS.reports as [string, ...string[]] });
  }
  const rawSeconds = (performance.now() - t0) / 1000;
  await ch.command({ query: `DROP DATABASE ${rawDb}` });
  console.log(`raw ClickHouse insert of the same rows: ${fmt(N / rawSeconds)} reports/s (${fmt(rawSeconds, 1)} s)`);

  // --- drain with one aggregator: until every report is in and every slice recomputed ---
  const started = performance.now();
  const drainStart = new Date();
  const aggregator = await startAggregator({ ...env, LOG_LEVEL: 'warn' }, { waitReady: false, nodeArgs: a['aggregator-node-options']?.split(' ').filter(Boolean) });
  services.push({ name: 'aggregator', output: aggregator.output });
  // Where the two cores go: each process's CPU over a phase, in cores busy on average.
  const portPid = (url: string) => listeningPid(Number(new URL(url.includes('://') ? url : `tcp://${url}`).port));
  const clickhousePid = portPid(stack.clickhouseUrl);
  const brokerPid = portPid(stack.kafkaBrokers[0]!);
  const cores = (names: string[], pids: (number | undefined)[]) => {
    const meter = cpuMeter(pids);
    const t = performance.now();
    return () => {
      const ms = performance.now() - t;
      return meter().map((cpu, i) => `${names[i]} ${cpu === undefined ? '?' : fmt(cpu / ms, 2)}`).join(', ');
    };
  };
  const drainCpu = cores(['aggregator', 'ClickHouse', 'Kafka', 'this bench'], [aggregator.process.pid, clickhousePid, brokerPid, process.pid]);
  const lagZero = () => aggregatorLag(admin, iso.groupId, topics);
  await waitFor(async () => {
    // Until the aggregator has migrated, there is no table to count (and the client would log an error).
    const [t] = await query<{ n: string }>(ch, `SELECT count() AS n FROM system.tables WHERE database = '${iso.database}' AND name = 'reports'`);
    if (Number(t?.n) === 0) return 0;
    const [r] = await query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports`);
    return Number(r?.n);
  }, (n) => n >= N, { timeoutMs: 1_800_000, intervalMs: 250, what: 'all reports in ClickHouse' });
  const inSeconds = (performance.now() - started) / 1000;
  await waitFor(lagZero, (lag) => lag === 0, { timeoutMs: 1_800_000, intervalMs: 250, what: 'no lag (slices recomputed)' });
  const drainSeconds = (performance.now() - started) / 1000;
  console.log(`aggregator (1 instance): ${fmt(N / inSeconds)} reports/s into ClickHouse (${fmt(inSeconds, 1)} s); ` +
    `${fmt(N / drainSeconds)} reports/s including rollup recomputation (${fmt(drainSeconds, 1)} s)`);
  console.log(`ratio to the raw insert: ${fmt((N / inSeconds) / (N / rawSeconds), 2)} (rows in), ${fmt((N / drainSeconds) / (N / rawSeconds), 2)} (with rollups)`);
  console.log(`  cores busy: ${drainCpu()}`);
  let spent = await timeSpent(aggregator.url);
  console.log(`  aggregator time by step: ${describeSpent(spent)}`);
  await printQueryLog(iso.database, drainStart);

  // --- freshness at a steady rate through ingest ---
  const ingest = await startIngest({ ...env, LOG_LEVEL: 'warn' });
  const rate = Number(a.rate);
  const count = rate * Number(a.seconds);
  // New facilities without Locations: their facility-level cells appear like any other's.
  const nextDay = a.fresh === 'next-day';
  const fresh = nextDay ? fac : facilities(count, { states: 4, seed: 9 }).map((f) => ({ ...f, key: f.key.replace(f.id, `FR${f.id}`) }));
  const day = nextDay ? new Date(Date.UTC(2021, 0, 1 + days)).toISOString().slice(0, 10) : '2022-03-01';
  const freshReports = scenario({ measure, subjects: fresh.map((f) => f.key), days: 1, startDate: day, correctionShare: 0, duplicateShare: 0, seed: 3 }).map((s) => s.report);
  // Visible means: the facility's own row, and the report counted in the 'all' region's row (the
  // k-th accepted report is taken as counted once `all` counts k subjects, since arrival order and
  // counting order differ only by the reports in flight).
  const acceptedAt = new Map<string, number>();
  const visibleAt = new Map<string, number>();
  const counted: { at: number; n: number }[] = [];
  const cell = `measure = '${SIM_MEASURE_URL}' AND grain = 'day' AND period_start = '${day} 00:00:00' AND population_code = 'bedsPop0'`;
  // As the analyst guide advises on 18.16: the filter reaches the stored cells instead of scanning them all.
  const pushdown = 'SETTINGS enable_optimize_predicate_expression = 1';
  // Polling is not free: the facility rows cost 18.16 ~0.3 s quiet and more under this load, so
  // they are polled every 5 s (a coarse check). The 'all' row, the main figure, is one stored cell
  // (~30 ms of ClickHouse CPU a poll): it is polled every 250 ms, since a poll every second added
  // up to a second to each measured lag. The bench prints the polls' own ClickHouse time below.
  let polling = true;
  const every = async (ms: number, poll: () => Promise<void>) => {
    while (polling) {
      await poll();
      await new Promise((r) => setTimeout(r, ms));
    }
  };
  const poller = Promise.all([
    every(5000, async () => {
      const rows = await query<{ region: string }>(ch, `SELECT region FROM ${iso.database}.rollups WHERE ${cell} AND region_type = 'facility' ${pushdown}`).catch(() => []);
      const now = performance.now();
      for (const r of rows) if (!visibleAt.has(r.region)) visibleAt.set(r.region, now);
    }),
    every(250, async () => {
      const all = await query<{ n: string }>(ch, `SELECT subjects_reporting + subjects_missing AS n FROM ${iso.database}.rollups WHERE ${cell} AND region_type = 'all' ${pushdown}`).catch(() => []);
      counted.push({ at: performance.now(), n: Number(all[0]?.n ?? 0) });
    }),
  ]);
  const freshCpu = cores(['aggregator', 'ClickHouse', 'Kafka', 'ingest', 'this bench'], [aggregator.process.pid, clickhousePid, brokerPid, ingest.process.pid, process.pid]);
  const t1 = performance.now();
  const freshStart = new Date();
  const results = await postReports(ingest.url, freshReports, { concurrency: 32, rate });
  const postSeconds = (performance.now() - t1) / 1000;
  results.forEach((r, i) => acceptedAt.set(`${freshReports[i]!.subject!.identifier!.system}|${freshReports[i]!.subject!.identifier!.value}`, r.at));
  await waitFor(async () => visibleAt.size, (n) => n >= freshReports.length, { timeoutMs: 300_000, intervalMs: 250, what: 'every fresh report visible' });
  await waitFor(async () => counted.at(-1)?.n ?? 0, (n) => n >= freshReports.length, { timeoutMs: 300_000, intervalMs: 250, what: "every fresh report counted in 'all'" });
  polling = false;
  await poller;
  const freshCores = freshCpu();
  const facilityLags = [...acceptedAt].map(([k, t]) => (visibleAt.get(k)! - t) / 1000).sort((x, y) => x - y);
  // In acceptance order first: lags that grow from the first to the last quarter mean the rate is
  // above what the pipeline sustains, and the percentiles then depend on the run's length.
  const lagsInOrder = [...acceptedAt.values()].sort((x, y) => x - y).map((t, i) => Math.max(0, counted.find((c) => c.n >= i + 1)!.at - t) / 1000);
  const quarter = Math.floor(lagsInOrder.length / 4);
  const median = (lags: number[]) => fmt(percentile([...lags].sort((x, y) => x - y), 50), 2);
  const allLags = [...lagsInOrder].sort((x, y) => x - y);
  const statuses = results.filter((r) => r.status !== 201).length;
  const summary = (lags: number[]) => `p50 ${fmt(percentile(lags, 50), 2)} s, p95 ${fmt(percentile(lags, 95), 2)} s, max ${fmt(lags[lags.length - 1]!, 2)} s`;
  const spentAfter = await timeSpent(aggregator.url);
  spent = Object.fromEntries(Object.entries(spentAfter).map(([k, v]) => [k, { s: v.s - (spent[k]?.s ?? 0), n: v.n - (spent[k]?.n ?? 0) }]));
  console.log(`freshness phase, aggregator time by step: ${describeSpent(spent)}`);
  console.log(`freshness at ${rate} reports/s, ${fmt(freshReports.length)} reports of ${nextDay ? `the backlog's facilities on ${day}` : "new facilities"} (achieved ${fmt(freshReports.length / postSeconds)}/s, ${statuses} non-201), from 201 to visible in sitrep.rollups:`);
  console.log(`  facility row (polled every 5 s): ${summary(facilityLags)}`);
  console.log(`  counted in 'all' (polled every 250 ms): ${summary(allLags)}`);
  console.log(`  cores busy: ${freshCores}`);
  console.log(`    p50 of the first quarter of reports ${median(lagsInOrder.slice(0, quarter))} s, of the last quarter ${median(lagsInOrder.slice(-quarter))} s`);
  await printQueryLog(iso.database, freshStart);
  await Promise.all([ingest.stop(), aggregator.stop()]);
  await producer.disconnect();
  await admin.disconnect();
} catch (err) {
  // A benchmark that fails says why: the services' last words.
  for (const s of services) console.error(`--- ${s.name} (last 4,000 characters) ---\n${s.output().slice(-4000)}`);
  throw err;
} finally {
  if (!a['keep-database']) await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
  await stack.stop();
}

/** Seconds and count per aggregator step (ClickHouse inserts per table, recomputations per level), from its /metrics. */
async function timeSpent(url: string): Promise<Record<string, { s: number; n: number }>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, { s: number; n: number }> = {};
  for (const m of text.matchAll(/^aggregator_(write|recompute)_duration_ms_(sum|count)\{(?:table|level)="([^"]+)"\} ([\d.e+]+)$/gm)) {
    const step = `${m[1] === 'write' ? 'insert ' : ''}${m[3]}`;
    const e = (out[step] ??= { s: 0, n: 0 });
    if (m[2] === 'sum') e.s = Number(m[4]) / 1000;
    else e.n = Number(m[4]);
  }
  const failed = [...text.matchAll(/^aggregator_write_errors_total\{table="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
  if (failed.length) console.log(`  failed ClickHouse steps (retried): ${failed.join(', ')}`);
  return out;
}

function describeSpent(spent: Record<string, { s: number; n: number }>): string {
  return Object.entries(spent).map(([k, v]) => `${k} ${fmt(v.s, 1)} s in ${fmt(v.n)}`).join(', ');
}

/**
 * Where ClickHouse spent its time on this run's database since `since` (the bench's own polls
 * included), by statement kind and by table merged (needs system.query_log and system.part_log).
 */
async function printQueryLog(database: string, since: Date): Promise<void> {
  const after = `event_time >= toDateTime('${since.toISOString().slice(0, 19).replace('T', ' ')}', 'UTC')`;
  // CPU as well as wall time: with ClickHouse CPU-bound, wall time is mostly waiting for a core.
  // ProfileEvents are two arrays on 18.16 and a Map on current servers.
  await ch.command({ query: 'SYSTEM FLUSH LOGS' }).catch(() => undefined);
  const statements = (cpu: (event: string) => string) =>
    query<{ kind: string; n: string; s: string; cpu: string; avg: string; rows: string }>(ch, `
      SELECT replaceRegexpAll(substring(query, 1, 60), '[[:space:]]+', ' ') AS kind, count() AS n, sum(query_duration_ms) / 1000 AS s,
             sum(${cpu('UserTimeMicroseconds')} + ${cpu('SystemTimeMicroseconds')}) / 1e6 AS cpu, avg(query_duration_ms) AS avg, sum(read_rows) AS rows
      FROM system.query_log WHERE type = 2 AND position(query, '${database}.') > 0 AND ${after}
      GROUP BY kind ORDER BY s DESC LIMIT 10`);
  const rows = await statements((e) => `ProfileEvents.Values[indexOf(ProfileEvents.Names, '${e}')]`)
    .catch(() => statements((e) => `ProfileEvents['${e}']`))
    .catch(() => []);
  for (const r of rows) console.log(`  clickhouse: ${r.kind} x${r.n}: ${fmt(Number(r.s), 1)} s, CPU ${fmt(Number(r.cpu), 1)} s (avg ${fmt(Number(r.avg))} ms, ${fmt(Number(r.rows))} rows read)`);
  // Background merges, per table (needs system.part_log: the local stack's config enables it).
  // event_type 2 is a merge; its name differs between 18.16 (MERGE_PARTS) and current servers (MergeParts).
  const merges = await query<{ table: string; n: string; s: string; rows: string }>(ch, `
    SELECT table, count() AS n, sum(duration_ms) / 1000 AS s, sum(rows) AS rows
    FROM system.part_log WHERE CAST(event_type AS Int8) = 2 AND database = '${database}' AND ${after}
    GROUP BY table ORDER BY s DESC`).catch(() => []);
  for (const m of merges) console.log(`  clickhouse merges: ${m.table} x${m.n}: ${fmt(Number(m.s), 1)} s, ${fmt(Number(m.rows))} rows`);
}
