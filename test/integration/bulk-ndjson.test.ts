// NDJSON bulk push (POST /MeasureReport/$import, docs/bulk.md) against the real stack: per-line
// results for a file with every kind of bad line, gzip, the body limit, a client that disconnects
// half way, and Kafka stopped mid-stream followed by a re-send that does not double count.
// What reached Kafka is read back with a kafkajs consumer on the test's own topics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';
import type { MeasureReport, OperationOutcome, Parameters } from 'fhir/r4.js';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { LineSplitter } from '@sitrep/ingest/routes/bulk';
import { FIXTURES } from '../helpers/fixtures.js';
import { clickhouse, dropTestDatabase, isolation, query, stackEnv, startKafka, stopKafka } from '../helpers/stack.js';
import { serviceEnv, startAggregator, startIngest, type RunningService } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { facilities, scenario, simMeasure, SIM_MEASURE_URL } from '../simulator/generate.js';
import { putResource } from '../simulator/post.js';

const { Kafka, logLevel } = kafkajs;
const NDJSON = 'application/fhir+ndjson';
const ISSUE_LINE = 'http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line';

// ---------------------------------------------------------------------------------------------
// Helpers: the import call, reading its answer, reading the topic back.

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Parameters;
}

/**
 * POSTs an NDJSON body with node:http, chunk by chunk with backpressure (fetch cannot show an
 * answer that arrives while the body is still being sent). `between` runs before each chunk.
 */
function post(url: string, chunks: Iterable<Buffer | string>, headers: Record<string, string> = {}, between?: (i: number) => Promise<void>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/MeasureReport/$import`, { method: 'POST', headers: { 'content-type': NDJSON, ...headers } });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Parameters });
        } catch (err) {
          reject(new Error(`status ${res.statusCode}, body not JSON: ${text.slice(0, 500)} (${(err as Error).message})`));
        }
      });
    });
    // After an early answer the server closes the connection: writes then fail, which is expected.
    // The write error can arrive before the answer that is already on its way: give it a moment.
    req.on('error', (err) => {
      if (!answered) setTimeout(() => answered || reject(err), 3000);
    });
    void (async () => {
      let i = 0;
      for (const chunk of chunks) {
        if (answered) break;
        await between?.(i++);
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(reject);
  });
}

const param = (p: Parameters, name: string) => p.parameter?.find((x) => x.name === name);
const count = (p: Parameters, name: string) => param(p, name)?.valueInteger;

function counts(p: Parameters) {
  return Object.fromEntries(['lines', 'accepted', 'created', 'updated', 'rejected', 'blank'].map((n) => [n, count(p, n)]));
}

interface LineResult {
  line: number;
  status: number;
  outcome: OperationOutcome;
}

function rejections(p: Parameters): LineResult[] {
  return (p.parameter ?? [])
    .filter((x) => x.name === 'rejection')
    .map((x) => {
      const part = (n: string) => x.part?.find((y) => y.name === n);
      return { line: part('line')!.valueInteger!, status: part('status')!.valueInteger!, outcome: part('outcome')!.resource as OperationOutcome };
    });
}

function summary(p: Parameters): OperationOutcome {
  return param(p, 'outcome')!.resource as OperationOutcome;
}

interface Received {
  partition: number;
  offset: number;
  key: string;
  id: string;
  resource: Record<string, unknown>;
}

const kafka = () => new Kafka({ brokers: stackEnv().kafkaBrokers, clientId: 'bulk-ndjson-test', logLevel: logLevel.NOTHING });

async function highWatermark(topic: string): Promise<number> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Every record of the topic, up to its end offsets at the time of the call, decoded (a corrupt record fails here). */
async function readTopic(topic: string): Promise<Received[]> {
  const client = kafka();
  const admin = client.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  await admin.disconnect();
  const missing = new Set([...ends].filter(([, high]) => high > 0).map(([p]) => p));
  const out: Received[] = [];
  if (missing.size === 0) return out;
  const consumer = client.consumer({ groupId: `bulk-ndjson-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const offset = Number(message.offset);
        if (offset >= ends.get(partition)!) return;
        const record = JSON.parse(message.value!.toString()) as { id: string; resource: Record<string, unknown> };
        out.push({ partition, offset, key: message.key!.toString(), id: record.id, resource: record.resource });
        if (offset + 1 >= ends.get(partition)!) missing.delete(partition);
        if (missing.size === 0) done();
      },
    });
    await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`reading ${topic} timed out`)), 60_000).unref())]);
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}

