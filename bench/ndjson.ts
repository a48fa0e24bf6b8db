// Benchmark of NDJSON bulk push (POST /MeasureReport/$import) through a real ingest child process
// into Kafka: reports/s, the ingest process's peak RSS, and in the same run the raw ceiling (kafkajs
// producing the same records, same producer settings as services/ingest/src/publish.ts, no HTTP)
// and the ratio between the two.
//
// Run from the repo root after `npx tsc -b` (npm run bench:ndjson):
//   node .build/bench/ndjson.js                     200,000 lines (30 populations each) from a file
//   node .build/bench/ndjson.js --lines 50000       fewer lines
//   node .build/bench/ndjson.js --gigabytes 2       a 2 GB body generated on the fly (peak RSS check)
//   node .build/bench/ndjson.js --skip-raw          without the kafkajs ceiling
//   --ingest-node-options "--max-old-space-size=160"  node flags for the ingest child (GC tuning)
//   --repeat-days 3                                   --gigabytes: re-send 3 days over and over (updates only)
// Uses KAFKA_BROKERS when set, else provisions a throwaway local stack (deploy/local).
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { MeasureReport, Parameters } from 'fhir/r4.js';
import { provisionStack, type Stack } from '@sitrep/local-stack/stack';
import { topicNames, topicSpecs } from '@sitrep/shared/contracts/topics';
import { LineSplitter } from '@sitrep/ingest/routes/bulk';
import { COMPRESSION } from '@sitrep/ingest/publish';
import { useGzipCodec } from '@sitrep/shared/gzip-codec';
import { deleteTopics, processCpuMs } from './common.js';
import { publishedRecord } from '../test/simulator/records.js';
import { facilities, scenario, simMeasure } from '../test/simulator/generate.js';
import { putResource } from '../test/simulator/post.js';
import { startIngest, type RunningService } from '../test/helpers/services.js';

const { Kafka, logLevel } = kafkajs;

/** `--name value` or `--name=value`. */
function arg(name: string): string | undefined {
  const joined = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (joined) return joined.slice(name.length + 3);
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}
const LINES = Number(arg('lines') ?? 200_000);
const GIGABYTES = arg('gigabytes') === undefined ? undefined : Number(arg('gigabytes'));
const POPULATIONS = Number(arg('populations') ?? 10); // per group: 3 groups x 10 = 30 populations
const FACILITIES = 2000;
/** --gigabytes mode: cycle through this many days (re-sent reports are updates: the catalog of ids stops growing). */
const REPEAT_DAYS = arg('repeat-days') === undefined ? undefined : Number(arg('repeat-days'));
const SKIP_RAW = process.argv.includes('--skip-raw');
/** Extra node flags for the ingest child, e.g. --ingest-node-options "--max-old-space-size=160". */
const INGEST_NODE_OPTIONS = arg('ingest-node-options');
const MB = 1024 * 1024;

const log = (m: string) => console.log(m);

// ---------------------------------------------------------------------------------------------
// Input: a file of simulator reports, or an endless-looking generated stream.

