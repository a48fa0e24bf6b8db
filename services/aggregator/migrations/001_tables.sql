-- Storage tables. Every table is a ReplacingMergeTree keyed by identity with the Kafka offset as
-- version: re-inserting a redelivered record changes nothing, a later version replaces an earlier
-- one. Rollups are never stored incrementally (see 002_views.sql and ARCHITECTURE.md for why).
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
ORDER BY (measure, subject, business_key);

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
ORDER BY org_id
