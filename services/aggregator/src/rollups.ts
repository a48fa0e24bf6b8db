// The rollup recomputations and which (measure, grain, period) slices a write affects. Three steps:
// the day series cells a batch of reports touches (from those series' reports); then, per slice
// marker, the subject cells of the subjects it names (from their day series cells over the slice's
// dates, in subject-cells.ts) and the slice's region cells (from all its subject cells, in
// region-cells.ts, kept between recomputations).
// Every recomputation is derived, never accumulated, so running it twice, late, or on a redelivered
// record gives the same cells: this is what keeps the rollups exact under corrections, redelivery
// and scale-out (see ARCHITECTURE.md).
import type { ClickHouseClient } from '@clickhouse/client';
import { populationKey, subjectCells, type PopulationRule, type SeriesCell, type SubjectCell } from './subject-cells.js';
import { regionCells, type Chain, type MeasureRules, type RegionInput } from './region-cells.js';
import { scoreRules } from './scores.js';
import { OwnedMaps } from './owned-maps.js';
import { DAY_MS, dateText, grainBuckets } from './transform.js';

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

/**
 * A slice marker's request: recompute the subject cells of these subjects (`null`: of every subject
 * in the slice; none: only the region cells, e.g. after a Location moved) and the region cells.
 */
export interface Mark {
  slice: Slice;
  subjects: string[] | null;
}

/** A slice due for recomputation: the marks of one batch merged, stamped with the newest marker's offset. */
export interface Due {
  slice: Slice;
  version: string;
  subjects: Set<string> | null;
}

/** Merges marks per slice: subjects are united, and `null` (every subject) absorbs any list. */
export function mergeMarks(marks: Iterable<Mark & { version?: string }>): Map<string, Due> {
  const due = new Map<string, Due>();
  for (const m of marks) {
    const key = sliceKey(m.slice);
    const d = due.get(key) ?? { slice: m.slice, version: m.version ?? '0', subjects: new Set<string>() };
    if (m.version !== undefined && BigInt(m.version) > BigInt(d.version)) d.version = m.version;
    if (m.subjects === null) d.subjects = null;
    else if (d.subjects) for (const s of m.subjects) d.subjects.add(s);
    due.set(key, d);
  }
  return due;
}

/** A marker's value: the subjects it names, as JSON. A value that is not such JSON names every subject. */
export const markValue = (subjects: Set<string> | null) => JSON.stringify({ subjects: subjects ? [...subjects] : null });

export function parseMarkValue(value: Buffer | null): string[] | null {
  try {
    const subjects = (JSON.parse(value?.toString('utf8') ?? 'null') as { subjects?: unknown } | null)?.subjects;
    return Array.isArray(subjects) && subjects.every((s) => typeof s === 'string') ? subjects : null;
  } catch {
    return null;
  }
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

/** The local dates [from, to) a slice covers. */
export function sliceDates(s: Slice): { from: string; to: string } {
  const start = Date.parse(`${s.periodStart.slice(0, 10)}T00:00:00Z`);
  if (s.grain === 'day') return { from: dateText(start), to: dateText(start + DAY_MS) };
  if (s.grain === 'week') return { from: dateText(start), to: dateText(start + 7 * DAY_MS) };
  const d = new Date(start);
  return { from: dateText(start), to: dateText(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)) };
}

const chTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const bucketKey = (grain: string, periodStart: string) => `${grain} ${periodStart}`;
const BUCKET_KEY_SQL = "concat(grain, ' ', toString(period_start))";
const list = (values: Iterable<string>) => [...new Set(values)].map(sqlString).join(', ');

/**
 * A day that a report of a batch has left: an earlier version of it was on that day, written in
 * another UTC offset (see migration 006). Its series cell must be recomputed without the report,
 * and its slices marked.
 */
export interface LeftDay {
  measure: string;
  subject: string;
  /** 'YYYY-MM-DD 00:00:00' */
  day: string;
}

