// A backlog larger than the aggregator can write within one Kafka session timeout (after downtime,
// or a single busy partition) must still drain: the aggregator bounds the records it handles per
// step and heartbeats while a step runs, so the group never drops it. Before that, one fetch of a
// big backlog took longer than the session timeout, the coordinator dropped the member, the batch
// was redone from the start and timed out again: the aggregator never got past it. Each step is
// committed on its own, so a crash part way redoes one step.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { topicNames, topicSpecs } from '@sitrep/shared/contracts/topics';
import { facilities, scenario, simMeasure } from '../simulator/generate.js';
import { publishedRecord } from '../simulator/records.js';
import { clickhouse, dropTestDatabase, aggregatorLag, isolation, query, stackEnv } from '../helpers/stack.js';
import { serviceEnv, startAggregator, type RunningService } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const iso = isolation('long_batch');
const topics = topicNames(iso.topicPrefix);
const ch = clickhouse();
const running: RunningService[] = [];
const kafka = new kafkajs.Kafka({ brokers: stackEnv().kafkaBrokers, logLevel: kafkajs.logLevel.ERROR });
/** The broker's smallest session timeout (group.min.session.timeout.ms): a batch of this backlog takes longer. */
const SESSION_TIMEOUT_MS = 6000;
const REPORTS = 15_000;

after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
});

test('a backlog that takes longer than the session timeout to write drains without the group dropping the aggregator', { timeout: 240_000 }, async () => {
  const admin = kafka.admin();
  await admin.connect();
  // One partition: the whole backlog comes in the first fetches.
  const specs = topicSpecs(topics).map((s) => (s.topic === topics.measureReports || s.topic === topics.rollupSlices ? { ...s, numPartitions: 1 } : s));
  await admin.createTopics({ topics: specs, waitForLeaders: true });
  const measure = simMeasure(10);
  const fac = facilities(500, { states: 3, seed: 5 });
  const reports = scenario({ measure, subjects: fac.map((f) => f.key), days: Math.ceil(REPORTS / 500), startDate: '2021-03-01', correctionShare: 0, duplicateShare: 0, seed: 6 })
    .slice(0, REPORTS)
    .map((s) => s.report);
  assert.equal(reports.length, REPORTS);
  const receivedAt = new Date().toISOString();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({ topic: topics.measures, acks: -1, messages: [publishedRecord(measure, receivedAt)] });
  await producer.send({ topic: topics.locations, acks: -1, messages: fac.map((f) => publishedRecord(f.location, receivedAt)) });
  for (let i = 0; i < reports.length; i += 2000) {
    const messages = reports.slice(i, i + 2000).map((r) => publishedRecord(r, receivedAt));
    await producer.send({ topic: topics.measureReports, acks: -1, compression: kafkajs.CompressionTypes.GZIP, messages });
  }
  await producer.disconnect();

  const aggregator = await startAggregator({ ...serviceEnv(iso), AGGREGATOR_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS) }, { waitReady: false });
  running.push(aggregator);
  const lag = () => aggregatorLag(admin, iso.groupId, topics);
  // The committed offset of the reports' partition, as it moves: each step is committed on its own.
  const committed = new Set<number>();
  const watch = setInterval(() => {
    admin.fetchOffsets({ groupId: iso.groupId, topics: [topics.measureReports] }).then(
      ([t]) => committed.add(Number(t?.partitions[0]?.offset ?? -1)),
      () => undefined,
    );
  }, 200);
  await waitFor(lag, (n) => n === 0, { timeoutMs: 180_000, intervalMs: 1000, what: 'the backlog drained and every slice recomputed' }).finally(() => clearInterval(watch));
  await admin.disconnect();

  // A crash mid-backlog redoes one step, not the whole fetch: the commits came a step at a time.
  const midway = [...committed].filter((o) => o > 0 && o < REPORTS).sort((x, y) => x - y);
  assert.ok(midway.length >= 3, `committed offsets seen between 0 and ${REPORTS}: ${midway.join(', ')}`);

  assert.doesNotMatch(aggregator.output(), /not aware of this member|consumer_crashed/, 'the group never dropped the aggregator');
  const [stored] = await query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.reports_latest`);
  assert.equal(Number(stored!.n), REPORTS);
  // Every report counted once in the nation-wide rollup of its day (one report per facility and day).
  const perDay = await query<{ n: string }>(
    ch,
    `SELECT subjects_reporting + subjects_missing AS n FROM ${iso.database}.rollups
     WHERE region_type = 'all' AND grain = 'day' AND population_code = 'bedsPop0' SETTINGS enable_optimize_predicate_expression = 1`,
  );
  assert.equal(perDay.reduce((s, r) => s + Number(r.n), 0), REPORTS);
});