/** Writes LINES simulator reports (day by day, with its corrections and duplicates) to `file`. */
async function writeFile(file: string, lines: number): Promise<number> {
  const measure = simMeasure(POPULATIONS);
  const subjects = facilities(FACILITIES, { states: 4 }).map((f) => f.key);
  const out = createWriteStream(file);
  let written = 0;
  for (let day = 0; written < lines; day++) {
    const startDate = new Date(Date.UTC(2020, 0, 1) + day * 86_400_000).toISOString().slice(0, 10);
    // One day at a time keeps the generator small; each day has its own seed.
    const sends = scenario({ measure, subjects, days: 1, startDate, seed: 1000 + day });
    let chunk = '';
    for (const s of sends) {
      if (written >= lines) break;
      chunk += `${JSON.stringify(s.report)}\n`;
      written++;
    }
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return statSync(file).size;
}

/**
 * About `bytes` of NDJSON made on the fly: the reports of one simulated day are templates, each
 * later day re-dates them (a string replace, so the bench stays small and fast). Counts its lines.
 */
function generated(bytes: number, counter: { lines: number; bytes: number }): Readable {
  const measure = simMeasure(POPULATIONS);
  const subjects = facilities(FACILITIES, { states: 4 }).map((f) => f.key);
  const templateDay = '2020-01-01';
  const template = scenario({ measure, subjects, days: 1, startDate: templateDay, correctionShare: 0, duplicateShare: 0, seed: 1 })
    .map((s) => `${JSON.stringify(s.report)}\n`)
    .join('');
  const perDay = template.split('\n').length - 1;
  let day = 0;
  return Readable.from(
    (function* () {
      while (counter.bytes < bytes) {
        const offset = REPEAT_DAYS ? day++ % REPEAT_DAYS : day++;
        const date = new Date(Date.UTC(2020, 0, 1) + offset * 86_400_000).toISOString().slice(0, 10);
        const text = Buffer.from(template.replaceAll(templateDay, date));
        counter.bytes += text.length;
        counter.lines += perDay;
        // Handed out in 1 MiB pieces, as a file read would.
        for (let i = 0; i < text.length; i += MB) yield text.subarray(i, i + MB);
      }
    })(),
    { objectMode: false },
  );
}

// ---------------------------------------------------------------------------------------------
// The ingest path.

interface Sampled {
  peakRssMb: number;
  hwmMb: number;
}

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function postImport(url: string, body: Readable): Promise<{ status: number; result: Parameters; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/MeasureReport/$import`, { method: 'POST', headers: { 'content-type': 'application/fhir+ndjson' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        const seconds = (performance.now() - started) / 1000;
        try {
          resolve({ status: res.statusCode ?? 0, result: JSON.parse(text) as Parameters, seconds });
        } catch {
          reject(new Error(`status ${res.statusCode}: ${text.slice(0, 300)}`));
        }
      });
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

/** CPU time of the process's main thread (its event loop), in ms: the thread whose time bounds intake. */
function mainThreadCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
}

interface Cpu {
  /** Whole process (main thread, zlib's thread pool, GC helpers) and main thread alone, ms. */
  processMs: number;
  mainMs: number;
}

async function throughIngest(ingest: RunningService, body: Readable): Promise<{ accepted: number; seconds: number; status: number; cpu: Cpu } & Sampled> {
  const pid = ingest.process.pid!;
  let peakRssMb = 0;
  const sampler = setInterval(() => (peakRssMb = Math.max(peakRssMb, procStatus(pid, 'VmRSS'))), 250);
  const cpuBefore = { processMs: processCpuMs(pid) ?? NaN, mainMs: mainThreadCpuMs(pid) };
  const started = performance.now();
  try {
    const { status, result, seconds } = await postImport(ingest.url, body).catch((err: Error) => {
      const tail = ingest.output().split('\n').filter((l) => l.includes('bulk_import') || l.includes('"level":50')).slice(-3).join('\n');
      throw new Error(`import failed after ${((performance.now() - started) / 1000).toFixed(1)} s: ${err.message}\n${tail}`);
    });
    const value = (n: string) => result.parameter?.find((p) => p.name === n)?.valueInteger ?? 0;
    if (status !== 200 || value('rejected') > 0) {
      const outcome = result.parameter?.find((p) => p.name === 'outcome')?.resource;
      log(`  import answered ${status}: ${JSON.stringify(outcome ?? result).slice(0, 600)}`);
    }
    const cpu = { processMs: (processCpuMs(pid) ?? NaN) - cpuBefore.processMs, mainMs: mainThreadCpuMs(pid) - cpuBefore.mainMs };
    return { accepted: value('accepted'), seconds, status, cpu, peakRssMb, hwmMb: procStatus(pid, 'VmHWM') };
  } finally {
    clearInterval(sampler);
  }
}

function cpuText(cpu: Cpu, lines: number, seconds: number): string {
  const us = (ms: number) => ((ms * 1000) / lines).toFixed(0);
  return `${us(cpu.mainMs)} us of main thread per line (busy ${((100 * cpu.mainMs) / (seconds * 1000)).toFixed(0)} %), ${us(cpu.processMs)} us of the whole process`;
}

// ---------------------------------------------------------------------------------------------
// The raw ceiling: the same records straight into Kafka with the ingest producer's settings.

async function rawCeiling(brokers: string[], prefix: string, file: string): Promise<{ records: number; seconds: number }> {
  const kafka = new Kafka({ brokers, clientId: 'bench-ndjson-raw', logLevel: logLevel.WARN });
  const topic = `${prefix}raw.measure-reports.v1`;
  const admin = kafka.admin();
  await admin.connect();
  const spec = topicSpecs(topicNames(prefix))[0]!;
  await admin.createTopics({ topics: [{ ...spec, topic }], waitForLeaders: true });
  await admin.disconnect();
  // As services/ingest/src/publish.ts: idempotent, one request in flight, acks=all, its codec, ~1 MiB per request.
  useGzipCodec();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const receivedAt = new Date().toISOString();
  const build = (report: Record<string, unknown>) => publishedRecord(report as unknown as MeasureReport, receivedAt);
  // Records are prepared before the clock starts: the ceiling is the producer's, not JSON's.
  const batches: ReturnType<typeof build>[][] = [[]];
  const splitter = new LineSplitter(16 * MB);
  for await (const chunk of createReadStream(file, { highWaterMark: MB })) {
    for (const { bytes } of splitter.push(chunk as Buffer)) {
      if (!bytes || bytes.length === 0) continue;
      let batch = batches[batches.length - 1]!;
      if (batch.length === 250) batches.push((batch = []));
      batch.push(build(JSON.parse(bytes.toString('utf8')) as Record<string, unknown>));
    }
  }
  const started = performance.now();
  let records = 0;
  for (const messages of batches) {
    await producer.sendBatch({ acks: -1, timeout: 10_000, compression: COMPRESSION, topicMessages: [{ topic, messages }] });
    records += messages.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return { records, seconds };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let stack: Stack | undefined;
  if (!process.env.KAFKA_BROKERS) {
    stack = await provisionStack({ purpose: 'test', log: (m) => log(`[stack] ${m}`) });
    process.env.KAFKA_BROKERS = stack.kafkaBrokers.join(',');
    process.env.CLICKHOUSE_URL = stack.clickhouseUrl;
  }
  process.env.CLICKHOUSE_URL ??= 'http://127.0.0.1:8123'; // ingest does not use it; the helper wants one
  const brokers = process.env.KAFKA_BROKERS.split(',');
  const prefix = `bench.ndjson.${randomBytes(3).toString('hex')}.`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sitrep-bench-ndjson-'));
  let ingest: RunningService | undefined;
  try {
    log(`${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other work on this machine counts against every number)`);
    ingest = await startIngest({
      TOPIC_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      NDJSON_MAX_BODY_BYTES: String(Math.ceil(((GIGABYTES ?? 4) + 1) * 1024 ** 3)),
    }, { nodeArgs: INGEST_NODE_OPTIONS?.split(' ').filter(Boolean) });
    if (INGEST_NODE_OPTIONS) log(`ingest node options: ${INGEST_NODE_OPTIONS}`);
    // With the Measure known, every report is validated against it, as in production.
    if ((await putResource(ingest.url, simMeasure(POPULATIONS) as never)) !== 201) throw new Error('PUT Measure failed');
    const baseRss = procStatus(ingest.process.pid!, 'VmRSS');
    log(`ingest pid ${ingest.process.pid}, RSS ${baseRss.toFixed(0)} MB when idle`);

    if (GIGABYTES !== undefined) {
      const target = GIGABYTES * 1024 ** 3;
      const counter = { lines: 0, bytes: 0 };
      log(`streaming ~${GIGABYTES} GiB generated on the fly (${POPULATIONS * 3} populations per report, ${REPEAT_DAYS ? `${REPEAT_DAYS} days re-sent over and over` : 'a new day every 2000 lines'})...`);
      const r = await throughIngest(ingest, generated(target, counter));
      log(`ingest: ${r.accepted} of ${counter.lines} lines accepted (status ${r.status}), ${(counter.bytes / MB).toFixed(0)} MiB in ${r.seconds.toFixed(1)} s`);
      log(`  ${(r.accepted / r.seconds).toFixed(0)} reports/s, ${(counter.bytes / MB / r.seconds).toFixed(1)} MiB/s; ${cpuText(r.cpu, r.accepted, r.seconds)}`);
      log(`  ingest peak RSS ${r.hwmMb.toFixed(0)} MB (VmHWM; sampled peak ${r.peakRssMb.toFixed(0)} MB) ${r.hwmMb < 300 ? '< 300 MB: OK' : '>= 300 MB: OVER'}`);
      log(`  bench process peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
      return;
    }

    const file = path.join(dir, 'reports.ndjson');
    const t0 = performance.now();
    const size = await writeFile(file, LINES);
    log(`generated ${LINES} lines, ${(size / MB).toFixed(0)} MiB (${(size / LINES / 1024).toFixed(1)} KiB per line) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const r = await throughIngest(ingest, createReadStream(file, { highWaterMark: 256 * 1024 }));
    const ingestRate = r.accepted / r.seconds;
    log(`ingest: ${r.accepted} of ${LINES} accepted (status ${r.status}) in ${r.seconds.toFixed(1)} s: ${ingestRate.toFixed(0)} reports/s, ${(size / MB / r.seconds).toFixed(1)} MiB/s`);
    log(`  ingest CPU: ${cpuText(r.cpu, r.accepted, r.seconds)}`);
    log(`  ingest peak RSS ${r.hwmMb.toFixed(0)} MB (VmHWM; sampled during the import ${r.peakRssMb.toFixed(0)} MB)`);
    if (!SKIP_RAW) {
      const raw = await rawCeiling(brokers, prefix, file);
      const rawRate = raw.records / raw.seconds;
      log(`raw kafkajs ceiling: ${raw.records} records in ${raw.seconds.toFixed(1)} s: ${rawRate.toFixed(0)} records/s (idempotent, acks=all, ingest's codec, 1 in flight, 250 per request as ingest's ~1 MiB cap)`);
      log(`ratio ingest / raw: ${(ingestRate / rawRate).toFixed(2)}`);
    }
  } finally {
    await ingest?.stop();
    await deleteTopics(brokers, prefix).catch((err: Error) => log(`topic cleanup failed: ${err.message}`));
    rmSync(dir, { recursive: true, force: true });
    await stack?.stop();
  }
}

await main();
