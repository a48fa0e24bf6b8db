// Aggregator entry point: read config -> migrate ClickHouse -> consume -> serve health -> shut down cleanly.
import http from 'node:http';
import { z } from 'zod';
import { commonSchema, envInt, parseConfig } from '@sitrep/shared/config';
import { createLogger } from '@sitrep/shared/log';
import { createKafka, ensureTopics } from '@sitrep/shared/kafka';
import { useGzipCodec } from '@sitrep/shared/gzip-codec';
import { onShutdown, retryUntilDone } from '@sitrep/shared/lifecycle';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { createClickHouse, Writer } from './writer.js';
import { createConsumer } from './consumer.js';
import { createMetrics } from './metrics.js';
import { migrate, MIGRATION_TIMEOUT_MS } from './migrations.js';

const config = parseConfig(
  z.object({
    ...commonSchema,
    HEALTH_PORT: envInt(8081, 0, 65535),
    HOST: z.string().default('127.0.0.1'),
    AGGREGATOR_GROUP_ID: z.string().default('sitrep-aggregator'),
    // Kafka drops a member it has not heard from for this long (the broker allows 6 s to 5 min).
    AGGREGATOR_SESSION_TIMEOUT_MS: envInt(30_000, 6_000, 300_000),
  }),
);
const log = createLogger('aggregator', config.LOG_LEVEL);
const metrics = createMetrics();
const clickhouse = createClickHouse({ url: config.CLICKHOUSE_URL, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD, log });
const writer = new Writer(clickhouse, config.CLICKHOUSE_DATABASE, log, metrics);
useGzipCodec();
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-aggregator`, log });
const topics = topicNames(config.TOPIC_PREFIX);
const consumer = createConsumer({ kafka, groupId: config.AGGREGATOR_GROUP_ID, sessionTimeoutMs: config.AGGREGATOR_SESSION_TIMEOUT_MS, topics, writer, log, metrics });

const server = http.createServer((req, res) => {
  const send = (status: number, body: unknown, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  if (req.url === '/healthz') return send(200, { status: 'alive' });
  if (req.url === '/readyz') {
    const checks = { kafka: consumer.isRunning(), clickhouse: writer.isHealthy() };
    return send(checks.kafka && checks.clickhouse ? 200 : 503, { ready: checks.kafka && checks.clickhouse, checks });
  }
  if (req.url === '/metrics') {
    void metrics.registry.metrics().then((text) => send(200, text, metrics.registry.contentType));
    return;
  }
  send(404, { error: 'not found' });
});

// Readiness must notice a dead ClickHouse within seconds even when no batch is being written.
const probe = setInterval(() => void writer.ping(), 2000);

onShutdown(log, [
  { name: 'probe', close: async () => clearInterval(probe) },
  { name: 'consumer', close: () => consumer.stop() },
  { name: 'clickhouse', close: () => clickhouse.close() },
  { name: 'health', close: () => new Promise<void>((r) => server.close(() => r())) },
]);

server.listen(config.HEALTH_PORT, config.HOST, () => log.info({ port: config.HEALTH_PORT }, 'health_listening'));

const migrator = createClickHouse({ url: config.CLICKHOUSE_URL, username: config.CLICKHOUSE_USER, password: config.CLICKHOUSE_PASSWORD, requestTimeoutMs: MIGRATION_TIMEOUT_MS, log });
await retryUntilDone(log, 'migrate', () => migrate(migrator, config.CLICKHOUSE_DATABASE, log));
await migrator.close();
await retryUntilDone(log, 'topics', () => ensureTopics(kafka, topics));
await consumer.start();
log.info({ groupId: config.AGGREGATOR_GROUP_ID }, 'aggregator_started');
