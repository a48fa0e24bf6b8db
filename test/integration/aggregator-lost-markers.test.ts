// Slice markers that retention deleted before the aggregator read them (its group was down or behind
// for longer than the topic keeps them): the slices they named were never recomputed. On its next
// start the aggregator sees its committed offsets lie before the oldest marker kept and recomputes
// every slice, so no rollup stays stale. Real Kafka (records deleted as retention would) and ClickHouse.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { topicNames, topicSpecs } from '@sitrep/shared/contracts/topics';
import { markerGroupId, partitionsBehindRetention } from '@sitrep/aggregator/consumer';
import { markValue, sliceKey } from '@sitrep/aggregator/rollups';
import { facilities, scenario, simMeasure, SIM_MEASURE_URL } from '../simulator/generate.js';
import { publishedRecord } from '../simulator/records.js';
import { clickhouse, dropTestDatabase, isolation, query, stackEnv } from '../helpers/stack.js';
import { serviceEnv, startAggregator, type RunningService } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const iso = isolation('lost_markers');
const topics = topicNames(iso.topicPrefix);
const ch = clickhouse();
const kafka = new kafkajs.Kafka({ brokers: stackEnv().kafkaBrokers, logLevel: kafkajs.logLevel.ERROR });
const running: RunningService[] = [];

after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await dropTestDatabase(ch, iso.database).catch(() => undefined);
  await ch.close();
});

const DAY = '2021-03-01';
/** The day's counts in the 'all' region and how many county rows it has. */
async function rollupsOfDay(): Promise<{ all: number; counties: number }> {
  const where = `measure = '${SIM_MEASURE_URL}' AND grain = 'day' AND period_start = '${DAY} 00:00:00' AND population_code = 'bedsPop0'`;
  const [all] = await query<{ n: string }>(ch, `SELECT subjects_reporting + subjects_missing AS n FROM ${iso.database}.rollups WHERE ${where} AND region_type = 'all'`).catch(() => []);
  const [counties] = await query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.rollups WHERE ${where} AND region_type = 'county'`).catch(() => []);
  return { all: Number(all?.n ?? 0), counties: Number(counties?.n ?? 0) };
}

test('markers deleted by retention before they were read: the next start recomputes every slice', { timeout: 180_000 }, async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: topicSpecs(topics), waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const measure = simMeasure(2);
  const fac = facilities(12, { states: 2, seed: 4 });
  const reports = scenario({ measure, subjects: fac.map((f) => f.key), days: 1, startDate: DAY, correctionShare: 0, duplicateShare: 0, seed: 5 }).map((s) => s.report);
  const at = new Date().toISOString();
  await producer.send({ topic: topics.measures, acks: -1, messages: [publishedRecord(measure, at)] });
  await producer.send({ topic: topics.locations, acks: -1, messages: fac.map((f) => publishedRecord(f.location, at)) });
  await producer.send({ topic: topics.measureReports, acks: -1, messages: reports.map((r) => publishedRecord(r, at)) });

  const first = await startAggregator(serviceEnv(iso));
  running.push(first);
  const before = await waitFor(rollupsOfDay, (r) => r.all === reports.length && r.counties > 0, { timeoutMs: 60_000, what: 'the day counted' });
  await first.stop();

  // Stale rollups, as if the slices' last recomputation had never run ...
  await ch.command({ query: `ALTER TABLE ${iso.database}.rollup_cells DELETE WHERE 1` });
  await waitFor(async () => (await query<{ n: string }>(ch, `SELECT count() AS n FROM ${iso.database}.rollup_cells`))[0]!.n, (n) => n === '0', { what: 'region cells deleted' });
  assert.deepEqual(await rollupsOfDay(), { all: 0, counties: 0 });
  // ... and the markers that asked for it published after the group's last commit, then deleted
  // by retention unread.
  const slice = sliceKey({ measure: SIM_MEASURE_URL, grain: 'day', periodStart: `${DAY} 00:00:00` });
  const partitions = (await admin.fetchTopicOffsets(topics.rollupSlices)).map((p) => p.partition);
  await producer.send({ topic: topics.rollupSlices, acks: -1, messages: partitions.map((partition) => ({ partition, key: slice, value: markValue(null) })) });
  await admin.deleteTopicRecords({ topic: topics.rollupSlices, partitions: partitions.map((partition) => ({ partition, offset: '-1' })) });
  assert.deepEqual((await partitionsBehindRetention(admin, markerGroupId(iso.groupId), topics.rollupSlices)).sort(), partitions.sort());
  await producer.disconnect();

  const second = await startAggregator(serviceEnv(iso));
  running.push(second);
  const after = await waitFor(rollupsOfDay, (r) => r.all === reports.length && r.counties === before.counties, { timeoutMs: 60_000, what: 'every slice recomputed' });
  assert.deepEqual(after, before);
  // Once read, nothing is behind retention any more: a later start does not recompute everything again.
  await waitFor(() => partitionsBehindRetention(admin, markerGroupId(iso.groupId), topics.rollupSlices), (p) => p.length === 0, { timeoutMs: 30_000, what: 'offsets committed past the deleted markers' });
  await admin.disconnect();
});
