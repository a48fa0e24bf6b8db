// The consumer loops and nothing else. Records (reports and reference data): decode/transform ->
// collect the batch -> write -> recompute the series cells it touches -> mark the rollup slices it
// affects -> commit. Slice markers, in a consumer group of their own: recompute the slices -> commit.
// Offsets are resolved only after ClickHouse acknowledged the batch (and its markers are in Kafka),
// so a crash redoes work but never skips it; redone work is harmless because every write is
// versioned and every recomputation is derived (see writer.ts and rollups.ts).
import type { Admin, Batch, Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from '@sitrep/shared/log';
import { REPORT_PARTITIONS, type Topics } from '@sitrep/shared/contracts/topics';
import { DLQ_HEADERS } from '@sitrep/shared/contracts/records';
import { transform, type Row, type Table } from './transform.js';
import type { Writer } from './writer.js';
import {
  allSlices,
  chunks,
  daysLeft,
  facilityKeys,
  markValue,
  mergeMarks,
  parseMarkValue,
  parseSliceKey,
  recompute,
  SLICE_CELLS_KEPT,
  seriesCellsSql,
  slicesOfMeasure,
  slicesOfReport,
  slicesLeft,
  slicesOfSubjects,
  type Mark,
} from './rollups.js';
import type { Metrics } from './metrics.js';
import { OwnedMaps } from './owned-maps.js';
import type { RegionInput } from './region-cells.js';

export interface ConsumerOptions {
  kafka: Kafka;
  groupId: string;
  sessionTimeoutMs: number;
  topics: Topics;
  writer: Writer;
  log: Logger;
  metrics: Metrics;
  /** Too many invalid records in a row means a bug, not bad input: crash instead of dead-lettering everything. */
  maxInvalidInARow?: number;
}

/**
 * The consumer group of the slice markers. Its own group, so that its fetches do not wait for the
 * records' steps nor theirs for its steps: kafkajs fetches again only once every batch of a fetch is
 * handled, and with one group a slice waited for a whole records step before its recomputation began.
 */
export const markerGroupId = (groupId: string) => `${groupId}.slices`;

export interface AggregatorConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Joined the group and consuming (false while rebalancing, stopped or crashed). */
  isRunning(): boolean;
}

