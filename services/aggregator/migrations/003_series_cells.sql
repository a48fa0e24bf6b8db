-- Two-level rollups (see ARCHITECTURE.md): per-series cells, recomputed from the few reports of one
-- series in one bucket, and region cells recomputed per slice from those series cells instead of
-- from every report in the slice. Facility rows of `rollups` now come straight from the series cells.
-- A database created before this migration fills series_cells only for reports consumed after it:
-- replay the reports topic (reset the aggregator group's offsets to the earliest) once after upgrading.

-- One row per (series, bucket, Kafka partition): the values of one series (subject + reporter) in
-- one day/week/month bucket, from the latest versions of its reports on that partition. Keyed by
-- partition because the version is that partition's offset: every report of the row, and every
-- version of each, is on that partition, so a higher version has seen every report a lower one did.
-- The arrays hold one entry per population of non-`error` reports; empty when every report of the
-- bucket is `error`, so a recomputation always replaces the whole row.
CREATE TABLE IF NOT EXISTS {db}.series_cells (
  measure String,
  grain String,
  period_start DateTime('UTC'),
  subject String,
  reporter String,
  kafka_partition UInt16,
  period_end DateTime('UTC'),
  subject_is_region UInt8,
  own_types Array(String),
  own_regions Array(String),
  group_keys Array(String),
  pop_keys Array(String),
  sums Array(Float64),
  presents Array(UInt8),
  latest_values Array(Float64),
  latest_ats Array(DateTime('UTC')),
  updated_at DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (measure, grain, period_start, subject, reporter, kafka_partition);

-- One row per (series, bucket, group, population) with the value over time by the Measure's
-- rateAggregation (`sum`, or `latest`: the value of the latest period that has one). Data-absent
-- counts are left out (present = 0), never zeros. Unregistered Measures have no rows here.
CREATE VIEW IF NOT EXISTS {db}.series_values AS
SELECT measure, grain, period_start, subject, reporter, group_code, population_code,
       any(bucket_end) AS period_end, any(subject_is_region) AS subject_is_region,
       any(own_types) AS own_types, any(own_regions) AS own_regions,
       if(any(time_agg) = 'latest', argMaxIf(lv, la, pr = 1), sumIf(s, pr = 1)) AS value,
       toUInt8(max(pr)) AS present,
       max(updated_at) AS updated_at
FROM
(
  SELECT measure, grain, period_start, subject, reporter, period_end AS bucket_end, subject_is_region, own_types, own_regions,
         updated_at, group_key, population_key, s, pr, lv, la
  FROM (SELECT * FROM {db}.series_cells FINAL)
  ARRAY JOIN group_keys AS group_key, pop_keys AS population_key, sums AS s, presents AS pr, latest_values AS lv, latest_ats AS la
)
ANY INNER JOIN
(
  SELECT measure, group_key, population_key, group_code, population_code, time_agg FROM {db}.measure_populations
) USING (measure, group_key, population_key)
GROUP BY measure, grain, period_start, subject, reporter, group_code, population_code;

-- 18.16 has no DROP VIEW; DROP TABLE drops a view.
DROP TABLE IF EXISTS {db}.rollups;

-- One row per (measure, group, population, region, grain, period). Region cells are the current
-- recomputation of each slice (older cells that the newer one no longer has, e.g. 'unresolved' after
-- the Location arrived, are left out by the version test); facility cells are their series summed
-- over reporters. Facility rows stored by recomputations before migration 003 are left out.
CREATE VIEW IF NOT EXISTS {db}.rollups AS
SELECT measure, group_code, population_code, region_type, region, grain, period_start, period_end,
       value, subjects_reporting, subjects_missing, updated_at
FROM
(
  SELECT * FROM (SELECT * FROM {db}.rollup_cells FINAL)
  ANY INNER JOIN
  (
    SELECT measure, grain, period_start, max(version) AS slice_version FROM {db}.rollup_slices GROUP BY measure, grain, period_start
  ) USING (measure, grain, period_start)
  WHERE version >= slice_version AND region_type != 'facility'
)
UNION ALL
SELECT measure, group_code, population_code, 'facility' AS region_type, subject AS region, grain, period_start,
       any(period_end) AS period_end, sum(value) AS value, toUInt64(sum(present)) AS subjects_reporting,
       toUInt64(count() - sum(present)) AS subjects_missing, max(updated_at) AS updated_at
FROM {db}.series_values
WHERE subject_is_region = 0
GROUP BY measure, group_code, population_code, subject, grain, period_start
