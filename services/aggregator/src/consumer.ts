// The consumer loop and nothing else: decode/transform -> collect the batch -> write -> commit.
// Offsets are resolved only after ClickHouse acknowledged the batch, so a crash redoes work but
// never skips it; redone work is harmless because every write is versioned (see writer.ts).
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { Logger } from '@sitrep/shared/log';
import type { Topics } from '@sitrep/shared/contracts/topics';
import { DLQ_HEADERS } from '@sitrep/shared/contracts/records';
import { transform, type Row, type Table } from './transform.js';
import type { Writer } from './writer.js';
import type { Metrics } from './metrics.js';

export interface ConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topics: Topics;
  writer: Writer;
  log: Logger;
  metrics: Metrics;
  /** Too many invalid records in a row means a bug, not bad input: crash instead of dead-lettering everything. */
  maxInvalidInARow?: number;
}

export interface AggregatorConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Joined the group and consuming (false while rebalancing, stopped or crashed). */
  isRunning(): boolean;
}

export function createConsumer(o: ConsumerOptions): AggregatorConsumer {
  const consumer: Consumer = o.kafka.consumer({
    groupId: o.groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    maxWaitTimeInMs: 250,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
  });
  const dlq: Producer = o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const maxInvalid = o.maxInvalidInARow ?? 1000;
  let invalidInARow = 0;
  let running = false;

  consumer.on(consumer.events.GROUP_JOIN, () => (running = true));
  consumer.on(consumer.events.REBALANCING, () => (running = false));
  consumer.on(consumer.events.STOP, () => (running = false));
  consumer.on(consumer.events.CRASH, (e) => {
    running = false;
    o.log.error({ err: e.payload.error?.message, restart: e.payload.restart }, 'consumer_crashed');
  });

  async function deadLetter(topic: string, partition: number, m: { key: Buffer | null; value: Buffer | null; offset: string }, step: string, reason: string) {
    await dlq.send({
      topic: o.topics.measureReportsDlq,
      acks: -1,
      messages: [
        {
          key: m.key,
          value: m.value,
          headers: {
            [DLQ_HEADERS.reason]: reason,
            [DLQ_HEADERS.step]: step,
            [DLQ_HEADERS.timestamp]: new Date().toISOString(),
            [DLQ_HEADERS.topic]: topic,
            [DLQ_HEADERS.partition]: String(partition),
            [DLQ_HEADERS.offset]: m.offset,
          },
        },
      ],
    });
    o.metrics.deadLettered.inc({ step });
    o.log.warn({ topic, partition, offset: m.offset, step, reason }, 'record_dead_lettered');
  }

  return {
    isRunning: () => running,
    async start() {
      await dlq.connect();
      await consumer.connect();
      await consumer.subscribe({
        topics: [o.topics.measureReports, o.topics.measures, o.topics.locations, o.topics.organizations],
        fromBeginning: true,
      });
      await consumer.run({
        eachBatchAutoResolve: false,
        autoCommit: true,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
          const rows = new Map<Table, Row[]>();
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) return; // rebalance or shutdown: the next owner redoes it
            const result = transform({ value: message.value, partition: batch.partition, offset: message.offset });
            if (result.kind === 'invalid') {
              if (++invalidInARow > maxInvalid) throw new Error(`more than ${maxInvalid} invalid records in a row: stopping`);
              await deadLetter(batch.topic, batch.partition, message, result.step, result.reason);
            } else {
              invalidInARow = 0;
              let list = rows.get(result.table);
              if (!list) rows.set(result.table, (list = []));
              list.push(result.row);
            }
          }
          o.metrics.batchSize.observe(batch.messages.length);
          await o.writer.write(rows, async () => {
            await heartbeat();
            return isRunning() && !isStale();
          });
          resolveOffset(batch.lastOffset());
          await commitOffsetsIfNecessary();
          o.metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - Number(batch.lastOffset()) - 1));
          await heartbeat();
        },
      });
    },
    async stop() {
      // disconnect() waits for the batch in flight, commits what it resolved, and leaves the group.
      await consumer.disconnect();
      await dlq.disconnect();
      running = false;
    },
  };
}