/** The filter on report identity columns that selects a batch's series around its days (and the days some of its reports left). */
function seriesWhere(reports: Record<string, unknown>[], left: LeftDay[]): { where: string; buckets: Set<string>; partitions: number[] } {
  const buckets = new Set<string>();
  let lo = Infinity;
  let hi = -Infinity;
  const days = [
    ...reports.flatMap((r) => slicesOfReport(r).filter((s) => s.grain === 'day')),
    ...left.map((l) => ({ measure: l.measure, grain: 'day' as const, periodStart: l.day })),
  ];
  for (const s of days) {
    buckets.add(bucketKey(s.grain, s.periodStart));
    const { from, to } = sliceDates(s);
    lo = Math.min(lo, Date.parse(`${from}T00:00:00Z`));
    hi = Math.max(hi, Date.parse(`${to}T00:00:00Z`));
  }
  // NOTE: only identity columns may be filtered before the latest versions are taken: partition,
  // measure, subject and period_start_utc are all part of a report's identity. Local dates lie
  // within 14 hours of period_start_utc, so the UTC window is widened by a day on each side.
  const partitions = [...new Set(reports.map((r) => Number(r.kafka_partition)))];
  const where = `kafka_partition IN (${partitions.join(', ')}) AND measure IN (${list(reports.map((r) => r.measure as string))})
          AND subject IN (${list(reports.map((r) => r.subject as string))})
          AND period_start_utc >= toDateTime('${chTime(lo - DAY_MS)}', 'UTC') AND period_start_utc < toDateTime('${chTime(hi + DAY_MS)}', 'UTC')`;
  return { where, buckets, partitions };
}

/**
 * The days that reports of a batch have left (already in ClickHouse): each day another version of
 * one of them was on, other than its own. Rare (a correction in another UTC offset), so the read
 * returns only reports that have been on more than one day.
 */
export async function daysLeft(client: ClickHouseClient, db: string, reports: Record<string, unknown>[]): Promise<LeftDay[]> {
  if (reports.length === 0) return [];
  const rs = await client.query({
    query: `SELECT business_key, groupUniqArray(toString(day)) AS days FROM ${db}.report_days
      WHERE ${seriesWhere(reports, []).where}
      GROUP BY business_key HAVING uniqExact(day) > 1`,
    format: 'JSONEachRow',
  });
  const daysOf = new Map((await rs.json<{ business_key: string; days: string[] }>()).map((r) => [r.business_key, r.days]));
  const left = new Map<string, LeftDay>();
  for (const r of reports) {
    const own = (r.grain_starts as string[])[0];
    for (const day of daysOf.get(r.business_key as string) ?? []) {
      if (day !== own) left.set([r.measure, r.subject, day].join(KEY_SEPARATOR), { measure: r.measure as string, subject: r.subject as string, day });
    }
  }
  return [...left.values()];
}

/** The slices of the days some reports left, for their subjects. */
export function slicesLeft(left: LeftDay[]): Mark[] {
  return left.flatMap((l) => {
    const b = grainBuckets(l.day.slice(0, 10));
    return b.grains.map((grain, i) => ({ slice: { measure: l.measure, grain: grain as Slice['grain'], periodStart: b.starts[i]! }, subjects: [l.subject] }));
  });
}

/**
 * INSERT ... SELECT that recomputes the day series cells (sitrep.series_cells) touched by batches of
 * report rows from some Kafka partitions, each partition's cells stamped with the last offset of its
 * batch (`versions`), which must be in ClickHouse already. Each cell is derived from the latest
 * versions of its series' reports on its partition on its day: per population, the `sum` of the
 * present values and the value of the latest period that has one (the larger of two for one
 * instant); `error` reports contribute
 * nothing. Every day in the batches is recomputed for every subject in them, on every partition
 * among them (a superset of what changed, which is harmless: a recomputation is derived, and every
 * report up to each partition's stamp is written). So are the days some of them `left` (daysLeft):
 * a series may have no report left there, so each such day also reads the reports that ever were on
 * it (report_days), as empty rows, which give the cell when nothing else does (received at 0, so
 * that they never set a cell's updated_at).
 *
 * Only days: a week's or a month's cell of a series is the same two figures over its days' cells
 * (sums add up, the latest is the latest of the latest), which the subject step combines as it
 * reads them. Computing week and month cells here took every report of the series in the month
 * again on each new day: ~1 s of ClickHouse a batch in bench:aggregator, against ~0.3 s now.
 *
 * Reports are combined population-array-wise (-ForEach) per population layout, because grouping one
 * row per population costs several times more; a series whose reports differ in layout gets one
 * entry per layout in the cell's arrays, which the subject step (subject-cells.ts) combines by the
 * same rules it uses across partitions.
 */
