-- The analyst contract (views that give the current answer with no FINAL, argMax or versions),
-- and the views the rollup recomputation reads. See docs/analyst-guide.md and ARCHITECTURE.md.

CREATE VIEW IF NOT EXISTS {db}.reports_latest AS
SELECT id, business_key, measure, subject, reporter, period_start, period_end, local_date,
       status, version, kafka_partition, received_at, request_id, sender, resource
FROM {db}.reports FINAL;

-- Facility identifier -> its chain above the facility (county, state, country, all), from the
-- latest Location that names it directly or through its managing Organization.
CREATE VIEW IF NOT EXISTS {db}.facility_regions AS
SELECT subject, argMax(region_types, location_version) AS region_types, argMax(regions, location_version) AS regions
FROM
(
  SELECT arrayConcat(identifiers, org_identifiers) AS keys, version AS location_version, region_types, regions
  FROM
  (
    SELECT location_id, version, identifiers, managing_org, region_types, regions FROM {db}.locations FINAL
  )
  ANY LEFT JOIN
  (
    SELECT org_id AS managing_org, identifiers AS org_identifiers FROM {db}.organizations FINAL
  ) USING managing_org
)
ARRAY JOIN keys AS subject
GROUP BY subject;

-- Population definitions of every registered Measure: how each aggregates over time.
CREATE VIEW IF NOT EXISTS {db}.measure_populations AS
SELECT url AS measure, group_key, population_key, group_code, population_code, role, time_agg
FROM (SELECT * FROM {db}.measures FINAL)
ARRAY JOIN group_keys AS group_key, pop_keys AS population_key, group_codes AS group_code,
           pop_codes AS population_code, pop_roles AS role, time_aggs AS time_agg;

-- Stored region cells (every region type but facility). A slice (measure, grain, period_start) is
-- recomputed as a whole from its subject cells (services/aggregator/src/rollups.ts) and written with
-- the version of the recomputation; rollup_slices records which version of each slice is current.
CREATE TABLE IF NOT EXISTS {db}.rollup_cells (
  measure String,
  grain String,
  period_start DateTime('UTC'),
  region_type String,
  region String,
  group_code String,
  population_code String,
  period_end DateTime('UTC'),
  value Float64,
  subjects_reporting UInt64,
  subjects_missing UInt64,
  updated_at DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (measure, grain, period_start, region_type, region, group_code, population_code);

-- One row per (measure, grain, period_start, subject): a subject's values in a slice, its series
-- (one per reporter) combined, as arrays over (group, population); the input of the region cells
-- and the facility rows of `rollups`. Rewritten whole, only for the subjects a slice marker names,
-- stamped with the marker's offset (empty arrays when nothing of the subject counts any more).
CREATE TABLE IF NOT EXISTS {db}.subject_cells (
  measure String,
  grain String,
  period_start DateTime('UTC'),
  subject String,
  period_end DateTime('UTC'),
  subject_is_region UInt8,
  own_types Array(String),
  own_regions Array(String),
  group_codes Array(String),
  population_codes Array(String),
  vals Array(Float64),
  reporting Array(UInt64),
  missing Array(UInt64),
  updated_at DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (measure, grain, period_start, subject)
-- Small granules: the recomputations read a few subjects' rows at a time.
SETTINGS index_granularity = 1024;

-- The facility rows of `rollups`, a row per population: the facility subject cells exploded, each
-- row stamped with the version of the subject cell it came from. Stored (not an ARRAY JOIN in the
-- view) because 18.16 does not push an analyst's filter into a view that has an ARRAY JOIN; rows of
-- an older subject cell (e.g. a population that is gone) are hidden by the version test in the view.
CREATE TABLE IF NOT EXISTS {db}.facility_cells (
  measure String,
  grain String,
  period_start DateTime('UTC'),
  subject String,
  group_code String,
  population_code String,
  period_end DateTime('UTC'),
  value Float64,
  subjects_reporting UInt64,
  subjects_missing UInt64,
  updated_at DateTime('UTC'),
  version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(period_start)
ORDER BY (measure, grain, period_start, subject, group_code, population_code)
-- Small granules: the recomputations read a few subjects' rows at a time.
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS {db}.rollup_slices (
  measure String,
  grain String,
  period_start DateTime('UTC'),
  version UInt64,
  computed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
ORDER BY (measure, grain, period_start);

-- One row per (measure, group, population, region, grain, period). Region cells are the current
-- recomputation of each slice (older cells that the newer one no longer has, e.g. 'unresolved' after
-- the Location arrived, are left out by the version test); facility rows are those of the current
-- subject cell of each facility (the same version test).
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
  WHERE version >= slice_version
)
UNION ALL
SELECT measure, group_code, population_code, 'facility' AS region_type, subject AS region, grain, period_start, period_end,
       value, subjects_reporting, subjects_missing, updated_at
FROM
(
  SELECT * FROM (SELECT * FROM {db}.facility_cells FINAL)
  ANY INNER JOIN
  (
    SELECT measure, grain, period_start, subject, version AS subject_version FROM {db}.subject_cells FINAL
  ) USING (measure, grain, period_start, subject)
  WHERE version >= subject_version
)
