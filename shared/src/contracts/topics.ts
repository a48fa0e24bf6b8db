// Kafka topics: the names both services agree on, and how each is created.
// Versioned names (`.v1`): a breaking change to a record schema gets a new topic.

export interface Topics {
  measureReports: string;
  measureReportsDlq: string;
  measures: string;
  locations: string;
  organizations: string;
  /** Rollup slices (measure, grain, period) whose stored cells must be recomputed. */
  rollupSlices: string;
}

export function topicNames(prefix = ''): Topics {
  return {
    measureReports: `${prefix}sitrep.measure-reports.v1`,
    measureReportsDlq: `${prefix}sitrep.measure-reports.v1.dlq`,
    measures: `${prefix}sitrep.measures.v1`,
    locations: `${prefix}sitrep.locations.v1`,
    organizations: `${prefix}sitrep.organizations.v1`,
    rollupSlices: `${prefix}sitrep.rollup-slices.v1`,
  };
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries: { name: string; value: string }[];
}

/** NOTE: never change the partition count of the reports topic once created: every version of one
 *  report must stay on one partition, because its Kafka offset is its version. */
export const REPORT_PARTITIONS = 6;

export function topicSpecs(t: Topics): TopicSpec[] {
  // 8 MiB records: a resource up to ingest's body limit fits in one record (the broker's default is 1 MiB).
  const maxMessage = { name: 'max.message.bytes', value: String(8 * 1024 * 1024) };
  const compacted = [{ name: 'cleanup.policy', value: 'compact' }, { name: 'min.insync.replicas', value: '1' }, maxMessage];
  return [
    // Compacted: only the latest version of a business key matters to every consumer.
    { topic: t.measureReports, numPartitions: REPORT_PARTITIONS, configEntries: compacted },
    { topic: t.measureReportsDlq, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: String(30 * 24 * 3600 * 1000) }, maxMessage] },
    // Reference data: one partition each, so each resource's versions are totally ordered.
    { topic: t.measures, numPartitions: 1, configEntries: compacted },
    { topic: t.locations, numPartitions: 1, configEntries: compacted },
    { topic: t.organizations, numPartitions: 1, configEntries: compacted },
    // Keyed by slice: one partition owns each slice, so its recomputations run in order and the
    // marker offset is a version that grows with the data the recomputation saw. Kept a week: an
    // aggregator group that leaves markers unread longer than that recomputes every slice when it
    // starts again (services/aggregator/src/consumer.ts, recoverLostMarkers).
    { topic: t.rollupSlices, numPartitions: REPORT_PARTITIONS, configEntries: [{ name: 'retention.ms', value: String(7 * 24 * 3600 * 1000) }] },
  ];
}