export function seriesCellsSql(db: string, versions: Map<number, string>, reports: Record<string, unknown>[], left: LeftDay[] = []): string {
  const { where, buckets, partitions } = seriesWhere(reports, left);
  // `keep` is the length a report's population arrays keep: all of them, or none for `error` reports.
  const kept = (array: string) => `arraySlice(${array}, 1, keep)`;
  // `grains` lists 'day' first (transform.ts): the day bucket is element 1 of the bucket arrays.
  // Each partition's cells are stamped with the last offset of its batch.
  const version = `arrayElement([${partitions.map((p) => `toUInt64(${BigInt(versions.get(p)!).toString()})`).join(', ')}], indexOf([${partitions.join(', ')}], kafka_partition))`;
  const leftRows = left.length === 0 ? '' : `
      UNION ALL
      SELECT measure, subject, reporter, kafka_partition, toUInt64(0) AS keep, subject_is_region, region_types AS own_types,
             regions AS own_regions, period_start_utc AS period_instant, toDateTime(0, 'UTC') AS received_at, 'day' AS grain, day AS period_start,
             day_end AS bucket_end, emptyArrayString() AS pop_group_keys, emptyArrayString() AS pop_keys,
             emptyArrayFloat64() AS pop_values, emptyArrayUInt8() AS pop_present
      FROM ${db}.report_days
      WHERE ${where} AND day IN (${list(left.map((l) => l.day))})`;
  return `INSERT INTO ${db}.series_cells
  (measure, grain, period_start, subject, reporter, kafka_partition, period_end, subject_is_region, own_types, own_regions,
   group_keys, pop_keys, sums, presents, latest_values, latest_ats, updated_at, version)
SELECT any(measure), grain, period_start, any(subject), any(reporter), kafka_partition, any(bucket_end), any(subject_is_region),
       any(own_types), any(own_regions), groupArrayArray(gks), groupArrayArray(pks), groupArrayArray(ss), groupArrayArray(prs),
       groupArrayArray(lvs), groupArrayArray(las), max(upd), ${version}
FROM
(
  SELECT series, kafka_partition, grain, period_start, gks, pks, any(measure) AS measure, any(subject) AS subject, any(reporter) AS reporter,
         any(bucket_end) AS bucket_end, any(subject_is_region) AS subject_is_region,
         any(own_types) AS own_types, any(own_regions) AS own_regions,
         sumForEach(vs) AS ss, maxForEach(ps) AS prs, argMaxForEach(vs, tvs) AS lvs, maxForEach(ts) AS las, max(received_at) AS upd
  FROM
  (
    SELECT cityHash64(measure, subject, reporter) AS series, measure, subject, reporter, kafka_partition, grain, period_start, bucket_end,
           subject_is_region, own_types, own_regions, received_at,
           ${kept('pop_group_keys')} AS gks, ${kept('pop_keys')} AS pks, ${kept('pop_present')} AS ps,
           ${kept('arrayMap((v, p) -> if(p = 1, v, 0), pop_values, pop_present)')} AS vs,
           ${kept("arrayMap((p, t) -> if(p = 1, t, toDateTime(0, 'UTC')), pop_present, replicate(period_instant, pop_present))")} AS ts,
           -- The latest value's order: by instant, then (two reports of the series for one instant) the
           -- larger value, as the subject step breaks ties, so no tie is decided by the order rows
           -- are read in. Exact: a DateTime is 32 bits and a count a 32-bit integer (validated).
           arrayMap((t, v) -> toUInt64(t) * 4294967296 + toUInt64(v + 2147483648), ts, vs) AS tvs
    FROM
    (
      SELECT measure, subject, reporter, kafka_partition, if(status = 'error', 0, length(pop_keys)) AS keep, subject_is_region,
             region_types AS own_types, regions AS own_regions, period_start_utc AS period_instant, received_at,
             grains[1] AS grain, grain_starts[1] AS period_start, grain_ends[1] AS bucket_end, pop_group_keys, pop_keys, pop_values, pop_present
      FROM
      (
        -- Only the columns needed: the resource JSON is most of a row.
        ${latestRowsSql(`${db}.reports`, 'business_key', where, `measure, subject, reporter, kafka_partition, status, subject_is_region, region_types,
               regions, period_start_utc, received_at, grains, grain_starts, grain_ends, pop_group_keys, pop_keys, pop_values, pop_present`)}
      )${leftRows}
    )
    WHERE ${BUCKET_KEY_SQL} IN (${list(buckets)})
  )
  GROUP BY series, kafka_partition, grain, period_start, gks, pks
)
GROUP BY series, kafka_partition, grain, period_start`;
}