export function createConsumer(o: ConsumerOptions): AggregatorConsumer {
  // Kafka's advice: a heartbeat at most a third of the session timeout apart.
  const heartbeatMs = Math.min(3000, Math.floor(o.sessionTimeoutMs / 3));
  const newConsumer = (groupId: string): Consumer =>
    o.kafka.consumer({
      groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: heartbeatMs,
      maxBytesPerPartition: 10 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      maxWaitTimeInMs: 250,
      retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
    });
  const records = newConsumer(o.groupId);
  const markers = newConsumer(markerGroupId(o.groupId));
  const producer: Producer = o.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const maxInvalid = o.maxInvalidInARow ?? 1000;
  let invalidInARow = 0;

  // Slices' subject cells kept between recomputations: valid only while this member keeps the
  // partitions of their markers, so forgotten on every rebalance of the markers' group.
  const sliceCells = new OwnedMaps<RegionInput>(SLICE_CELLS_KEPT);
  const running = new Map<Consumer, boolean>([
    [records, false],
    [markers, false],
  ]);
  for (const [consumer, name] of [
    [records, 'records'],
    [markers, 'markers'],
  ] as const) {
    const forget = consumer === markers ? () => sliceCells.clear() : () => undefined;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      forget();
      running.set(consumer, true);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      forget();
      running.set(consumer, false);
    });
    consumer.on(consumer.events.STOP, () => running.set(consumer, false));
    consumer.on(consumer.events.CRASH, (e) => {
      running.set(consumer, false);
      o.log.error({ consumer: name, err: e.payload.error?.message, restart: e.payload.restart }, 'consumer_crashed');
    });
  }

  async function deadLetter(topic: string, partition: number, m: { key: Buffer | null; value: Buffer | null; offset: string }, step: string, reason: string) {
    await producer.send({
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

  /**
   * Writes the rows, recomputes the series cells of the reports among them, and returns the marks
   * for the slices whose cells change: a report's slices for its subject, and those of the days it
   * left (a correction in another UTC offset); for Locations and Organizations, every slice of every
   * facility they name or ever named (region cells only); for a Measure, every slice of it, all
   * subjects.
   */
  async function affectedSlices(rows: Map<Table, Row[]>, write: () => Promise<void>, versions: Map<number, string>): Promise<Mark[]> {
    const { client, db } = o.writer;
    const locationIds = (rows.get('locations') ?? []).map((r) => r.location_id as string);
    const orgIds = (rows.get('organizations') ?? []).map((r) => r.org_id as string);
    await write();
    const named = await facilityKeys(client, db, locationIds, orgIds);
    const reports = rows.get('reports') ?? [];
    const marks: Mark[] = reports.flatMap((r) => slicesOfReport(r).map((slice) => ({ slice, subjects: [r.subject as string] })));
    for (const some of chunks(reports)) {
      const started = performance.now();
      const left = await daysLeft(client, db, some);
      await client.command({ query: seriesCellsSql(db, versions, some, left) });
      marks.push(...slicesLeft(left));
      o.metrics.recomputeDuration.observe({ level: 'series' }, performance.now() - started);
    }
    const moved = await slicesOfSubjects(client, db, named);
    marks.push(...moved.map((slice) => ({ slice, subjects: [] })));
    for (const m of rows.get('measures') ?? []) {
      marks.push(...(await slicesOfMeasure(client, db, m.url as string)).map((slice) => ({ slice, subjects: null })));
    }
    return marks;
  }

  async function markSlices(marks: Mark[]): Promise<void> {
    const due = mergeMarks(marks);
    if (due.size === 0) return;
    const messages = [...due].map(([key, d]) => ({ key, value: markValue(d.subjects) }));
    await producer.send({ topic: o.topics.rollupSlices, acks: -1, messages });
  }

  /** Recomputes the slices that some markers name (all markers of a slice are on this partition: the highest offset is the newest version). */
  async function recomputeSlices(topic: string, partition: number, messages: KafkaMessage[], check: () => void, keepTrying: () => Promise<boolean>) {
    const marks: (Mark & { version: string })[] = [];
    for (const m of messages) {
      const slice = m.key ? parseSliceKey(m.key.toString()) : undefined;
      if (!slice) await deadLetter(topic, partition, m, 'decode', 'not a rollup slice key');
      else marks.push({ slice, subjects: parseMarkValue(m.value), version: m.offset });
    }
    await recomputeTogether({ marks, check, keepTrying });
  }

  // Markers of several partitions that arrive together are recomputed in one pass: a pass costs a
  // few statements whatever it holds, and a day's, week's and month's slices name the same subjects.
  const recomputeTogether = gathered<SliceStep>(async (steps) => {
    const due = mergeMarks(steps.flatMap((s) => s.marks));
    const check = () => steps.forEach((s) => s.check());
    const started = performance.now();
    await o.writer.retrying(
      'recompute',
      () =>
        recompute(o.writer.client, o.writer.db, due, check, sliceCells).catch((err: unknown) => {
          // A recomputation cut short may leave the kept cells behind what ClickHouse has.
          sliceCells.clear();
          throw err;
        }),
      stillMine(steps),
    );
    o.metrics.recomputeDuration.observe({ level: 'slices' }, performance.now() - started);
  });

  /** Writes some reports or reference records, recomputes what they touch, and marks the slices to recompute. */
  async function writeRecords(topic: string, partition: number, messages: KafkaMessage[], lastOffset: string, keepTrying: () => Promise<boolean>) {
    const rows = new Map<Table, Row[]>();
    for (const message of messages) {
      const result = transform({ value: message.value, partition, offset: message.offset });
      if (result.kind === 'invalid') {
        if (++invalidInARow > maxInvalid) throw new Error(`more than ${maxInvalid} invalid records in a row: stopping`);
        await deadLetter(topic, partition, message, result.step, result.reason);
      } else {
        invalidInARow = 0;
        let list = rows.get(result.table);
        if (!list) rows.set(result.table, (list = []));
        list.push(result.row);
      }
    }
    await writeTogether({ topic, partition, rows, lastOffset, keepTrying });
  }

  // One fetch serves every partition, and their batches are handled at the same time: the steps
  // that begin together are written together, one INSERT per table and one series statement for
  // all, because each statement has a fixed cost in ClickHouse and each INSERT makes a part to merge.
  const writeTogether = gathered<RecordStep>(async (steps) => {
    const rows = new Map<Table, Row[]>();
    for (const step of steps) for (const [table, list] of step.rows) rows.set(table, [...(rows.get(table) ?? []), ...list]);
    const versions = new Map(steps.filter((s) => s.topic === o.topics.measureReports).map((s) => [s.partition, s.lastOffset]));
    const keepTrying = stillMine(steps);
    const write = () => o.writer.write(rows, keepTrying);
    const marks = await o.writer.retrying('mark', () => affectedSlices(rows, write, versions), keepTrying);
    await markSlices(marks);
  });

  /**
   * Slice markers are kept for a limited time (topics.ts). If this group left some unread until
   * retention deleted them (the aggregator was down or behind for that long), the slices they named
   * were never recomputed: marks every slice with data for a full recomputation before consuming.
   */
  async function recoverLostMarkers(): Promise<void> {
    const admin = o.kafka.admin();
    await admin.connect();
    try {
      const lost = await partitionsBehindRetention(admin, markerGroupId(o.groupId), o.topics.rollupSlices);
      if (lost.length === 0) return;
      const slices = await o.writer.retrying('lost-markers', () => allSlices(o.writer.client, o.writer.db), async () => true);
      o.log.warn({ partitions: lost, slices: slices.length }, 'slice_markers_lost_recomputing_every_slice');
      for (const some of chunks(slices, 1000)) await markSlices(some.map((slice) => ({ slice, subjects: null })));
      // Moves the group past what was deleted, so the next start does not recompute everything again
      // (refused while other members are in the group: then they commit past it as markers arrive).
      const kept = await admin.fetchTopicOffsets(o.topics.rollupSlices);
      const partitions = kept.filter((p) => lost.includes(p.partition)).map((p) => ({ partition: p.partition, offset: p.low }));
      await admin.setOffsets({ groupId: markerGroupId(o.groupId), topic: o.topics.rollupSlices, partitions }).catch((err: unknown) => o.log.warn({ err: String(err) }, 'slice_offsets_not_moved'));
    } finally {
      await admin.disconnect();
    }
  }

  /** Runs one consumer's loop: each fetched batch handled a step at a time, each step committed on its own. */
  async function consume(consumer: Consumer, topics: string[], partitions: number, handle: (batch: Batch, messages: KafkaMessage[], last: string, check: () => void, keepTrying: () => Promise<boolean>) => Promise<void>) {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      // Every partition at once, so that the steps of one fetch are gathered (writeTogether, recomputeTogether).
      partitionsConsumedConcurrently: partitions,
      autoCommit: true,
      // commitOffsetsIfNecessary() commits only past an interval or a threshold, and kafkajs has
      // neither by default: without this, the steps of a batch were committed only at its end.
      autoCommitThreshold: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
        const keepTrying = async () => {
          await heartbeat();
          return isRunning() && !isStale();
        };
        // One fetch can hold a whole backlog (after downtime): it is handled a step at a time, each
        // committed on its own, with heartbeats while a step runs, so that the group never drops
        // this member for silence and makes it redo the batch from the start, again and again.
        for (const messages of chunks(batch.messages, MAX_RECORDS_PER_STEP)) {
          if (!isRunning() || isStale()) return; // rebalance or shutdown: the next owner redoes the rest
          const last = messages[messages.length - 1]!.offset;
          // Ticks at half the interval: kafkajs sends a heartbeat only once the interval has passed.
          await withHeartbeats(heartbeat, heartbeatMs / 2, (check) => handle(batch, messages, last, check, keepTrying));
          o.metrics.batchSize.observe(messages.length);
          resolveOffset(last);
          await commitOffsetsIfNecessary();
          o.metrics.lag.set({ topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(batch.highWatermark) - Number(last) - 1));
          await heartbeat();
        }
      },
    });
  }

  return {
    isRunning: () => [...running.values()].every(Boolean),
    async start() {
      await producer.connect();
      await recoverLostMarkers();
      await consume(markers, [o.topics.rollupSlices], REPORT_PARTITIONS, (batch, messages, _last, check, keepTrying) =>
        recomputeSlices(batch.topic, batch.partition, messages, check, keepTrying),
      );
      await consume(records, [o.topics.measureReports, o.topics.measures, o.topics.locations, o.topics.organizations], REPORT_PARTITIONS + 3, (batch, messages, last, _check, keepTrying) =>
        writeRecords(batch.topic, batch.partition, messages, last, keepTrying),
      );
    },
    async stop() {
      // disconnect() waits for the batch in flight, commits what it resolved, and leaves the group.
      await Promise.all([records.disconnect(), markers.disconnect()]);
      await producer.disconnect();
      for (const consumer of running.keys()) running.set(consumer, false);
    },
  };
}

