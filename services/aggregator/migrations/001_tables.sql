-- Storage tables. Every table is a ReplacingMergeTree keyed by identity with the Kafka offset as
-- version: re-inserting a redelivered record changes nothing, a later version replaces an earlier
-- one. Rollups are never stored incrementally: every stored rollup row is a recomputation (see
-- 002_views.sql, services/aggregator/src/rollups.ts and ARCHITECTURE.md for why).
-- Runs on ClickHouse 18.16 and current servers: no LowCardinality, DateTime64, Map, CODEC, TTL.

CREATE TABLE IF NOT EXISTS {db}.reports (
  business_key String,
  version UInt64,
  kafka_partition UInt16,
  id String,
  measure String,
  subject String,
  reporter String,
  period_start String,
  period_end String,
  period_start_utc DateTime('UTC'),
  period_end_utc DateTime('UTC'),
  local_date Date,
  status String,
  received_at DateTime('UTC'),
  request_id String,
  sender String,
  resource String,
  subject_is_region UInt8,
  region_types Array(String),
  regions Array(String),
  grains Array(String),
  grain_starts Array(DateTime('UTC')),
  grain_ends Array(DateTime('UTC')),
  pop_group_keys Array(String),
  pop_keys Array(String),
  pop_values Array(Float64),
  pop_present Array(UInt8)
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start_utc)
-- Partition first: the series recomputation after each batch reads one Kafka partition's reports
-- (every version of a report is on one partition, so deduplication is unaffected).
ORDER BY (kafka_partition, measure, subject, business_key)
-- Small granules: the recomputations read a few subjects' rows at a time.
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.measures (
  url String,
  version UInt64,
  id String,
  received_at DateTime('UTC'),
  resource String,
  group_keys Array(String),
  group_codes Array(String),
  pop_keys Array(String),
  pop_codes Array(String),
  pop_roles Array(String),
  time_aggs Array(String)
) ENGINE = ReplacingMergeTree(version)
ORDER BY url;

CREATE TABLE IF NOT EXISTS {db}.locations (
  location_id String,
  version UInt64,
  received_at DateTime('UTC'),
  identifiers Array(String),
  managing_org String,
  region_types Array(String),
  regions Array(String),
  resource String
) ENGINE = ReplacingMergeTree(version)
ORDER BY location_id;

CREATE TABLE IF NOT EXISTS {db}.organizations (
  org_id String,
  version UInt64,
  received_at DateTime('UTC'),
  identifiers Array(String),
  resource String
) ENGINE = ReplacingMergeTree(version)
ORDER BY org_id;

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
ORDER BY (measure, grain, period_start, subject, reporter, kafka_partition)
-- Small granules: the recomputations read a few subjects' rows at a time.
SETTINGS index_granularity = 1024;