/**
 * The current version of each row (`key`) of a ReplacingMergeTree(version) table that `where`
 * selects, read without FINAL: 18.16 merges the array columns of several parts under FINAL 2-5x
 * slower than it reads and sorts them (measured on the cell tables and reports with 5-13 parts).
 * A repeat of one version (a record or recomputation redone) is one row. NOTE: `where` may filter
 * only identity columns: a filter on another column could drop the newest version of a row and
 * resurrect an older one (this holds for every read of versioned rows here). `columns` must include
 * the key's. For reads into the aggregator, newestRows is cheaper.
 */
function latestRowsSql(table: string, key: string, where: string, columns: string): string {
  return `SELECT ${key}, ${columns} FROM ${table} WHERE ${where} ORDER BY version DESC LIMIT 1 BY ${key}`;
}

/** UInt64 text (as ClickHouse prints it in JSON: no leading zeros) compared as numbers. */
const laterVersion = (a: string, b: string) => (a.length !== b.length ? a.length > b.length : a > b);

/**
 * The newest version of each row (by `keyOf`) among rows read with all their versions, as a merge
 * of a ReplacingMergeTree(version) table keeps it; a repeat of one version is one row. The cell
 * reads take it here rather than with latestRowsSql: 18.16 sorts whole rows, arrays and all, for
 * `ORDER BY version DESC LIMIT 1 BY`. Measured at a month's end, on the day cells of 2,000
 * subjects for a month slice (62,000 rows): 3.0 s to sort against 0.4 s to read every version
 * (~80,000 rows), whose extra JSON costs far less than the sort. Not an `IN` over a subquery of
 * the newest versions, as fast: 18.16 reads that subquery before the table itself, and a merge in
 * between can drop a row from both reads. One read is one snapshot of the table's parts.
 */
export function newestRows<T extends { version: string }>(rows: Iterable<T>, keyOf: (row: T) => string): Map<string, T> {
  const newest = new Map<string, T>();
  for (const row of rows) {
    const key = keyOf(row);
    const seen = newest.get(key);
    if (!seen || laterVersion(row.version, seen.version)) newest.set(key, row);
  }
  return newest;
}

/** The local dates of some slices, as the period_start of day cells. */
function daysOf(dues: Due[]): string[] {
  const days = new Set<string>();
  for (const { slice } of dues) {
    const { from, to } = sliceDates(slice);
    for (let day = Date.parse(`${from}T00:00:00Z`); day < Date.parse(`${to}T00:00:00Z`); day += DAY_MS) days.add(`${dateText(day)} 00:00:00`);
  }
  return [...days];
}

/** The day series cells over the dates of some slices of one Measure (the list lets the primary key narrow the read). */
function daysWhere(measure: string, dues: Due[]): string {
  const days = daysOf(dues).map((d) => `toDateTime(${sqlString(d)}, 'UTC')`);
  return `measure = ${sqlString(measure)} AND grain = 'day' AND period_start IN (${days.join(', ')})`;
}