/** One step of a batch of records, waiting to be written with the steps that began with it. */
interface RecordStep {
  topic: string;
  partition: number;
  rows: Map<Table, Row[]>;
  lastOffset: string;
  keepTrying: () => Promise<boolean>;
}

/** One step of a batch of slice markers, waiting to be recomputed with the steps that began with it. */
interface SliceStep {
  marks: (Mark & { version: string })[];
  /** Throws once this step's partition may no longer be this member's. */
  check: () => void;
  keepTrying: () => Promise<boolean>;
}

/** A write worth retrying while any of the steps is still this member's (redoing the others' is harmless). */
const stillMine = (steps: { keepTrying: () => Promise<boolean> }[]) => async () => (await Promise.all(steps.map((s) => s.keepTrying()))).some(Boolean);

/** How long a step waits for the steps of other partitions to join it (they begin within a tick or two). */
const GATHER_MS = 5;

/** Calls that begin within GATHER_MS of the first share one call of `flush` with all their items, and its outcome. */
export function gathered<T>(flush: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let open: { items: T[]; done: Promise<void> } | undefined;
  return (item) => {
    if (!open) {
      const items: T[] = [];
      open = {
        items,
        done: new Promise((resolve) => setTimeout(resolve, GATHER_MS)).then(() => {
          open = undefined;
          return flush(items);
        }),
      };
    }
    open.items.push(item);
    return open.done;
  };
}

