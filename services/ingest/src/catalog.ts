// What ingest knows about resources already accepted: which MeasureReport ids exist (for 201 vs
// 200 and the 409 identity checks) and the latest Measure, Location and Organization resources
// (for GET, and to validate reports against their Measure). Fed by this instance's own publishes
// at once and by a tail of the topics for other instances' publishes.
// NOTE: consistency window: another instance's publish becomes visible here after the tail's lag
// (normally well under a second); within it, a conflicting PUT on two instances is not detected.
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import type { Measure } from 'fhir/r4.js';
import { HEADERS, type ResourceKind } from '@sitrep/shared/contracts/records';
import type { Topics } from '@sitrep/shared/contracts/topics';
import { reportIdForKeyString } from '@sitrep/shared/fhir/identity';
import { measureDefinition, type MeasureDefinition } from '@sitrep/shared/fhir/measure';
import type { Logger } from '@sitrep/shared/log';
import { IdSet } from './id-set.js';

export interface StoredResource {
  resource: Record<string, unknown>;
  versionId: string;
  lastUpdated: string;
}

type ReferenceKind = Exclude<ResourceKind, 'MeasureReport'>;

export class Catalog {
  /** Report ids bound to their own business key: every server-assigned id (compact, see IdSet). */
  private readonly derivedIds = new IdSet();
  /** Report id -> the derived id of its business key, for ids a PUT chose (rare). */
  private readonly chosenIdKeys = new Map<string, string>();
  /** Derived id of a business key -> the id it is published under, where that differs. */
  private readonly reportIdOfKey = new Map<string, string>();
  private readonly references: Record<ReferenceKind, Map<string, StoredResource>> = {
    Measure: new Map(),
    Location: new Map(),
    Organization: new Map(),
  };
  private readonly measuresByUrl = new Map<string, MeasureDefinition>();
  private consumer: Consumer | undefined;
  private caughtUp = false;

  /** The derived key id that an existing report id is bound to. */
  reportKeyIdOf(id: string): string | undefined {
    return this.chosenIdKeys.get(id) ?? (this.derivedIds.has(id) ? id : undefined);
  }

  /** The id a business key is published under (its derived id unless a PUT chose another). */
  reportIdOfKeyId(keyId: string): string | undefined {
    return this.reportIdOfKey.get(keyId) ?? (this.reportKeyIdOf(keyId) === keyId ? keyId : undefined);
  }

  /** The latest binding wins, as in a Map: a later record of `id` replaces what an earlier one said. */
  recordReport(id: string, keyId: string): void {
    if (id === keyId) {
      this.derivedIds.add(id);
      this.chosenIdKeys.delete(id);
    } else {
      this.chosenIdKeys.set(id, keyId);
      this.reportIdOfKey.set(keyId, id);
    }
  }

  getReference(kind: ReferenceKind, id: string): StoredResource | undefined {
    return this.references[kind].get(id);
  }

  recordReference(kind: ReferenceKind, id: string, stored: StoredResource): void {
    const previous = this.references[kind].get(id);
    if (previous && BigInt(previous.versionId) > BigInt(stored.versionId)) return;
    this.references[kind].set(id, stored);
    if (kind === 'Measure') {
      const def = measureDefinition(stored.resource as unknown as Measure);
      if (def.url) this.measuresByUrl.set(def.url, def);
    }
  }

  measure(url: string): MeasureDefinition | undefined {
    return this.measuresByUrl.get(url);
  }

  isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Reads every topic from the beginning, then follows it; resolves once caught up with the end. */
  async follow(kafka: Kafka, topics: Topics, log: Logger): Promise<void> {
    // A group of its own per instance: every instance must see every partition.
    // NOTE: the tail reads back every report this instance publishes, so what each fetch costs
    // (the broker's work per fetch request, and ours per record) is paid per report. minBytes
    // lets a fetch gather up to maxWaitTimeInMs of records instead of answering every produce
    // request with a fetch of its own; maxBytes bounds the buffer of one fetch response.
    const consumer = (this.consumer = kafka.consumer({
      groupId: `sitrep-ingest-catalog-${randomUUID()}`,
      minBytes: 256 * 1024,
      maxWaitTimeInMs: 200,
      maxBytes: 2 * 1024 * 1024,
      maxBytesPerPartition: 1024 * 1024,
    }));
    const watched = [topics.measureReports, topics.measures, topics.locations, topics.organizations];
    const ends = await endOffsets(kafka, watched, log);
    const remaining = new Set([...ends].filter(([, high]) => high > 0n).map(([k]) => k));
    let markCaughtUp: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    const check = () => {
      if (remaining.size === 0 && !this.caughtUp) {
        this.caughtUp = true;
        markCaughtUp();
      }
    };
    check();
    await consumer.connect();
    await consumer.subscribe({ topics: watched, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      // eachBatch, not eachMessage: one callback per partition's batch rather than an awaited call per record.
      eachBatch: async ({ batch }) => {
        const { topic, partition } = batch;
        for (const message of batch.messages) this.learn(topic, partition, message, log);
        const k = `${topic}/${partition}`;
        if (remaining.has(k) && BigInt(batch.lastOffset()) + 1n >= ends.get(k)!) {
          remaining.delete(k);
          check();
        }
      },
    });
    await caughtUp;
  }

  /** One record of the tail: a report's id and key come from its headers and key, without parsing the value. */
  private learn(topic: string, partition: number, message: KafkaMessage, log: Logger): void {
    const header = (name: string) => message.headers?.[name]?.toString();
    const id = header(HEADERS.id);
    const kind = header(HEADERS.resourceType) as ResourceKind | undefined;
    if (id && kind === 'MeasureReport' && message.key) {
      this.recordReport(id, reportIdForKeyString(message.key.toString()));
    } else if (id && kind && kind !== 'MeasureReport' && message.value) {
      try {
        const record = JSON.parse(message.value.toString()) as { resource: Record<string, unknown>; receivedAt: string };
        this.recordReference(kind, id, { resource: record.resource, versionId: message.offset, lastUpdated: record.receivedAt });
      } catch (err) {
        log.warn({ topic, partition, offset: message.offset, err: (err as Error).message }, 'catalog_record_unreadable');
      }
    }
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** The end offset of every partition; retried, because right after topic creation leaders may still move. */
async function endOffsets(kafka: Kafka, topics: string[], log: Logger): Promise<Map<string, bigint>> {
  for (let attempt = 1; ; attempt++) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const ends = new Map<string, bigint>();
      for (const topic of topics) {
        for (const p of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}/${p.partition}`, BigInt(p.high));
      }
      return ends;
    } catch (err) {
      log.warn({ err: (err as Error).message, attempt }, 'catalog_offsets_failed');
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
    } finally {
      await admin.disconnect();
    }
  }
}