/** The exact filter of some slices of one Measure in a table of slice cells (grain and start lists let the primary key narrow the read). */
function slicesWhere(measure: string, dues: Due[]): string {
  const grains = list(dues.map(({ slice }) => slice.grain));
  const starts = [...new Set(dues.map(({ slice }) => `toDateTime(${sqlString(slice.periodStart)}, 'UTC')`))].join(', ');
  const keys = list(dues.map(({ slice }) => bucketKey(slice.grain, slice.periodStart)));
  return `measure = ${sqlString(measure)} AND grain IN (${grains}) AND period_start IN (${starts}) AND ${BUCKET_KEY_SQL} IN (${keys})`;
}

/** The day series cells the subject step reads (`where`: days and subjects), every version (newestRows picks). */
function seriesCellsOfSql(db: string, where: string): string {
  // The latest-period times as epoch seconds: far cheaper for 18.16 to print than DateTime strings,
  // and the subject step only compares them.
  return `SELECT toString(start) AS period_start, subject, reporter, kafka_partition, version, subject_is_region,
       own_types, own_regions, group_keys, pop_keys, sums, presents, latest_values, arrayMap(t -> toUInt32(t), ats) AS latest_ats,
       toString(updated) AS updated_at
FROM
(
  SELECT period_start AS start, subject, reporter, kafka_partition, version, subject_is_region, own_types, own_regions, group_keys,
         pop_keys, sums, presents, latest_values, latest_ats AS ats, updated_at AS updated
  FROM ${db}.series_cells WHERE ${where}
)`;
}

/** A day series cell as the subject step reads it: its slices give it grain and period_end. */
type DayCell = Omit<SeriesCell, 'grain' | 'period_end'> & { kafka_partition: number; version: string };

/**
 * Day series cells as the cells of the slices among `dues` that hold their day: a week's or a
 * month's series cell is its days' cells taken together, which subject-cells.ts does by the same
 * rules it applies to one series' cells on several partitions.
 */
function asSliceCells(days: Iterable<DayCell>, dues: Due[]): SeriesCell[] {
  const wanted = new Set(dues.map(({ slice }) => bucketKey(slice.grain, slice.periodStart)));
  const bucketsOf = new Map<string, { grain: string; start: string; end: string }[]>();
  const out: SeriesCell[] = [];
  for (const day of days) {
    let buckets = bucketsOf.get(day.period_start);
    if (!buckets) {
      const b = grainBuckets(day.period_start.slice(0, 10));
      buckets = b.grains.map((grain, i) => ({ grain, start: b.starts[i]!, end: b.ends[i]! })).filter((x) => wanted.has(bucketKey(x.grain, x.start)));
      bucketsOf.set(day.period_start, buckets);
    }
    for (const b of buckets) out.push({ ...day, grain: b.grain, period_start: b.start, period_end: b.end });
  }
  return out;
}

