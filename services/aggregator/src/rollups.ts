// The rollup recomputations, in two levels: the series cells a batch of reports touches (from those
// series' reports), and the region cells of a (measure, grain, period) slice (from its series cells);
// plus which slices a write affects. Every recomputation is derived, never accumulated, so running it
// twice, late, or on a redelivered record gives the same cells: this is what keeps the rollups exact
// under corrections, redelivery and scale-out (see ARCHITECTURE.md).
import type { ClickHouseClient } from '@clickhouse/client';

export interface Slice {
  measure: string;
  grain: 'day' | 'week' | 'month';
  /** 'YYYY-MM-DD 00:00:00', local midnight as wall-clock UTC. */
  periodStart: string;
}

const KEY_SEPARATOR = '\u001f';
const START = /^\d{4}-\d{2}-\d{2} 00:00:00$/;

export const sliceKey = (s: Slice) => [s.measure, s.grain, s.periodStart].join(KEY_SEPARATOR);

export function parseSliceKey(key: string): Slice | undefined {
  const [measure, grain, periodStart] = key.split(KEY_SEPARATOR);
  if (!measure || (grain !== 'day' && grain !== 'week' && grain !== 'month') || !periodStart || !START.test(periodStart)) return undefined;
  return { measure, grain, periodStart };
}

/** The slices of one report row: one per grain. */
export function slicesOfReport(row: Record<string, unknown>): Slice[] {
  const grains = row.grains as Slice['grain'][];
  const starts = row.grain_starts as string[];
  return grains.map((grain, i) => ({ measure: row.measure as string, grain, periodStart: starts[i]! }));
}

/** A ClickHouse string literal. NOTE: 18.16 has no server-side query parameters, so escape here. */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const DAY_MS = 86_400_000;
const dayText = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The local dates [from, to) a slice covers. */
export function sliceDates(s: Slice): { from: string; to: string } {
  const start = Date.parse(`${s.periodStart.slice(0, 10)}T00:00:00Z`);
  if (s.grain === 'day') return { from: dayText(start), to: dayText(start + DAY_MS) };
  if (s.grain === 'week') return { from: dayText(start), to: dayText(start + 7 * DAY_MS) };
  const d = new Date(start);
  return { from: dayText(start), to: dayText(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)) };
}

const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const bucketKey = (grain: string, periodStart: string) => `${grain} ${periodStart}`;
const BUCKET_KEY_SQL = "concat(grain, ' ', toString(period_start))";
const list = (values: Iterable<string>) => [...new Set(values)].map(sqlString).join(', ');

/**
 * INSERT ... SELECT that recomputes the series cells (sitrep.series_cells) touched by one batch of
 * report rows from one Kafka partition, stamped with the batch's last offset. Each cell is derived
 * from the latest versions of its series' reports on that partition in its bucket: `sum` of the
 * present values, and the value of the latest period that has one, per population; `error` reports
 * are left out. Every bucket in the batch is recomputed for every subject in it (a superset of what
 * changed, which is harmless: a recomputation is derived).
 */
