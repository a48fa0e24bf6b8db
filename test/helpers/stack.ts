// The real stack the test runner provisioned (see test/run.ts): endpoints, per-test isolation
// (own topic prefix and ClickHouse database), and the control channel to stop/start Kafka and ClickHouse.
import { randomBytes } from 'node:crypto';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import type { Topics } from '@sitrep/shared/contracts/topics';
import { markerGroupId } from '@sitrep/aggregator/consumer';

export function stackEnv() {
  const kafkaBrokers = process.env.KAFKA_BROKERS;
  const clickhouseUrl = process.env.CLICKHOUSE_URL;
  if (!kafkaBrokers || !clickhouseUrl) throw new Error('KAFKA_BROKERS and CLICKHOUSE_URL must be set: run the suite with `npm test`');
  return { kafkaBrokers: kafkaBrokers.split(','), clickhouseUrl, control: process.env.SITREP_STACK_CONTROL };
}

/** A fresh namespace for one test: its own topics and its own database. */
export function isolation(name: string) {
  const suffix = randomBytes(4).toString('hex');
  const safe = name.replace(/[^a-z0-9]/gi, '_').toLowerCase();
  return { topicPrefix: `test.${safe}.${suffix}.`, database: `sitrep_test_${safe}_${suffix}`, groupId: `sitrep-aggregator-${safe}-${suffix}` };
}

/**
 * Records the aggregators have not committed yet, in both their groups (0: every record written and
 * every slice recomputed). The records' group first: its steps publish the markers counted after it.
 */
export async function aggregatorLag(admin: Admin, groupId: string, topics: Topics): Promise<number> {
  const records = await groupLag(admin, groupId, [topics.measureReports, topics.measures, topics.locations, topics.organizations]);
  return records + (await groupLag(admin, markerGroupId(groupId), [topics.rollupSlices]));
}

/** Records of these topics that a consumer group has not committed yet (0: it has caught up). */
async function groupLag(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  let lag = 0;
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
    for (const e of ends) lag += Number(e.high) - Math.max(0, Number(committed.find((c) => c.partition === e.partition)?.offset ?? 0));
  }
  return lag;
}

export function clickhouse(): ClickHouseClient {
  // Stale sockets are dropped before reuse: a bench building rows for seconds outlived the idle-socket
  // timer, and its next INSERT went to a socket ClickHouse had closed (EPIPE).
  return createClient({ url: stackEnv().clickhouseUrl, request_timeout: 60_000, keep_alive: { eagerly_destroy_stale_sockets: true } });
}

export async function query<T>(client: ClickHouseClient, sql: string): Promise<T[]> {
  const rs = await client.query({ query: sql, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** Refuses to drop anything that does not say it is a test database. */
export async function dropTestDatabase(client: ClickHouseClient, database: string): Promise<void> {
  if (!database.startsWith('sitrep_test_')) throw new Error(`refusing to drop ${database}: not a test database`);
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
}

async function control(path: string): Promise<void> {
  const base = stackEnv().control;
  if (!base) throw new Error('no stack control channel: this stack cannot be stopped by tests');
  const res = await fetch(`${base}${path}`, { method: 'POST' });
  if (!res.ok) throw new Error(`stack control ${path} failed: ${res.status} ${await res.text()}`);
}

export const stopClickHouse = () => control('/clickhouse/stop');
export const startClickHouse = () => control('/clickhouse/start');
export const stopKafka = () => control('/kafka/stop');
export const startKafka = () => control('/kafka/start');