/** Reports of `days` days for `subjects`, one per (subject, day): every line has its own business key. */
function reports(subjects: string[], days: number, startDate: string, populationsPerGroup = 2): MeasureReport[] {
  return scenario({ measure: simMeasure(populationsPerGroup), subjects, days, startDate, correctionShare: 0, duplicateShare: 0, absentShare: 0, seed: 3 }).map((s) => s.report);
}

const lineOf = (reports: MeasureReport[]) => {
  const byKey = new Map(reports.map((r, i) => [`${r.subject!.identifier!.value}|${r.period!.start}`, i + 1]));
  return (resource: Record<string, unknown>) => {
    const r = resource as unknown as MeasureReport;
    return byKey.get(`${r.subject!.identifier!.value}|${r.period!.start}`);
  };
};

// ---------------------------------------------------------------------------------------------

test('LineSplitter: numbering, CRLF, BOM and an overlong line, whatever the chunk boundaries', () => {
  const text = '\uFEFF{"a":1}\r\n\r\n{"b":2}\n' + 'x'.repeat(40) + '\r\n{"c":3}\r\n{"d":4}';
  const bytes = Buffer.from(text);
  for (let size = 1; size <= bytes.length; size++) {
    const s = new LineSplitter(16);
    const got: [number, string | undefined][] = [];
    for (let i = 0; i < bytes.length; i += size) for (const l of s.push(bytes.subarray(i, i + size))) got.push([l.line, l.bytes?.toString()]);
    for (const l of s.end()) got.push([l.line, l.bytes?.toString()]);
    assert.deepEqual(got, [[1, '{"a":1}'], [2, ''], [3, '{"b":2}'], [4, undefined], [5, '{"c":3}'], [6, '{"d":4}']], `chunk size ${size}`);
  }
  // Exactly the limit is allowed, with or without \r; one byte more is not.
  const s = new LineSplitter(4);
  assert.deepEqual(s.push(Buffer.from('abcd\r\nabcd\nabcde\n')).map((l) => l.bytes?.toString()), ['abcd', 'abcd', undefined]);
});