export function seriesCellsSql(db: string, partition: number, version: string, reports: Record<string, unknown>[]): string {
  const buckets = new Set<string>();
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of reports) {
    for (const s of slicesOfReport(r)) {
      buckets.add(bucketKey(s.grain, s.periodStart));
      const { from, to } = sliceDates(s);
      lo = Math.min(lo, Date.parse(`${from}T00:00:00Z`));
      hi = Math.max(hi, Date.parse(`${to}T00:00:00Z`));
    }
  }
  // NOTE: only identity columns may be filtered inside FINAL (see recomputation below): partition,
  // measure, subject and period_start_utc are all part of a report's identity. Local dates lie
  // within 14 hours of period_start_utc, so the UTC window is widened by a day on each side.
  return `INSERT INTO ${db}.series_cells
  (measure, grain, period_start, subject, reporter, kafka_partition, period_end, subject_is_region, own_types, own_regions,
   group_keys, pop_keys, sums, presents, latest_values, latest_ats, updated_at, version)
SELECT measure, grain, period_start, subject, reporter, kafka_partition, any(bucket_end), any(subject_is_region), any(own_types), any(own_regions),
       groupArrayIf(group_key, counted), groupArrayIf(population_key, counted), groupArrayIf(s, counted), groupArrayIf(pr, counted),
       groupArrayIf(lv, counted), groupArrayIf(la, counted), max(upd), toUInt64(${BigInt(version).toString()})
FROM
(
  SELECT measure, grain, period_start, subject, reporter, kafka_partition, group_key, population_key,
         any(bucket_end) AS bucket_end, any(subject_is_region) AS subject_is_region, any(own_types) AS own_types, any(own_regions) AS own_regions,
         max(ok) = 1 AND group_key != '' AS counted,
         sumIf(v, ok = 1 AND present = 1) AS s,
         toUInt8(maxIf(present, ok = 1)) AS pr,
         argMaxIf(v, period_instant, ok = 1 AND present = 1) AS lv,
         maxIf(period_instant, ok = 1 AND present = 1) AS la,
         max(received_at) AS upd
  FROM
  (
    SELECT * FROM
    (
      SELECT measure, subject, reporter, kafka_partition, toUInt8(status != 'error') AS ok, subject_is_region,
             region_types AS own_types, regions AS own_regions, period_start_utc AS period_instant, received_at,
             grain, period_start, bucket_end, pop_group_keys, pop_keys, pop_values, pop_present
      FROM
      (
        -- Only the columns needed: FINAL reads every selected column, and the resource JSON is most of a row.
        SELECT measure, subject, reporter, kafka_partition, status, subject_is_region, region_types, regions, period_start_utc,
               received_at, grains, grain_starts, grain_ends, pop_group_keys, pop_keys, pop_values, pop_present
        FROM ${db}.reports FINAL
        WHERE kafka_partition = ${Number(partition)} AND measure IN (${list(reports.map((r) => r.measure as string))})
          AND subject IN (${list(reports.map((r) => r.subject as string))})
          AND period_start_utc >= toDateTime('${chTime(lo - DAY_MS)}', 'UTC') AND period_start_utc < toDateTime('${chTime(hi + DAY_MS)}', 'UTC')
      )
      ARRAY JOIN grains AS grain, grain_starts AS period_start, grain_ends AS bucket_end
    )
    WHERE ${BUCKET_KEY_SQL} IN (${list(buckets)})
  )
  LEFT ARRAY JOIN pop_group_keys AS group_key, pop_keys AS population_key, pop_values AS v, pop_present AS present
  GROUP BY measure, grain, period_start, subject, reporter, kafka_partition, group_key, population_key
)
GROUP BY measure, grain, period_start, subject, reporter, kafka_partition`;
}

/**
 * INSERT ... SELECT that recomputes the region cells of some slices of one Measure, each stamped
 * with its own version: each series' value (sitrep.series_values) goes to its region chain (its own
 * for region subjects; from its Location for facilities, `unresolved` while that is unknown) and is
 * summed across subjects. Facility cells are not stored: the rollups view reads them from the series.
 */
export function recomputeSql(db: string, measure: string, slices: { slice: Slice; version: string }[]): string {
  const keys = slices.map(({ slice }) => sqlString(bucketKey(slice.grain, slice.periodStart))).join(', ');
  const versions = slices.map(({ version }) => `toUInt64(${BigInt(version).toString()})`).join(', ');
  return `INSERT INTO ${db}.rollup_cells
  (measure, grain, period_start, region_type, region, group_code, population_code, period_end, value, subjects_reporting, subjects_missing, updated_at, version)
SELECT measure, grain, period_start, region_type, region, group_code, population_code,
       any(period_end), sum(value), toUInt64(sum(present)), toUInt64(count() - sum(present)), max(updated_at),
       arrayElement([${versions}], indexOf([${keys}], ${BUCKET_KEY_SQL}))
FROM
(
  SELECT measure, grain, period_start, group_code, population_code, period_end, value, present, updated_at,
         if(subject_is_region = 1, own_types, if(empty(fac_types), ${UNRESOLVED_TYPES}, fac_types)) AS chain_types,
         if(subject_is_region = 1, own_regions, if(empty(fac_types), ${UNRESOLVED_TYPES}, fac_regions)) AS chain_regions
  FROM
  (
    SELECT * FROM ${db}.series_values
    WHERE measure = ${sqlString(measure)} AND ${BUCKET_KEY_SQL} IN (${keys})
  )
  ANY LEFT JOIN
  (
    SELECT subject, region_types AS fac_types, regions AS fac_regions FROM ${db}.facility_regions
  ) USING subject
)
ARRAY JOIN chain_types AS region_type, chain_regions AS region
GROUP BY measure, grain, period_start, region_type, region, group_code, population_code`;
}

