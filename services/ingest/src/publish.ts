// The only code that talks to the Kafka producer. A publish resolves only when the broker has
// acknowledged the record (acks from all in-sync replicas, idempotent producer), and fails with
// DependencyUnavailableError within a bounded time when Kafka is down or slow, never hanging.
import kafkajs, { type Admin, type Kafka, type Producer, type IHeaders } from 'kafkajs';
import { DependencyUnavailableError } from '@sitrep/shared/errors';
import type { Logger } from '@sitrep/shared/log';
import { partitionOf } from './partitioner.js';

const { CompressionTypes } = kafkajs;

/**
 * gzip. FHIR JSON compresses ~10x, and kafkajs' per-byte work (a zero-filled, power-of-two
 * growing buffer copied several times per request, CRC-32C in JS) and the broker's then apply to
 * a tenth of the bytes; zlib compresses a large batch on libuv's thread pool, a small one on the
 * event loop (gzip-codec.ts). Measured on this 2-core machine, 4 kB reports, CPU per record
 * (producer / broker): 1000 per request, gzip 73 / 10-14 us against 222-286 / 79-112 us
 * uncompressed (12,000 vs 3,000-5,500 records/s); 64 per request (bench:ingest's size), about
 * even. gzip level 1 instead of kafkajs' default changed
 * nothing measurable. kafkajs has only gzip built in (snappy, lz4, zstd need plugins, and every
 * consumer of the topics, the aggregator included, would need the same plugin). Ingest's gzip
 * codec is kafkajs' with larger zlib output chunks and small batches on the event loop
 * (gzip-codec.ts, registered in main.ts).
 */
export const COMPRESSION = CompressionTypes.GZIP;

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer;
  headers: IHeaders;
}

export interface Ack {
  partition: number;
  offset: string;
}

interface Pending {
  record: OutgoingRecord;
  /** The caller was already answered (timed out): never send it. (One already sent when the caller timed out may still be stored: the 503 says it may not be.) */
  settled: () => boolean;
  resolve: (ack: Ack) => void;
  reject: (err: Error) => void;
}

export interface PublisherOptions {
  kafka: Kafka;
  log: Logger;
  /** Upper bound for one publish, from the caller's point of view (the issue allows 10 s at most). */
  timeoutMs: number;
  /** Records sent in one produce request at most. */
  maxBatch?: number;
  /** Bytes of record values in one produce request at most (before compression; default 4 MiB):
   *  the broker refuses a batch over its max.message.bytes (8 MiB on sitrep's topics, topics.ts),
   *  and then every record in it would fail. */
  maxBatchBytes?: number;
}

/**
 * A produce request takes half of the queued bytes, between this and maxBatchBytes, so that one
 * request is filling while the other is sent. An NDJSON import queues ~2 MiB (bulk.ts) and so
 * sends 1 MiB requests as it always did (4 MiB ones measured no faster for it: the reader waited
 * on each); $report-csv queues ~9 MB and sends 4 MiB requests, +10-30 % rows/s over 1 MiB ones.
 */
const MIN_BATCH_BYTES = 1024 * 1024;

/**
 * Collects concurrent publishes into one produce request at a time (kafkajs has no linger of its
 * own), which is what lets one idempotent producer with a single request in flight keep up with
 * thousands of requests per second while preserving per-key order.
 */
export class Publisher {
  private producer: Producer;
  /**
   * A produce request failed, so the producer is replaced before the next one. kafkajs rolls its
   * idempotence sequence numbers back after a failed request, although the broker may have written
   * it (the answer was lost): the next batch would reuse those numbers, and the broker would take it
   * for a duplicate of the written one (acknowledging records it never wrote) or refuse it as out of
   * order for good. A new producer gets a new producer id, whose numbers start afresh.
   * (kafkajs src/producer/sendMessages.js; the same pattern as kafkajs#598.)
   */
  private stale = false;
  private queue: Pending[] = [];
  /** Bytes of the record values in `queue`. */
  private queuedBytes = 0;
  private sending = false;
  /** Whether Kafka answered lately: a failed publish or probe turns it false, a success true. */
  private healthy = false;
  private probe: NodeJS.Timeout | undefined;
  private admin: Admin | undefined;

  constructor(private readonly o: PublisherOptions) {
    this.producer = this.newProducer();
  }