describe('POST /MeasureReport/$import', () => {
  const iso = isolation('bulk_ndjson');
  const topic = topicNames(iso.topicPrefix).measureReports;
  const MAX_BODY = 16 * 1024 * 1024;
  let ingest: RunningService;

  before(async () => {
    ingest = await startIngest({ ...serviceEnv(iso), NDJSON_MAX_LINE_BYTES: String(64 * 1024), NDJSON_MAX_BODY_BYTES: String(MAX_BODY) });
  });
  after(async () => {
    await ingest?.stop();
  });

  const fixture = readFileSync(path.join(FIXTURES, 'ndjson/mixed-crlf-bom.ndjson'));
  // The fixture's lines as written (BOM and \r removed), by line number.
  const fixtureLines = fixture.toString('utf8').replace(/^\uFEFF/, '').split('\r\n');
  const goodLines = [1, 2, 8, 9, 12];

  test('a file with good, malformed, invalid, oversize and blank lines (CRLF, BOM): exactly the right per-line results', async () => {
    const res = await post(ingest.url, [fixture]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers['content-type'], 'application/fhir+json; charset=utf-8');
    assert.equal(res.body.resourceType, 'Parameters');
    assert.deepEqual(counts(res.body), { lines: 12, accepted: 5, created: 4, updated: 1, rejected: 5, blank: 2 });
    const rejected = rejections(res.body);
    assert.deepEqual(
      rejected.map((r) => [r.line, r.status, r.outcome.issue.map((i) => i.code)]),
      [
        [4, 400, ['structure']], // malformed JSON
        [5, 422, ['invariant', 'required']], // no subject.identifier
        [7, 413, ['too-costly']], // 74 kB line over the 64 KiB limit
        [10, 400, ['structure']], // [] is not a resource
        [11, 400, ['invalid']], // an Observation
      ],
    );
    // Each issue keeps the FHIRPath of the problem and carries its line.
    const line5 = rejected.find((r) => r.line === 5)!.outcome.issue;
    assert.deepEqual(line5.map((i) => i.expression), [['MeasureReport.subject'], ['MeasureReport.subject.identifier']]);
    for (const r of rejected) {
      for (const i of r.outcome.issue) assert.deepEqual(i.extension, [{ url: ISSUE_LINE, valueInteger: r.line }]);
    }
    assert.deepEqual(rejected.find((r) => r.line === 4)!.outcome.issue[0]!.expression, ['line 4']);
    assert.deepEqual(summary(res.body).issue.map((i) => [i.severity, i.code]), [['information', 'informational']]);

    // Exactly the good lines arrived, as sent; two versions of one report (lines 1 and 9) in file order.
    const canonical = fixtureLines.map((l) => {
      try {
        return JSON.stringify(JSON.parse(l));
      } catch {
        return undefined;
      }
    });
    const records = await readTopic(topic);
    const byLine = records.map((r) => ({ ...r, line: canonical.indexOf(JSON.stringify(r.resource)) + 1 }));
    assert.deepEqual(byLine.map((r) => r.line).sort((a, b) => a - b), goodLines);
    const v1 = byLine.find((r) => r.line === 1)!;
    const v2 = byLine.find((r) => r.line === 9)!;
    assert.equal(v1.id, v2.id);
    assert.equal(v1.key, v2.key);
    assert.equal(v1.partition, v2.partition);
    assert.ok(v1.offset < v2.offset, `line 1 (offset ${v1.offset}) before line 9 (offset ${v2.offset})`);
  });

  test('the same file gzip-encoded: the same per-line results, and re-sending creates nothing new', async () => {
    const before = await highWatermark(topic);
    const res = await post(ingest.url, [gzipSync(fixture)], { 'content-encoding': 'gzip' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(counts(res.body), { lines: 12, accepted: 5, created: 0, updated: 5, rejected: 5, blank: 2 });
    assert.deepEqual(rejections(res.body).map((r) => [r.line, r.status]), [[4, 400], [5, 422], [7, 413], [10, 400], [11, 400]]);
    assert.equal(await highWatermark(topic), before + 5);
    // application/x-ndjson and application/ndjson are accepted too; JSON is not.
    const alt = await post(ingest.url, [fixtureLines[1]!], { 'content-type': 'application/x-ndjson' });
    assert.deepEqual(counts(alt.body), { lines: 1, accepted: 1, created: 0, updated: 1, rejected: 0, blank: 0 });
    const wrong = await fetch(`${ingest.url}/MeasureReport/$import`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: fixtureLines[1]! });
    assert.equal(wrong.status, 415);
    assert.equal(((await wrong.json()) as OperationOutcome).issue[0]!.code, 'not-supported');
    const get = await fetch(`${ingest.url}/MeasureReport/$import`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
  });

  test('a 5 MiB line is rejected alone, the lines around it are accepted', async () => {
    const [a, b] = reports(['urn:test|long-1', 'urn:test|long-2'], 1, '2021-01-01').map((r) => JSON.stringify(r));
    const huge = Buffer.alloc(5 * 1024 * 1024, 'x');
    const res = await post(ingest.url, [`${a}\n`, huge.subarray(0, 1024 * 1024), huge.subarray(1024 * 1024), `\n${b}\n`]);
    assert.equal(res.status, 200);
    assert.deepEqual(counts(res.body), { lines: 3, accepted: 2, created: 2, updated: 0, rejected: 1, blank: 0 });
    assert.deepEqual(rejections(res.body).map((r) => [r.line, r.status]), [[2, 413]]);
  });

  test('more than 1000 rejected lines: the first 1000 by line are listed, though they settle out of order', async () => {
    // Line 1 is refused after an await (not a MeasureReport); the malformed lines after it at once.
    const lines = [JSON.stringify({ resourceType: 'Observation' }), ...Array.from({ length: 1500 }, () => 'nope')];
    const res = await post(ingest.url, [`${lines.join('\n')}\n`]);
    assert.equal(res.status, 200);
    assert.deepEqual(counts(res.body), { lines: 1501, accepted: 0, created: 0, updated: 0, rejected: 1501, blank: 0 });
    const listed = rejections(res.body).map((r) => r.line);
    assert.deepEqual(listed, Array.from({ length: 1000 }, (_, i) => i + 1));
    assert.equal(rejections(res.body)[0]!.status, 400);
  });

  test('a gzip bomb: a body expanding more than 500 times stops with 413 after what it held was processed', async () => {
    // A report, then 12 MiB of blank lines (under the 16 MiB body limit here): ~12 kB of gzip.
    const [r] = reports(['urn:test|bomb-1'], 1, '2021-06-01').map((x) => `${JSON.stringify(x)}\n`);
    const bomb = gzipSync(Buffer.concat([Buffer.from(r!), Buffer.alloc(12 * 1024 * 1024, '\n')]));
    assert.ok(bomb.length < 100_000);
    const res = await post(ingest.url, [bomb], { 'content-encoding': 'gzip' });
    assert.equal(res.status, 413, JSON.stringify(summary(res.body)));
    assert.equal(count(res.body, 'accepted'), 1);
    assert.ok((count(res.body, 'blank') ?? Infinity) < 12 * 1024 * 1024, 'stopped before the end');
    assert.match(summary(res.body).issue.find((i) => i.code === 'too-costly')!.diagnostics!, /expands more than 500 times/);
  });

  test('a body over NDJSON_MAX_BODY_BYTES: 413 that still lists what was accepted', async () => {
    const lines = reports(facilities(1000).map((f) => f.key), 7, '2021-02-01', 10).map((r) => `${JSON.stringify(r)}\n`);
    const body = Buffer.from(lines.join(''));
    assert.ok(body.length > MAX_BODY * 1.5);
    // The lines whose newline lies within the first MAX_BODY bytes are processed, no more.
    let expected = 0;
    for (let i = body.indexOf(10); i !== -1 && i < MAX_BODY; i = body.indexOf(10, i + 1)) expected++;
    const before = await highWatermark(topic);
    const chunks = Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
    const res = await post(ingest.url, chunks); // chunked: no Content-Length to refuse up front
    assert.equal(res.status, 413, JSON.stringify(summary(res.body)));
    assert.equal(res.headers.connection, 'close');
    assert.deepEqual(counts(res.body), { lines: expected, accepted: expected, created: expected, updated: 0, rejected: 0, blank: 0 });
    assert.deepEqual(summary(res.body).issue.map((i) => i.code), ['informational', 'too-costly']);
    assert.equal(await highWatermark(topic), before + expected);

    // With a Content-Length over the limit nothing is read at all.
    const refused = await post(ingest.url, chunks, { 'content-length': String(body.length) });
    assert.equal(refused.status, 413);
    assert.match((refused.body as unknown as OperationOutcome).issue[0]!.diagnostics!, /nothing was read/);
    assert.equal(await highWatermark(topic), before + expected);
  });

  test('a client that disconnects half way: every line accepted is in Kafka, whole, as a prefix of the file', async () => {
    // Enough lines that ingest cannot read them all before the watcher sees the first 100 in
    // Kafka (5,000 lines of ~1 kB were sometimes all read within 400 ms), and few enough that
    // the whole file, re-sent at the end, stays under MAX_BODY.
    const sent = reports(facilities(2000).map((f) => f.key), 5, '2021-03-01');
    assert.ok(sent.reduce((n, r) => n + JSON.stringify(r).length + 1, 0) < MAX_BODY);
    const bytes = sent.map((r) => Buffer.from(`${JSON.stringify(r)}\n`));
    const before = await highWatermark(topic);
    const req = http.request(`${ingest.url}/MeasureReport/$import`, { method: 'POST', headers: { 'content-type': NDJSON } });
    req.on('error', () => undefined);
    // Keep sending (as fast as the server reads) until it is visibly accepting, then vanish mid-line
    // while lines are in flight.
    let accepting = false;
    const watcher = waitFor(() => highWatermark(topic), (n) => n >= before + 100, { timeoutMs: 30_000, what: 'first lines in Kafka' }).then(() => (accepting = true));
    let written = 0;
    while (!accepting && written < bytes.length - 1) {
      if (!req.write(bytes[written++]!)) await Promise.race([new Promise((r) => req.once('drain', r)), watcher]);
    }
    await watcher;
    assert.ok(written < bytes.length - 1, 'the client disconnects before the end of the file');
    req.write(bytes[written]!.subarray(0, 100));
    req.destroy();

    const log = await waitFor(
      async () => ingest.output().split('\n').find((l) => l.includes('"bulk_import_aborted"')),
      (l) => l !== undefined,
      { timeoutMs: 30_000, what: 'bulk_import_aborted in the ingest log' },
    );
    const told = JSON.parse(log!) as { accepted: number; rejected: number; lines: number };
    assert.equal(told.rejected, 0);
    assert.ok(told.accepted >= 100 && told.accepted <= written, `accepted ${told.accepted} of ${written} complete lines sent`);

    const line = lineOf(sent);
    const mine = (await readTopic(topic)).filter((r) => (r.resource.period as { start: string }).start.startsWith('2021-03-0'));
    const lines = mine.map((r) => line(r.resource)!).sort((a, b) => a - b);
    assert.deepEqual(lines, Array.from({ length: told.accepted }, (_, i) => i + 1), 'exactly lines 1..accepted, each once');
    for (const r of mine) assert.deepEqual(r.resource, JSON.parse(JSON.stringify(sent[line(r.resource)! - 1])));
    console.log(`disconnect: ${written} lines written, ${told.accepted} accepted and in Kafka`);

    // Ingest is still healthy and takes the whole file.
    assert.equal((await fetch(`${ingest.url}/readyz`)).status, 200);
    const rest = await post(ingest.url, [Buffer.concat(bytes)]);
    assert.deepEqual(counts(rest.body), { lines: sent.length, accepted: sent.length, created: sent.length - told.accepted, updated: told.accepted, rejected: 0, blank: 0 });
  });
});

describe('Kafka stopped mid-stream', () => {
  const iso = isolation('bulk_ndjson_kafka');
  const topic = topicNames(iso.topicPrefix).measureReports;
  const ch = clickhouse();
  let ingest: RunningService;
  let aggregator: RunningService;
  const canStop = Boolean(stackEnv().control);

  before(async () => {
    if (!canStop) return;
    ingest = await startIngest({ ...serviceEnv(iso), PUBLISH_TIMEOUT_MS: '3000' });
    aggregator = await startAggregator(serviceEnv(iso));
  });
  after(async () => {
    if (!canStop) return;
    await startKafka().catch(() => undefined);
    await Promise.all([ingest?.stop(), aggregator?.stop()]);
    await dropTestDatabase(ch, iso.database).catch(() => undefined);
    await ch.close();
  });

  test('a clear 503 for the rest, and a re-send after recovery counts every report once', { timeout: 240_000, skip: canStop ? false : 'needs the stack control channel (run through test/run.ts)' }, async () => {
    const measure = simMeasure(2);
    const fac = facilities(50, { states: 3 });
    assert.equal(await putResource(ingest.url, measure as never), 201);
    for (const f of fac) assert.equal(await putResource(ingest.url, f.location as never), 201);
    const sent = reports(fac.map((f) => f.key), 8, '2021-04-01');
    const lines = sent.map((r) => `${JSON.stringify(r)}\n`);
    const first = 200;

    const res = await post(ingest.url, [lines.slice(0, first).join(''), lines.slice(first).join('')], {}, async (i) => {
      if (i !== 1) return;
      // The first 200 lines are durable (and acknowledged to ingest); then Kafka goes away.
      await waitFor(() => highWatermark(topic), (n) => n === first, { timeoutMs: 30_000, what: `${first} records in Kafka` });
      await new Promise((r) => setTimeout(r, 500));
      await stopKafka();
    });
    assert.equal(res.status, 503, JSON.stringify(summary(res.body)));
    assert.equal(res.headers['retry-after'], '5');
    const c = counts(res.body);
    assert.equal(c.accepted, first);
    const failed = rejections(res.body);
    assert.ok(failed.length >= 1 && failed.every((r) => r.status === 503 && r.line > first && r.outcome.issue[0]!.code === 'transient'), JSON.stringify(failed.slice(0, 3)));
    console.log(`Kafka stopped: answer ${res.status} with ${c.accepted} accepted, ${failed.length} lines failed with 503, reading stopped after line ${c.lines} of ${sent.length}`);
    const why = summary(res.body).issue.find((i) => i.severity === 'error')!;
    assert.equal(why.code, 'transient');
    assert.match(why.diagnostics!, /Kafka is unavailable/);

    await startKafka();
    // The whole file again, once ingest publishes again: identity makes the first 200 updates.
    const again = await waitFor(
      () => post(ingest.url, [lines.join('')]),
      (r) => r.status === 200,
      { timeoutMs: 90_000, intervalMs: 2000, what: 're-send accepted after Kafka is back' },
    );
    const c2 = counts(again.body);
    assert.deepEqual([c2.lines, c2.accepted, c2.rejected], [sent.length, sent.length, 0]);
    assert.ok(c2.updated! >= first, `the ${first} reports accepted before are updates (${c2.updated} updated)`);

    // 600 records in Kafka for 400 reports; the rollups count each report once.
    const day = '2021-04-01';
    const expected = sent
      .filter((r) => r.period!.start!.startsWith(day))
      .reduce((sum, r) => sum + (r.group!.find((g) => g.code!.coding![0]!.code === 'Admissions')!.population![0]!.count ?? 0), 0);
    await waitFor(
      () => query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports_latest`),
      (rows) => rows[0]?.n === String(sent.length),
      { timeoutMs: 60_000, intervalMs: 500, what: `${sent.length} rows in reports_latest` },
    );
    const rollup = await waitFor(
      () => query<{ value: number; subjects_reporting: string }>(ch, `SELECT value, subjects_reporting FROM ${iso.database}.rollups
        WHERE measure = '${SIM_MEASURE_URL}' AND population_code = 'admissionsPop0' AND region_type = 'all' AND grain = 'day' AND period_start = '${day} 00:00:00'`),
      (rows) => rows.length === 1 && rows[0]!.subjects_reporting === String(fac.length),
      { timeoutMs: 60_000, intervalMs: 500, what: 'the day rollup of all facilities' },
    );
    assert.deepEqual(rollup, [{ value: expected, subjects_reporting: String(fac.length) }]);
    assert.ok((await highWatermark(topic)) >= sent.length + first);
  });
});