/** A facility whose Location is unknown counts here (and in `all`); the region code is the type. */
const UNRESOLVED_TYPES = "['unresolved', 'all']";

/**
 * Recomputes each slice (one query per Measure), then records the slices as current (cells first,
 * so a slice never points at missing cells).
 */
export async function recompute(client: ClickHouseClient, db: string, slices: Map<string, { slice: Slice; version: string }>): Promise<void> {
  if (slices.size === 0) return;
  const now = chTime(Date.now());
  const byMeasure = new Map<string, { slice: Slice; version: string }[]>();
  for (const s of slices.values()) byMeasure.set(s.slice.measure, [...(byMeasure.get(s.slice.measure) ?? []), s]);
  // Pushing the slice filter into the series_values view is what makes this read O(series in the
  // slice); it is safe because the filter names identity columns only.
  for (const [measure, list] of byMeasure) {
    await client.command({ query: recomputeSql(db, measure, list), clickhouse_settings: { enable_optimize_predicate_expression: 1 } });
  }
  await client.insert({
    table: `${db}.rollup_slices`,
    values: [...slices.values()].map(({ slice, version }) => ({
      measure: slice.measure,
      grain: slice.grain,
      period_start: slice.periodStart,
      version,
      computed_at: now,
    })),
    format: 'JSONEachRow',
    columns: ['measure', 'grain', 'period_start', 'version', 'computed_at'],
  });
}

/** Every slice that holds a report of these subjects (after a Location or Organization changed). */
export async function slicesOfSubjects(client: ClickHouseClient, db: string, subjects: string[]): Promise<Slice[]> {
  if (subjects.length === 0) return [];
  return slicesWhere(client, db, `subject IN (${subjects.map(sqlString).join(', ')})`);
}

/** Every slice that holds a report of this Measure (after the Measure was registered or changed). */
export async function slicesOfMeasure(client: ClickHouseClient, db: string, measureUrl: string): Promise<Slice[]> {
  return slicesWhere(client, db, `measure = ${sqlString(measureUrl)}`);
}

async function slicesWhere(client: ClickHouseClient, db: string, where: string): Promise<Slice[]> {
  // Identity columns only (subject, measure): safe to filter before dedup; any version of a report
  // has the same slices, so no FINAL is needed here.
  const rs = await client.query({
    query: `SELECT DISTINCT measure, grain, period_start FROM ${db}.reports ARRAY JOIN grains AS grain, grain_starts AS period_start WHERE ${where}`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ measure: string; grain: Slice['grain']; period_start: string }>();
  return rows.map((r) => ({ measure: r.measure, grain: r.grain, periodStart: r.period_start }));
}

/** Identifiers a facility can be reported under, for these Locations and Organizations, as stored now. */
export async function facilityKeys(client: ClickHouseClient, db: string, locationIds: string[], orgIds: string[]): Promise<string[]> {
  if (locationIds.length === 0 && orgIds.length === 0) return [];
  const loc = locationIds.length ? locationIds.map(sqlString).join(', ') : "''";
  const org = orgIds.length ? orgIds.map(sqlString).join(', ') : "''";
  const rs = await client.query({
    query: `SELECT DISTINCT key FROM
      (
        SELECT arrayJoin(identifiers) AS key FROM ${db}.locations FINAL WHERE location_id IN (${loc}) OR managing_org IN (${org})
        UNION ALL
        SELECT arrayJoin(identifiers) AS key FROM ${db}.organizations FINAL WHERE org_id IN (${org})
        UNION ALL
        SELECT arrayJoin(identifiers) AS key FROM ${db}.organizations FINAL WHERE org_id IN (SELECT managing_org FROM ${db}.locations FINAL WHERE location_id IN (${loc}))
      )`,
    format: 'JSONEachRow',
  });
  return (await rs.json<{ key: string }>()).map((r) => r.key);
}
