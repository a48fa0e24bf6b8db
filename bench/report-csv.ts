// Benchmark of $report-csv: CSV rows per second through the real endpoint, next to the two things
// that bound it: the pure conversion alone, and a raw kafkajs produce of the same reports.
//
//   npx tsc -b && node .build/bench/report-csv.js [rows]          (npm run bench:csv -- [rows])
//   --ingest-node-options="--cpu-prof --cpu-prof-dir=/tmp/p"       node flags for the ingest child
//
// One row = one report of 30 populations (the simulator's Measure: 3 groups x 10), CDC-template
// style: subject, period, 30 count columns. Default 20,000 rows (~2.6 MB of CSV).
// - conversion: convertReportCsv in this process; best of 5 by the shorter of wall and CPU time
//   (another process's load inflates wall time; V8's parallel GC inflates CPU time).
// - end to end: a child ingest process (services/ingest/dist/main.js) on its own topics; the time
//   from sending the CSV to having read the whole answer; first all creates (201), then the same
//   file again, all updates (200). The ingest's own CPU time for the request is read from /proc.
// - raw kafkajs: the same records (same envelope, key and headers as the Acceptor publishes) sent
//   with one idempotent producer, acks=all, 1000 records per request, one request at a time: the
//   Publisher's settings, without HTTP, conversion or validation; uncompressed, then with gzip
//   compression as the Publisher sends.
// Kafka: KAFKA_BROKERS if set, else a stack from provisionStack({ purpose: 'test' }) (stopped at
// the end). The bench's topics are deleted at the end.
import type { MeasureReport } from 'fhir/r4.js';
import kafkajs from 'kafkajs';
import { provisionStack, type Stack } from '@sitrep/local-stack/stack';
import { convertReportCsv, type ReportCsvResult } from '@sitrep/shared/csv/report-csv';
import { isolation } from '../test/helpers/stack.js';
import { serviceEnv, startIngest, type RunningService } from '../test/helpers/services.js';
import { simMeasure } from '../test/simulator/generate.js';
import { putResource } from '../test/simulator/post.js';
import { deleteTopics, processCpuMs } from './common.js';
import { publishedRecord } from '../test/simulator/records.js';

const { Kafka, logLevel, Partitioners, CompressionTypes } = kafkajs;
const ROWS = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 20_000);
/** Node flags for the ingest child, e.g. --ingest-node-options="--cpu-prof --cpu-prof-dir=/tmp/p". */
const INGEST_NODE_OPTIONS = process.argv.find((a) => a.startsWith('--ingest-node-options='))?.slice('--ingest-node-options='.length);
const MEASURE = simMeasure(10);
const REPORTER = 'urn:sitrep:orgid|bench';
const BATCH = 1000;