  private newProducer(): Producer {
    return this.o.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    });
  }

  /** Replaces the producer; throws (and stays stale) while Kafka cannot be reached. */
  private async renewProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.newProducer();
    // Its sockets only: a disconnect waits for nothing in flight (sends are one at a time, and this one failed).
    await Promise.race([old.disconnect().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    await this.producer.connect();
    this.stale = false;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.healthy = true;
    // NOTE: kafkajs emits DISCONNECT only when disconnect() is called, not when the broker dies,
    // so readiness comes from publish results plus a periodic metadata probe (which also lets an
    // instance that gets no traffic while not ready become ready again).
    const admin = (this.admin = this.o.kafka.admin({ retry: { retries: 0 } }));
    let probing = false;
    this.probe = setInterval(() => {
      if (probing) return;
      probing = true;
      admin
        .connect()
        .then(() => admin.describeCluster())
        .then(
          () => (this.healthy = true),
          () => (this.healthy = false),
        )
        .finally(() => (probing = false));
    }, 2000);
    this.probe.unref();
  }

  isConnected(): boolean {
    return this.healthy;
  }

  /** The deadline (performance.now() time) of a publish that starts now. */
  deadline(): number {
    return performance.now() + this.o.timeoutMs;
  }

  /** What a caller gets when Kafka did not acknowledge in time. */
  timeoutError(): DependencyUnavailableError {
    return new DependencyUnavailableError('kafka', `Kafka did not acknowledge within ${this.o.timeoutMs} ms`);
  }

  /** Resolves when the broker acknowledged the record; fails with timeoutError() at `deadline` (by default timeoutMs from now). */
  publish(record: OutgoingRecord, deadline = this.deadline()): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(this.timeoutError());
      }, Math.max(0, deadline - performance.now()));
      this.queuedBytes += record.value.length;
      this.queue.push({
        record,
        settled: () => settled,
        resolve: (ack) => {
          clearTimeout(timer);
          if (!settled) resolve(ack);
        },
        reject: (err) => {
          clearTimeout(timer);
          if (!settled) reject(err);
        },
      });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch().filter((p) => !p.settled());
        if (batch.length) await this.sendBatch(batch);
      }
    } finally {
      this.sending = false;
    }
  }

  /** The next records to send: at most maxBatch of them and the bytes above, at least one. */
  private takeBatch(): Pending[] {
    const maxRecords = this.o.maxBatch ?? 1000;
    const maxBytes = Math.min(this.o.maxBatchBytes ?? 4 * 1024 * 1024, Math.max(MIN_BATCH_BYTES, this.queuedBytes / 2));
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && n < maxRecords) {
      const next = bytes + this.queue[n]!.record.value.length;
      if (n > 0 && next > maxBytes) break;
      bytes = next;
      n++;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, n);
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Pending[]>();
    for (const p of batch) {
      const list = byTopic.get(p.record.topic) ?? [];
      list.push(p);
      byTopic.set(p.record.topic, list);
    }
    try {
      if (this.stale) await this.renewProducer();
      // Partitions are chosen here (Kafka's default key partitioning) so that each record's
      // offset can be read off the per-partition base offsets: records of one partition get
      // consecutive offsets in the order they were sent.
      const partitions = new Map<Pending, number>();
      const topicMessages = [...byTopic].map(([topic, ps]) => {
        const count = this.partitionCount(topic);
        return {
          topic,
          messages: ps.map((p) => {
            const partition = partitionOf(p.record.key, count);
            partitions.set(p, partition);
            return { key: p.record.key, value: p.record.value, headers: p.record.headers, partition };
          }),
        };
      });
      const results = await this.producer.sendBatch({ acks: -1, timeout: this.o.timeoutMs, compression: COMPRESSION, topicMessages });
      this.healthy = true;
      const next = new Map<string, bigint>();
      for (const r of results) next.set(`${r.topicName}/${r.partition}`, BigInt(r.baseOffset ?? r.offset ?? '0'));
      for (const p of batch) {
        const partition = partitions.get(p)!;
        const k = `${p.record.topic}/${partition}`;
        const offset = next.get(k) ?? 0n;
        next.set(k, offset + 1n);
        p.resolve({ partition, offset: offset.toString() });
      }
    } catch (err) {
      this.healthy = false;
      this.stale = true;
      this.o.log.warn({ err: (err as Error).message, records: batch.length }, 'kafka_publish_failed');
      const e = new DependencyUnavailableError('kafka', `Kafka unavailable: ${(err as Error).message}`, { cause: err });
      for (const p of batch) p.reject(e);
    }
  }

  private readonly partitionCounts = new Map<string, number>();

  /** Loads the partition count of each topic this publisher writes to (call after connect). */
  async loadPartitions(topics: string[]): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      for (const t of meta) this.partitionCounts.set(t.name, t.partitions.length);
    } finally {
      await admin.disconnect();
    }
  }

  private partitionCount(topic: string): number {
    const count = this.partitionCounts.get(topic);
    if (!count) throw new Error(`partition count of ${topic} not loaded`);
    return count;
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    while (this.sending || this.queue.length > 0) await new Promise((r) => setTimeout(r, 10));
    await this.producer.disconnect();
    await this.admin?.disconnect();
  }
}
