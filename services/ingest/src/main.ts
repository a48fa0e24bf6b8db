// Ingest entry point: read config -> connect Kafka -> catch up the catalog -> listen -> shut down cleanly.
import { z } from 'zod';
import { commonSchema, envInt, parseConfig } from '@sitrep/shared/config';
import { createLogger } from '@sitrep/shared/log';
import { createKafka, ensureTopics } from '@sitrep/shared/kafka';
import { onShutdown, retryUntilDone } from '@sitrep/shared/lifecycle';
import { topicNames } from '@sitrep/shared/contracts/topics';
import { useGzipCodec } from '@sitrep/shared/gzip-codec';
import { Publisher } from './publish.js';
import { Catalog } from './catalog.js';
import { Acceptor } from './accept.js';
import { createApp, createServer } from './app.js';

const config = parseConfig(
  z.object({
    ...commonSchema,
    PORT: envInt(8080, 0, 65535),
    HOST: z.string().default('127.0.0.1'),
    PUBLIC_BASE_URL: z.string().url().optional(),
    MAX_BODY_BYTES: envInt(4 * 1024 * 1024, 1024),
    // At most 9 s: the answer leaves shortly after the timeout, and it must arrive within 10 s.
    PUBLISH_TIMEOUT_MS: envInt(8000, 100, 9_000),
    NDJSON_MAX_LINE_BYTES: envInt(1024 * 1024, 256),
    NDJSON_MAX_BODY_BYTES: envInt(4 * 1024 ** 3, 1024),
    BODY_TIMEOUT_MS: envInt(60_000, 100),
  }),
);
const log = createLogger('ingest', config.LOG_LEVEL);
useGzipCodec();
// Each record value (a 4-8 kB report in its envelope) is a Buffer.allocUnsafe / Buffer.from of
// its own; above half of Node's 8 kB pool every one became an ArrayBuffer of its own (malloc,
// external-memory accounting, a finalizer): ~2.3 vs ~0.6 us per 4.4 kB value measured here, and
// 5 % of the main thread on the $report-csv path. A 64 kB pool slices them out of shared slabs;
// a slab lives as long as one of its slices (records wait for Kafka for milliseconds).
// https://nodejs.org/docs/latest-v20.x/api/buffer.html#class-property-bufferpoolsize
Buffer.poolSize = 64 * 1024;
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-ingest`, log });
const topics = topicNames(config.TOPIC_PREFIX);
const publisher = new Publisher({ kafka, log, timeoutMs: config.PUBLISH_TIMEOUT_MS });
const catalog = new Catalog();
const acceptor = new Acceptor({ publisher, catalog, topics });

const app = createApp({
  acceptor,
  catalog,
  log,
  maxBodyBytes: config.MAX_BODY_BYTES,
  bodyTimeoutMs: config.BODY_TIMEOUT_MS,
  ndjson: { maxLineBytes: config.NDJSON_MAX_LINE_BYTES, maxBodyBytes: config.NDJSON_MAX_BODY_BYTES },
  ...(config.PUBLIC_BASE_URL ? { publicBaseUrl: config.PUBLIC_BASE_URL.replace(/\/$/, '') } : {}),
  isReady: () => {
    const checks = { kafka: publisher.isConnected(), catalog: catalog.isCaughtUp() };
    return { ready: checks.kafka && checks.catalog, checks };
  },
});

await retryUntilDone(log, 'kafka', async () => {
  await ensureTopics(kafka, topics);
  await publisher.connect();
  await publisher.loadPartitions([topics.measureReports, topics.measures, topics.locations, topics.organizations]);
});
await catalog.follow(kafka, topics, log);

const server = createServer(app).listen(config.PORT, config.HOST, () => log.info({ port: config.PORT, host: config.HOST }, 'ingest_listening'));
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
// NOTE: requestTimeout bounds the whole body, which would cut off a long NDJSON import; an idle
// socket (no bytes for 60 s) is closed instead, which stops a client that stalls, and a body read
// whole must arrive within BODY_TIMEOUT_MS (app.ts), which stops one that trickles.
server.requestTimeout = 0;
server.timeout = 60_000;

onShutdown(log, [
  // Stop accepting, let in-flight requests finish (their publishes complete first).
  { name: 'http', close: () => new Promise<void>((r) => { server.close(() => r()); server.closeIdleConnections(); }) },
  { name: 'producer', close: () => publisher.close() },
  { name: 'catalog', close: () => catalog.close() },
]);
