// The aggregator's two kinds of failure for bad input: a poison record goes to the dead-letter topic
// with headers that say why and where, and the consumer moves on to the next record. Also: the
// metrics endpoint reports lag per partition, batch sizes and write latency.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { topicNames, topicSpecs } from '@sitrep/shared/contracts/topics';
import { DLQ_HEADERS } from '@sitrep/shared/contracts/records';
import { clickhouse, dropTestDatabase, isolation, query, stackEnv } from '../helpers/stack.js';
import { serviceEnv, startAggregator, startIngest, type RunningService } from '../helpers/services.js';
import { fixture } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

const iso = isolation('dlq');
const topics = topicNames(iso.topicPrefix);
const ch = clickhouse();
const running: RunningService[] = [];
const kafka = new kafkajs.Kafka({ brokers: stackEnv().kafkaBrokers, logLevel: kafkajs.logLevel.ERROR });

after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
});

test('a poison record is dead-lettered with its reason and the next record is still processed', { timeout: 60_000 }, async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: topicSpecs(topics), waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: topics.measureReports, acks: -1, messages: [{ key: 'poison', value: 'this is not a record' }] });
  await producer.disconnect();

  const aggregator = await startAggregator(serviceEnv(iso));
  const ingest = await startIngest(serviceEnv(iso));
  running.push(aggregator, ingest);
  const res = await fetch(`${ingest.url}/MeasureReport`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify(fixture('saner/measure-reports/ExampleNJ-20200404-CDCPatientImpactAndHospitalCapacity.json')),
  });
  assert.equal(res.status, 201);
  await waitFor(
    () => query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports_latest`),
    (rows) => rows[0]?.n === '1',
    { timeoutMs: 20_000, what: 'the valid report after the poison one' },
  );

  const consumer = kafka.consumer({ groupId: `${iso.groupId}-dlq-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic: topics.measureReportsDlq, fromBeginning: true });
  const seen: { key: string; value: string; headers: Record<string, string> }[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      seen.push({ key: String(message.key), value: String(message.value), headers });
    },
  });
  await waitFor(async () => seen.length, (n) => n >= 1, { timeoutMs: 20_000, what: 'the dead-lettered record' });
  await consumer.disconnect();
  assert.equal(seen.length, 1);
  const [dead] = seen;
  assert.equal(dead!.key, 'poison');
  assert.equal(dead!.value, 'this is not a record', 'the original bytes are kept');
  assert.equal(dead!.headers[DLQ_HEADERS.step], 'decode');
  assert.match(dead!.headers[DLQ_HEADERS.reason]!, /not JSON/);
  assert.equal(dead!.headers[DLQ_HEADERS.topic], topics.measureReports);
  assert.equal(dead!.headers[DLQ_HEADERS.offset], '0');
  assert.ok(!Number.isNaN(Date.parse(dead!.headers[DLQ_HEADERS.timestamp]!)));

  const metrics = await (await fetch(`${aggregator.url}/metrics`)).text();
  assert.match(metrics, /aggregator_dead_lettered_total\{step="decode"\} 1/);
  assert.match(metrics, new RegExp(`aggregator_consumer_lag_messages\\{topic="${topics.measureReports.replace(/\./g, '\\.')}",partition="\\d"\\} 0`));
  assert.match(metrics, /aggregator_write_duration_ms_count\{table="reports"\} [1-9]/);
  assert.match(metrics, /aggregator_batch_size_messages_count [1-9]/);
});