/** The CSV: subject, period, then one column per population code (30). */
function makeCsv(rows: number): Buffer {
  const codes = MEASURE.group!.flatMap((g) => g.population!.map((p) => p.code!.coding![0]!.code!));
  const lines = [['subject', 'reporter', 'period', ...codes].join(',')];
  const days = Math.max(1, Math.ceil(rows / 2000));
  const perDay = Math.ceil(rows / days);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 500;
  for (let i = 0; i < rows; i++) {
    const day = 1 + Math.floor(i / perDay);
    lines.push([`F${String(i % perDay).padStart(6, '0')}`, REPORTER, `6/${day}/2021`, ...codes.map(() => String(next()))].join(','));
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`);
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
const rate = (rows: number, ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;

function timeConversion(csv: Buffer): { ms: number; wallMs: number; cpuMs: number; result: ReportCsvResult } {
  let best = { wall: Infinity, cpu: Infinity };
  let result: ReportCsvResult | undefined;
  for (let i = 0; i < 5; i++) {
    result = undefined;
    const cpu = process.cpuUsage();
    const wall = performance.now();
    result = convertReportCsv(csv, { measure: MEASURE });
    best = { wall: Math.min(best.wall, performance.now() - wall), cpu: Math.min(best.cpu, cpuMs(process.cpuUsage(cpu))) };
  }
  return { ms: Math.min(best.wall, best.cpu), wallMs: best.wall, cpuMs: best.cpu, result: result! };
}

async function postCsv(ingest: RunningService, csv: Buffer, rows: number) {
  const cpuBefore = processCpuMs(ingest.process.pid);
  const started = performance.now();
  const res = await fetch(`${ingest.url}/Measure/${MEASURE.id}/$report-csv`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
  const text = await res.text();
  const ms = performance.now() - started;
  const cpuAfter = processCpuMs(ingest.process.pid);
  if (res.status !== 200) throw new Error(`$report-csv answered ${res.status}: ${text.slice(0, 2000)}`);
  const entries = (JSON.parse(text) as { entry: { response: { status: string } }[] }).entry.slice(0, -1);
  const statuses = new Map<string, number>();
  for (const e of entries) statuses.set(e.response.status, (statuses.get(e.response.status) ?? 0) + 1);
  if (entries.length !== rows) throw new Error(`expected ${rows} reports, got ${entries.length}`);
  await new Promise((r) => setTimeout(r, 100)); // the child's log line may trail its answer
  // The app's `request` event: from the first byte of the request to the last of the answer.
  const logged = ingest.output().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('report-csv')).pop();
  const serverMs = logged ? (JSON.parse(logged) as { ms?: number }).ms : undefined;
  return { ms, serverMs, cpuMs: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined, statuses, bytes: text.length };
}

/** The records the Acceptor would publish for these reports, produced with raw kafkajs. */
async function rawProduce(brokers: string[], topic: string, reports: MeasureReport[], gzip: boolean): Promise<{ ms: number; encodeMs: number; bytes: number }> {
  const kafka = new Kafka({ clientId: 'bench-report-csv', brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  if (!(await admin.listTopics()).includes(topic)) {
    await admin.createTopics({ topics: [{ topic, numPartitions: 6, configEntries: [{ name: 'min.insync.replicas', value: '1' }] }], waitForLeaders: true });
  }
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const receivedAt = new Date().toISOString();
    const started = performance.now();
    let bytes = 0;
    let encodeMs = 0;
    for (let i = 0; i < reports.length; i += BATCH) {
      const t0 = performance.now();
      const messages = reports.slice(i, i + BATCH).map((resource) => publishedRecord(resource, receivedAt));
      for (const m of messages) bytes += m.value.length;
      encodeMs += performance.now() - t0;
      await producer.sendBatch({ acks: -1, compression: gzip ? CompressionTypes.GZIP : CompressionTypes.None, topicMessages: [{ topic, messages }] });
    }
    return { ms: performance.now() - started, encodeMs, bytes };
  } finally {
    await producer.disconnect();
  }
}

async function main(): Promise<void> {
  let stack: Stack | undefined;
  if (!process.env.KAFKA_BROKERS) {
    stack = await provisionStack({ purpose: 'test', log: (m) => console.error(`[stack] ${m}`) });
    process.env.KAFKA_BROKERS = stack.kafkaBrokers.join(',');
    process.env.CLICKHOUSE_URL = stack.clickhouseUrl;
  }
  // Ingest never talks to ClickHouse; the test helpers want the variable set all the same.
  process.env.CLICKHOUSE_URL ??= 'http://127.0.0.1:8123';
  const brokers = process.env.KAFKA_BROKERS!.split(',');
  const iso = isolation('bench_csv');
  let ingest: RunningService | undefined;
  try {
    const csv = makeCsv(ROWS);
    console.log(`report-csv bench: ${ROWS.toLocaleString('en-US')} rows, 30 population columns, ${(csv.length / 1e6).toFixed(1)} MB of CSV; Kafka ${brokers.join(',')}`);

    const conv = timeConversion(csv);
    if (conv.result.errors.length || conv.result.reports.length !== ROWS) throw new Error(`conversion: ${conv.result.reports.length} reports, errors ${JSON.stringify(conv.result.errors.slice(0, 3))}`);
    console.log(`conversion alone:        ${rate(ROWS, conv.ms)}  (${conv.wallMs.toFixed(0)} ms wall, ${conv.cpuMs.toFixed(0)} ms CPU, best of 5)`);

    ingest = await startIngest({ ...serviceEnv(iso), MAX_BODY_BYTES: String(256 * 1024 * 1024), LOG_LEVEL: 'info' }, { nodeArgs: INGEST_NODE_OPTIONS?.split(' ').filter(Boolean) });
    const put = await putResource(ingest.url, MEASURE as never);
    if (put !== 201) throw new Error(`PUT Measure: ${put}`);
    for (const [label, expect] of [['end to end, creates:', '201 Created'], ['end to end, updates:', '200 OK']] as const) {
      const r = await postCsv(ingest, csv, ROWS);
      if (r.statuses.get(expect) !== ROWS) throw new Error(`${label} statuses ${JSON.stringify([...r.statuses])}`);
      console.log(
        `${label.padEnd(24)} ${rate(ROWS, r.ms)}  (${r.ms.toFixed(0)} ms from send to the last byte of a ${(r.bytes / 1e6).toFixed(1)} MB answer; ` +
          `ingest: ${r.serverMs ?? '?'} ms handling, ${r.cpuMs?.toFixed(0) ?? '?'} ms CPU = ${r.cpuMs ? rate(ROWS, r.cpuMs) : '?'} of CPU)`,
      );
    }

    const reports = conv.result.reports.map((x) => JSON.parse(JSON.stringify(x.report)) as MeasureReport);
    for (const gzip of [false, true]) {
      const raw = await rawProduce(brokers, `${iso.topicPrefix}bench.raw.v1`, reports, gzip);
      console.log(
        `${gzip ? 'raw kafkajs, gzip:' : 'raw kafkajs produce:'}`.padEnd(25) +
          `${rate(ROWS, raw.ms)}  (${raw.ms.toFixed(0)} ms for ${(raw.bytes / 1e6).toFixed(1)} MB in ${Math.ceil(ROWS / BATCH)} requests of ${BATCH}, acks=all, idempotent; ${raw.encodeMs.toFixed(0)} ms of it JSON)`,
      );
    }
    console.log(`cores: ${(await import('node:os')).availableParallelism()}, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    await ingest?.stop();
    await deleteTopics(brokers, iso.topicPrefix).catch((err: Error) => console.error(`could not delete the bench topics: ${err.message}`));
    await stack?.stop();
  }
}

await main();