/**
 * Records handled per step at most (a write and its series cells, or a slice recomputation): what
 * a step holds in memory and how long it runs are bounded by this, not by the size of a fetch (the
 * steps gathered from one fetch hold at most REPORT_PARTITIONS times this: ~12,000 reports).
 */
const MAX_RECORDS_PER_STEP = 2000;

/**
 * Runs a step while heartbeating in the background: Kafka drops a member it has not heard from
 * within the session timeout, and one step (a Measure's recomputation) can run longer than that.
 * Once a heartbeat fails (the group is rebalancing), `check` throws its error: long steps call it
 * between their parts, so this member stops work it may no longer own and rejoins promptly.
 */
export async function withHeartbeats<T>(heartbeat: () => Promise<void>, intervalMs: number, step: (check: () => void) => Promise<T>): Promise<T> {
  let failure: unknown;
  const timer = setInterval(() => heartbeat().catch((err: unknown) => (failure ??= err)), intervalMs);
  try {
    return await step(() => {
      if (failure !== undefined) throw failure;
    });
  } finally {
    clearInterval(timer);
  }
}

/**
 * Partitions of a topic on which this group's committed offset lies before the oldest record the
 * broker still keeps: records it never read were deleted by retention.
 */
export async function partitionsBehindRetention(admin: Admin, groupId: string, topic: string): Promise<number[]> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const offsets = (committed?.partitions ?? []).map((p) => ({ partition: p.partition, offset: BigInt(p.offset) }));
  // A group that has read this topic before but never committed on a partition read it from 0.
  const known = offsets.some((p) => p.offset >= 0n);
  if (!known) return [];
  const kept = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.low)]));
  return offsets.filter((p) => (p.offset < 0n ? 0n : p.offset) < (kept.get(p.partition) ?? 0n)).map((p) => p.partition);
}