/** A registered Measure's populations by (group key, population key); empty when it is not registered. */
async function populationRules(client: ClickHouseClient, db: string, measure: string): Promise<Map<string, PopulationRule>> {
  const rs = await client.query({
    query: `SELECT group_key, population_key, group_code, population_code, time_agg, role FROM ${db}.measure_populations WHERE measure = ${sqlString(measure)}`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ group_key: string; population_key: string; group_code: string; population_code: string; time_agg: string; role: string }>();
  return new Map(
    rows.map((r) => [
      populationKey(r.group_key, r.population_key),
      { groupCode: r.group_code, populationCode: r.population_code, latest: r.time_agg === 'latest', ...(r.role ? { role: r.role } : {}) },
    ]),
  );
}

/** Every subject that has series cells in some slices of one Measure. */
async function subjectsOf(client: ClickHouseClient, db: string, measure: string, dues: Due[]): Promise<string[]> {
  const rs = await client.query({ query: `SELECT DISTINCT subject FROM ${db}.series_cells WHERE ${daysWhere(measure, dues)}`, format: 'JSONEachRow' });
  return (await rs.json<{ subject: string }>()).map((r) => r.subject);
}

/**
 * The subject cells of some subjects in some slices of one Measure, from their series cells (the
 * maths in subject-cells.ts), each stamped with its slice's version. Subject cells hold every
 * population of the Measure, so each rewrite overwrites every facility row an older one wrote
 * (ClickHouse writes them as it inserts the cells, migration 004); a population with nothing to
 * count is a zero row that `rollups` leaves out (migration 003).
 */
async function subjectCellsOf(
  client: ClickHouseClient,
  db: string,
  measure: string,
  dues: Due[],
  subjects: string[],
  rules: Map<string, PopulationRule>,
  populations: (readonly [string, string])[],
): Promise<SubjectCell[]> {
  const where = `${daysWhere(measure, dues)} AND subject IN (${list(subjects)})`;
  const rs = await client.query({ query: seriesCellsOfSql(db, where), format: 'JSONEachRow' });
  const versions = new Map(dues.map((d) => [bucketKey(d.slice.grain, d.slice.periodStart), d.version]));
  // Day cells only: the key is the day, series and partition.
  const days = newestRows(await rs.json<DayCell>(), (c) => `${c.period_start} ${c.subject} ${c.reporter} ${c.kafka_partition}`).values();
  return subjectCells(measure, asSliceCells(days, dues), rules, (grain, start) => versions.get(bucketKey(grain, start))!, populations);
}

/** An insert started now and awaited later: marked handled at once, so that its failure is not an unhandled rejection meanwhile. */
function started(insert: Promise<unknown>): Promise<void> {
  const done = insert.then(() => undefined);
  done.catch(() => undefined);
  return done;
}

/**
 * The populations every subject cell of a recomputation lists: the Measure's own, and when every
 * subject is recomputed (the Measure changed), also those its facility rows have now, so that a
 * population the Measure dropped gets zero rows too.
 */
async function cellPopulations(client: ClickHouseClient, db: string, measure: string, dues: Due[], rules: Map<string, PopulationRule>): Promise<(readonly [string, string])[]> {
  const populations = [...rules.values()].map((r) => [r.groupCode, r.populationCode] as const);
  if (dues.every((d) => d.subjects !== null)) return populations;
  const rs = await client.query({
    query: `SELECT DISTINCT group_code, population_code FROM ${db}.facility_cells WHERE ${slicesWhere(measure, dues)}`,
    format: 'JSONEachRow',
  });
  const stored = (await rs.json<{ group_code: string; population_code: string }>()).map((r) => [r.group_code, r.population_code] as const);
  const unique = new Map([...populations, ...stored].map((p) => [populationKey(p[0], p[1]), p]));
  return [...unique.values()];
}

/** The current subject cells of some slices of one Measure, as the region step needs them, by slice key and subject. */
async function loadSliceCells(client: ClickHouseClient, db: string, measure: string, dues: Due[]): Promise<Map<string, Map<string, RegionInput>>> {
  // Strings for times (compared and written back as such) and UInt32 counts (JSON quotes 64-bit ones).
  const rs = await client.query({
    query: `SELECT grain, toString(start) AS period_start, subject, version, toString(end) AS period_end, subject_is_region, own_types,
       own_regions, group_codes, population_codes, vals, arrayMap(n -> toUInt32(n), rep) AS reporting, arrayMap(n -> toUInt32(n), mis) AS missing,
       toString(updated) AS updated_at
FROM
(
  SELECT grain, period_start AS start, subject, version, period_end AS end, subject_is_region, own_types, own_regions, group_codes,
         population_codes, vals, reporting AS rep, missing AS mis, updated_at AS updated
  FROM ${db}.subject_cells WHERE ${slicesWhere(measure, dues)}
)`,
    format: 'JSONEachRow',
  });
  const out = new Map<string, Map<string, RegionInput>>(dues.map((d) => [sliceKey(d.slice), new Map()]));
  const cells = newestRows(await rs.json<RegionInput & { version: string }>(), (c) => `${c.grain} ${c.period_start} ${c.subject}`);
  for (const cell of cells.values()) {
    out.get(sliceKey({ measure, grain: cell.grain as Slice['grain'], periodStart: cell.period_start }))?.set(cell.subject, cell);
  }
  return out;
}

/** Every facility's region chain (the facility_regions view), read once per recomputation: Locations change. */
async function facilityChains(client: ClickHouseClient, db: string): Promise<Map<string, Chain>> {
  const rs = await client.query({ query: `SELECT subject, region_types, regions FROM ${db}.facility_regions`, format: 'JSONEachRow' });
  const rows = await rs.json<{ subject: string; region_types: string[]; regions: string[] }>();
  return new Map(rows.map((r) => [r.subject, { types: r.region_types, regions: r.regions }]));
}

/**
 * The current subject cells of some slices of one Measure: kept in `cache` by this consumer, or
 * read once from ClickHouse when it has not got them.
 */
async function sliceCells(client: ClickHouseClient, db: string, measure: string, dues: Due[], cache: OwnedMaps<RegionInput>): Promise<Map<string, Map<string, RegionInput>>> {
  const slices = new Map<string, Map<string, RegionInput>>();
  for (const d of dues) {
    const cached = cache.get(sliceKey(d.slice));
    if (cached) slices.set(sliceKey(d.slice), cached);
  }
  const missing = dues.filter((d) => !slices.has(sliceKey(d.slice)));
  if (missing.length > 0) for (const [key, cells] of await loadSliceCells(client, db, measure, missing)) slices.set(key, cells);
  return slices;
}

/** Lists in a query stay well under ClickHouse's 50,000 AST elements (max_ast_elements). */
const MAX_LISTED = 5000;
/** Subject cells kept between recomputations, in all slices (~1 kB each). */
export const SLICE_CELLS_KEPT = 200_000;
/** Slices recomputed together: their subject cells are held in memory at once. */
const SLICES_PER_PASS = 8;
/** Subjects whose series cells are read into memory at once (a row per subject, series and slice). */
const SUBJECTS_PER_READ = 2000;

export function chunks<T>(items: T[], size = MAX_LISTED): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Recomputes the due slices, per Measure: subject cells of the named subjects, then region cells
 * (from the subject cells, so inserted alongside them), then records the slices as current (cells
 * first, so a slice never points at missing cells).
 * `check` throws when the work should stop (this consumer lost the slices); it is called between parts.
 * `cache` keeps slices' subject cells between recomputations (see OwnedMaps): pass the consumer's own.
 */
export async function recompute(
  client: ClickHouseClient,
  db: string,
  due: Map<string, Due>,
  check: () => void = () => undefined,
  cache: OwnedMaps<RegionInput> = new OwnedMaps(SLICE_CELLS_KEPT),
): Promise<void> {
  if (due.size === 0) return;
  const now = chTime(Date.now());
  const byMeasure = new Map<string, Due[]>();
  for (const d of due.values()) byMeasure.set(d.slice.measure, [...(byMeasure.get(d.slice.measure) ?? []), d]);
  // Read while the subject step runs.
  let chainOf = new Map<string, Chain>();
  const chains = started(facilityChains(client, db).then((c) => (chainOf = c)));
  for (const [measure, all] of byMeasure) {
    const rules = await populationRules(client, db, measure);
    const current: MeasureRules = {
      populations: new Set([...rules.values()].map((r) => populationKey(r.groupCode, r.populationCode))),
      scores: scoreRules(rules.values()),
    };
    // A few slices at a time: what is held in memory is bounded (a Measure change marks all its slices).
    for (const dues of chunks(all, SLICES_PER_PASS)) {
      const generation = cache.generation;
      const slices = await sliceCells(client, db, measure, dues, cache);
      // One pass for these slices: their subjects united (a superset is harmless).
      const named = dues.some((d) => d.subjects === null) ? await subjectsOf(client, db, measure, dues) : [...new Set(dues.flatMap((d) => [...d.subjects!]))];
      const populations = await cellPopulations(client, db, measure, dues, rules);
      // Each part's subject cells are inserted while the next part is read and computed, and the
      // last part's while the region cells are computed and inserted: the region step needs the
      // cells, not their insert, and a region row is visible as soon as it is written. One insert
      // at a time; all of them done before the slices are recorded as current.
      let inserting: Promise<void> = Promise.resolve();
      for (const some of chunks(named, SUBJECTS_PER_READ)) {
        check();
        const cells = await subjectCellsOf(client, db, measure, dues, some, rules, populations);
        for (const cell of cells) slices.get(sliceKey({ measure, grain: cell.grain as Slice['grain'], periodStart: cell.period_start }))?.set(cell.subject, cell);
        await inserting;
        if (cells.length > 0) inserting = started(client.insert({ table: `${db}.subject_cells`, values: cells, format: 'JSONEachRow' }));
      }
      check();
      await chains;
      const rows = dues.flatMap((d) => regionCells(measure, slices.get(sliceKey(d.slice))!.values(), (s) => chainOf.get(s), d.version, current));
      const regions = rows.length > 0 ? started(client.insert({ table: `${db}.rollup_cells`, values: rows, format: 'JSONEachRow' })) : undefined;
      await Promise.all([inserting, regions]);
      for (const [key, cells] of slices) cache.set(key, cells, generation);
    }
  }
  await client.insert({
    table: `${db}.rollup_slices`,
    values: [...due.values()].map(({ slice, version }) => ({
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

/** Every slice that has series cells: all the rollups there are (to recompute after markers were lost). */
export async function allSlices(client: ClickHouseClient, db: string): Promise<Slice[]> {
  const rs = await client.query({ query: `SELECT DISTINCT measure, toString(period_start) AS day FROM ${db}.series_cells WHERE grain = 'day'`, format: 'JSONEachRow' });
  const slices = new Map<string, Slice>();
  for (const { measure, day } of await rs.json<{ measure: string; day: string }>()) {
    const b = grainBuckets(day.slice(0, 10));
    b.grains.forEach((grain, i) => {
      const slice = { measure, grain: grain as Slice['grain'], periodStart: b.starts[i]! };
      slices.set(sliceKey(slice), slice);
    });
  }
  return [...slices.values()];
}

/** Every slice that holds a report of these subjects (after a Location or Organization changed). */
export async function slicesOfSubjects(client: ClickHouseClient, db: string, subjects: string[]): Promise<Slice[]> {
  if (subjects.length === 0) return [];
  return slicesMatching(client, db, `subject IN (${subjects.map(sqlString).join(', ')})`);
}

/** Every slice that holds a report of this Measure (after the Measure was registered or changed). */
export async function slicesOfMeasure(client: ClickHouseClient, db: string, measureUrl: string): Promise<Slice[]> {
  return slicesMatching(client, db, `measure = ${sqlString(measureUrl)}`);
}

async function slicesMatching(client: ClickHouseClient, db: string, where: string): Promise<Slice[]> {
  // Identity columns only (subject, measure): safe to filter before dedup. No FINAL: every version
  // of a report is in the same slices, but for the day it is on (migration 006), and a slice that a
  // report has left holds an empty cell of it, so the older versions' slices are harmless extras.
  const rs = await client.query({
    query: `SELECT DISTINCT measure, grain, period_start FROM ${db}.reports ARRAY JOIN grains AS grain, grain_starts AS period_start WHERE ${where}`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ measure: string; grain: Slice['grain']; period_start: string }>();
  return rows.map((r) => ({ measure: r.measure, grain: r.grain, periodStart: r.period_start }));
}

/**
 * Identifiers a facility can be reported under, for these Locations and Organizations, in any of
 * their versions (migration 007): those they name now and those they named before a change. Read
 * after the change is written, and the same when a step is redone.
 */
export async function facilityKeys(client: ClickHouseClient, db: string, locationIds: string[], orgIds: string[]): Promise<string[]> {
  if (locationIds.length === 0 && orgIds.length === 0) return [];
  const loc = locationIds.length ? list(locationIds) : "''";
  const org = orgIds.length ? list(orgIds) : "''";
  const named = `${db}.facility_keys_named`;
  const rs = await client.query({
    query: `SELECT DISTINCT key FROM ${named}
      WHERE (kind = 'location' AND (id IN (${loc}) OR id IN (SELECT id FROM ${named} WHERE kind = 'managed-by' AND key IN (${org}))))
         OR (kind = 'organization' AND (id IN (${org}) OR id IN (SELECT key FROM ${named} WHERE kind = 'managed-by' AND id IN (${loc}))))`,
    format: 'JSONEachRow',
  });
  return (await rs.json<{ key: string }>()).map((r) => r.key);
}
