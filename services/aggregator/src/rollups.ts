// Rollup slices: which (measure, grain, period) slices a write affects, and the recomputation of a
// slice's cells from the latest report versions. A recomputation is derived, never accumulated, so
// running it twice, late, or on a redelivered marker gives the same cells: this is what keeps the
// rollups exact under corrections, redelivery and scale-out (see ARCHITECTURE.md).
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

/**
 * INSERT ... SELECT that recomputes one slice's cells with the given version. Steps, inside out:
 * 1. the latest version of each report (FINAL) in the slice, `error` reports left out, one row per population;
 * 2. within one series (subject + reporter) over the slice: `sum` adds the periods, `latest` takes the
 *    value of the latest period that has one; data-absent counts are left out, never zeros;
 * 3. each series to its region chain (its own for region subjects; from its Location for facilities;
 *    `unresolved` while the Location is unknown), then summed across subjects.
 */
export function recomputeSql(db: string, s: Slice, version: string): string {
  const { from, to } = sliceDates(s);
  // NOTE: only identity columns may be filtered inside FINAL: a filter on another column could drop
  // the newest version and resurrect an older one. period_start_utc is part of the business key;
  // local dates lie within 14 hours of it, so the UTC window is widened by a day on each side.
  const lo = chTime(Date.parse(`${from}T00:00:00Z`) - DAY_MS);
  const hi = chTime(Date.parse(`${to}T00:00:00Z`) + DAY_MS);
  return `INSERT INTO ${db}.rollup_cells
  (measure, grain, period_start, region_type, region, group_code, population_code, period_end, value, subjects_reporting, subjects_missing, updated_at, version)
SELECT measure, grain, period_start, region_type, region, group_code, population_code,
       any(bucket_end), sum(series_value), toUInt64(sum(series_present)), toUInt64(count() - sum(series_present)),
       max(series_updated_at), toUInt64(${BigInt(version).toString()})
FROM
(
  SELECT measure, group_code, population_code, grain, period_start, bucket_end, series_value, series_present, series_updated_at,
         if(subject_is_region = 1, own_types,
            if(empty(fac_types), ['facility', 'unresolved', 'all'], arrayConcat(['facility'], fac_types))) AS chain_types,
         if(subject_is_region = 1, own_regions,
            if(empty(fac_types), [subject, 'unresolved', 'all'], arrayConcat([subject], fac_regions))) AS chain_regions
  FROM
  (
    SELECT measure, group_code, population_code, subject, reporter, grain, period_start, bucket_end,
           any(subject_is_region) AS subject_is_region, any(own_types) AS own_types, any(own_regions) AS own_regions,
           if(time_agg = 'latest', argMaxIf(v, period_instant, present = 1), sumIf(v, present = 1)) AS series_value,
           toUInt8(max(present)) AS series_present,
           max(received_at) AS series_updated_at
    FROM
    (
      SELECT measure, subject, reporter, subject_is_region, region_types AS own_types, regions AS own_regions,
             period_start_utc AS period_instant, received_at, ${sqlString(s.grain)} AS grain,
             toDateTime(${sqlString(s.periodStart)}, 'UTC') AS period_start,
             grain_ends[indexOf(grains, ${sqlString(s.grain)})] AS bucket_end,
             group_key, population_key, v, present
      FROM
      (
        SELECT * FROM
        (
          -- Only the columns the rollup reads: FINAL reads every selected column, and the stored
          -- resource JSON is most of a row's bytes.
          SELECT measure, subject, reporter, status, local_date, subject_is_region, region_types, regions, period_start_utc,
                 received_at, grains, grain_ends, pop_group_keys, pop_keys, pop_values, pop_present
          FROM ${db}.reports FINAL
          WHERE measure = ${sqlString(s.measure)} AND period_start_utc >= toDateTime('${lo}', 'UTC') AND period_start_utc < toDateTime('${hi}', 'UTC')
        )
        WHERE status != 'error' AND local_date >= toDate('${from}') AND local_date < toDate('${to}')
      )
      ARRAY JOIN pop_group_keys AS group_key, pop_keys AS population_key, pop_values AS v, pop_present AS present
    )
    ANY INNER JOIN
    (
      SELECT measure, group_key, population_key, group_code, population_code, time_agg FROM ${db}.measure_populations
      WHERE measure = ${sqlString(s.measure)}
    ) USING (measure, group_key, population_key)
    GROUP BY measure, group_code, population_code, time_agg, subject, reporter, grain, period_start, bucket_end
  )
  ANY LEFT JOIN
  (
    SELECT subject, region_types AS fac_types, regions AS fac_regions FROM ${db}.facility_regions
  ) USING subject
)
ARRAY JOIN chain_types AS region_type, chain_regions AS region
GROUP BY measure, group_code, population_code, region_type, region, grain, period_start`;
}

/** Recomputes each slice, then records it as current (cells first, so a slice never points at missing cells). */
export async function recompute(client: ClickHouseClient, db: string, slices: Map<string, { slice: Slice; version: string }>): Promise<void> {
  const now = chTime(Date.now());
  for (const { slice, version } of slices.values()) await client.command({ query: recomputeSql(db, slice, version) });
  if (slices.size === 0) return;
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
