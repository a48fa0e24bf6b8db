// One report, one identity, shown in Kafka itself: 50 concurrent duplicate creates and retried
// creates (also through a second ingest instance, and with the same period written in another time
// zone) leave one resource: one 201, the rest 200 with the same id, and every record on the topic
// with the same key and the same sitrep-id header.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { MeasureReport } from 'fhir/r4.js';
import kafkajs, { type Consumer } from 'kafkajs';
import { HEADERS } from '@sitrep/shared/contracts/records';
import { isolation, stackEnv } from '../helpers/stack.js';
import { serviceEnv, startIngest, type RunningService } from '../helpers/services.js';
import { freshReport } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const { Kafka, logLevel } = kafkajs;

const iso = isolation('ingest_identity');
const topic = `${iso.topicPrefix}sitrep.measure-reports.v1`;
let ingest: RunningService;
let consumer: Consumer;

interface Seen {
  key: string;
  id: string | undefined;
  partition: number;
  offset: string;
}
const records: Seen[] = [];

before(async () => {
  ingest = await startIngest(serviceEnv(iso)); // creates the topics
  const kafka = new Kafka({ clientId: 'test-identity-reader', brokers: stackEnv().kafkaBrokers, logLevel: logLevel.NOTHING });
  consumer = kafka.consumer({ groupId: `test-identity-reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      records.push({ key: message.key?.toString() ?? '', id: message.headers?.[HEADERS.id]?.toString(), partition, offset: message.offset });
    },
  });
});

after(async () => {
  await consumer?.disconnect();
  await ingest?.stop();
});


async function create(baseUrl: string, report: unknown): Promise<{ status: number; id: string; version: string }> {
  const res = await fetch(`${baseUrl}/MeasureReport`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(report),
  });
  await res.arrayBuffer();
  const m = (res.headers.get('location') ?? '').match(/\/MeasureReport\/([^/]+)\/_history\/(\d+)$/);
  assert.ok(m, `${res.status} without a Location`);
  return { status: res.status, id: m[1]!, version: m[2]! };
}

/** The records of one id once `count` of them are on the topic; fails if more arrive than expected. */
async function recordsOf(id: string, count: number): Promise<Seen[]> {
  const mine = await waitFor(async () => records.filter((r) => r.id === id), (rs) => rs.length >= count, { timeoutMs: 30_000, what: `${count} records of ${id}` });
  assert.equal(mine.length, count, `exactly ${count} records of ${id}`);
  return mine;
}

test('50 concurrent duplicate creates: one 201, 49 x 200, one id, 50 records with one key and one sitrep-id', async () => {
  const report = freshReport();
  const answers = await Promise.all(Array.from({ length: 50 }, () => create(ingest.url, report)));

  assert.equal(answers.filter((a) => a.status === 201).length, 1, JSON.stringify(answers.map((a) => a.status)));
  assert.equal(answers.filter((a) => a.status === 200).length, 49);
  const ids = new Set(answers.map((a) => a.id));
  assert.equal(ids.size, 1, `one id: ${[...ids].join(', ')}`);
  const [id] = ids as unknown as [string];
  // Publishes of one id are serialized: 50 distinct versions, the create the oldest.
  const versions = answers.map((a) => BigInt(a.version)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.equal(new Set(versions).size, 50);
  assert.equal(BigInt(answers.find((a) => a.status === 201)!.version), versions[0]);

  const mine = await recordsOf(id, 50);
  assert.equal(new Set(mine.map((r) => r.key)).size, 1, 'one record key');
  assert.equal(new Set(mine.map((r) => r.partition)).size, 1, 'one partition');
  assert.deepEqual(mine.map((r) => BigInt(r.offset)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), versions, 'version = Kafka offset');
  // Nothing else under that key.
  assert.deepEqual(records.filter((r) => r.key === mine[0]!.key).map((r) => r.id), mine.map(() => id));
});

test('retried creates, through a second instance and with the period in another time zone, keep one identity', async (t) => {
  const report = freshReport();
  const first = await create(ingest.url, report);
  assert.equal(first.status, 201);
  const retries = [
    report,
    report,
    { ...report, id: 'client-sent-id' }, // a create ignores the client's id
    { ...report, measure: `${report.measure}|0.1.0` }, // a versioned canonical is the same measure
    // The same instants written with another offset: 2020-04-04T00:00:00-05:00 is 05:00Z.
    { ...report, period: { start: '2020-04-04T05:00:00Z', end: '2020-04-04T05:00:00+00:00' } },
  ];
  for (const r of retries) {
    const again = await create(ingest.url, r);
    assert.equal(again.status, 200);
    assert.equal(again.id, first.id);
  }

  // Another instance (another pod behind the load balancer, or this one restarted) knows it too.
  const second = await startIngest(serviceEnv(iso));
  t.after(() => second.stop());
  const elsewhere = await create(second.url, report);
  assert.equal(elsewhere.status, 200);
  assert.equal(elsewhere.id, first.id);

  const mine = await recordsOf(first.id, 1 + retries.length + 1);
  assert.equal(new Set(mine.map((r) => r.key)).size, 1, 'one record key');
  assert.equal(records.filter((r) => r.key === mine[0]!.key).length, mine.length, 'no record of that key under another id');
});

test('a PUT under a client id and then creates of the same report stay on the client id', async () => {
  const report = freshReport();
  const id = `client-${randomUUID().slice(0, 8)}`;
  const res = await fetch(`${ingest.url}/MeasureReport/${id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify({ ...report, id }) });
  assert.equal(res.status, 201);
  const answers = await Promise.all(Array.from({ length: 10 }, () => create(ingest.url, report)));
  assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.id}`)), new Set([`200 ${id}`]));
  const mine = await recordsOf(id, 11);
  assert.equal(new Set(mine.map((r) => r.key)).size, 1);
});

test('a PUT under a client id and a create of the same report at the same time: as if one came after the other, never two resources', async () => {
  const put = (report: MeasureReport, id: string) =>
    fetch(`${ingest.url}/MeasureReport/${id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify({ ...report, id }) }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });
  const post = (report: MeasureReport) =>
    fetch(`${ingest.url}/MeasureReport`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(report) }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });
  for (let i = 0; i < 5; i++) {
    const report = freshReport();
    const [a, b] = [`client-${randomUUID().slice(0, 8)}`, `client-${randomUUID().slice(0, 8)}`];
    // Before the fix, each of these pairs could give two 201s: one report under two ids. Now as in
    // sequence: the PUT first, then the create updates its id (200); or the create first, then the
    // PUT to another id is a 409.
    const withCreate = await Promise.all([put(report, a), post(report)]);
    assert.ok(['200,201', '201,409'].includes(withCreate.sort().join()), `PUT ${a} and POST of the same report: ${withCreate.join(', ')}`);
    const other = freshReport();
    const twoIds = await Promise.all([put(other, a.replace('client', 'other')), put(other, b)]);
    assert.deepEqual(twoIds.sort(), [201, 409], `PUTs of one report to two ids: ${twoIds.join(', ')}`);
  }
});
