-- Every local day each report has had, over all its versions: a correction can move a report to
-- another day, when it writes the same period.start instant in another UTC offset
-- (2020-04-01T20:00:00-05:00 and 2020-04-02T01:00:00Z are one report, but the first is on April 1st
-- and the second on April 2nd). The day it left must then be recomputed without it, and `reports`
-- cannot say which day that was once a merge has dropped the older version. These rows are never
-- dropped: a row per (report, day), written by ClickHouse inside each INSERT into `reports` (a
-- per-row transformation, so a redone insert writes the same rows), with what a series cell of that
-- day needs when no report is left in it (rollups.ts, seriesCellsSql).
CREATE TABLE IF NOT EXISTS {db}.report_days (
  kafka_partition UInt16,
  measure String,
  subject String,
  business_key String,
  day DateTime('UTC'),
  reporter String,
  period_start_utc DateTime('UTC'),
  day_end DateTime('UTC'),
  subject_is_region UInt8,
  region_types Array(String),
  regions Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(period_start_utc)
-- The series step reads a batch's subjects within a day of its periods: period_start_utc (the same
-- in every version of a report) before the key, so that a month's history is not read for it.
ORDER BY (kafka_partition, measure, subject, period_start_utc, business_key, day)
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.report_days_from_reports TO {db}.report_days AS
SELECT kafka_partition, measure, subject, business_key, grain_starts[1] AS day, reporter, period_start_utc, grain_ends[1] AS day_end,
       subject_is_region, region_types, regions
FROM {db}.reports;

-- The days of the reports written before this migration (those whose older versions were merged
-- away are lost; a re-run writes the same rows again, which the table folds into one).
INSERT INTO {db}.report_days
SELECT kafka_partition, measure, subject, business_key, grain_starts[1] AS day, reporter, period_start_utc, grain_ends[1] AS day_end,
       subject_is_region, region_types, regions
FROM {db}.reports;
