// The one place that knows kafkajs connection details and topic creation, shared by both services.
// NOTE: kafkajs is in maintenance mode; keeping it behind this module (and each service's
// publish/consumer module) lets another client replace it with a local change.
import kafkajs, { type Admin, type Kafka, type logLevel as LogLevel } from 'kafkajs';
import type { Logger } from './log.js';
import { topicSpecs, type Topics } from './contracts/topics.js';

const { Kafka: KafkaClient, logLevel } = kafkajs;

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  log: Logger;
  /** Bounds every connection attempt and request, so callers never hang on a dead broker. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** A kafkajs client whose log lines go to pino (as structured events, not kafkajs' own format). */
export function createKafka(o: KafkaOptions): Kafka {
  const toPino = (level: LogLevel) => ({ namespace, log }: { namespace: string; log: { message: string } & Record<string, unknown> }) => {
    const { message, timestamp: _t, logger: _l, ...extra } = log;
    const fields = { kafkajs: namespace, ...extra };
    if (level === logLevel.ERROR) o.log.error(fields, message);
    else if (level === logLevel.WARN) o.log.warn(fields, message);
    else o.log.debug(fields, message);
  };
  return new KafkaClient({
    clientId: o.clientId,
    brokers: o.brokers,
    connectionTimeout: o.connectionTimeoutMs ?? 3000,
    requestTimeout: o.requestTimeoutMs ?? 10_000,
    logLevel: logLevel.WARN,
    logCreator: (level) => toPino(level),
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 2000 },
  });
}

/** Creates the topics that do not exist yet; safe to call from every instance at every start. */
export async function ensureTopics(kafka: Kafka, topics: Topics): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topicSpecs(topics).filter((s) => !existing.has(s.topic));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (err) {
      // Another instance may have created them in the meantime: only fail if they are still missing.
      const now = new Set(await admin.listTopics());
      if (missing.some((s) => !now.has(s.topic))) throw err;
    }
  } finally {
    await admin.disconnect();
  }
}
