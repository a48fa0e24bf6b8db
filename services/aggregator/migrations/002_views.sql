-- The analyst contract: views that give the current answer with no FINAL, argMax or versions.
-- Rollups are computed on read from the latest version of every report (FINAL on the storage
-- table), so a correction replaces the old report everywhere and a redelivered record counts
-- once: exact by construction. See docs/analyst-guide.md.

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

-- One row per (measure, group, population, region, grain, period). Steps, inside out:
-- 1. latest version of each report (FINAL), 'error' reports left out, one row per population;
-- 2. one row per grain bucket (day, ISO week, month of period.start in the report's own offset);
-- 3. within one series (subject + reporter) over time: 'sum' adds the periods, 'latest' takes the
--    value of the latest period that has one; data-absent counts are left out, never zeros;
-- 4. each series to its region chain (its own for region subjects; from its Location for
--    facilities; 'unresolved' while the Location is unknown), then summed across subjects.
CREATE VIEW IF NOT EXISTS {db}.rollups AS
SELECT
  measure, group_code, population_code, region_type, region, grain, period_start,
  any(bucket_end) AS period_end,
  sum(series_value) AS value,
  toUInt64(sum(series_present)) AS subjects_reporting,
  toUInt64(count() - sum(series_present)) AS subjects_missing,
  max(series_updated_at) AS updated_at
FROM
(
  SELECT measure, group_code, population_code, grain, period_start, bucket_end,
         series_value, series_present, series_updated_at,
         if(subject_is_region = 1, own_types,
            if(empty(fac_types), ['facility', 'unresolved', 'all'], arrayConcat(['facility'], fac_types))) AS chain_types,
         if(subject_is_region = 1, own_regions,
            if(empty(fac_types), [subject, 'unresolved', 'all'], arrayConcat([subject], fac_regions))) AS chain_regions
  FROM
  (
    SELECT measure, group_code, population_code, subject, reporter, grain, period_start, bucket_end,
           any(subject_is_region) AS subject_is_region,
           any(own_types) AS own_types,
           any(own_regions) AS own_regions,
           if(time_agg = 'latest', argMaxIf(v, period_instant, present = 1), sumIf(v, present = 1)) AS series_value,
           toUInt8(max(present)) AS series_present,
           max(received_at) AS series_updated_at
    FROM
    (
      SELECT measure, subject, reporter, subject_is_region, own_types, own_regions, period_instant, received_at,
             group_key, population_key, v, present, grain, period_start, bucket_end
      FROM
      (
        SELECT measure, subject, reporter, subject_is_region, region_types AS own_types, regions AS own_regions,
               period_start_utc AS period_instant, received_at, grains, grain_starts, grain_ends,
               group_key, population_key, v, present
        FROM (SELECT * FROM {db}.reports FINAL WHERE status != 'error')
        ARRAY JOIN pop_group_keys AS group_key, pop_keys AS population_key, pop_values AS v, pop_present AS present
      )
      ARRAY JOIN grains AS grain, grain_starts AS period_start, grain_ends AS bucket_end
    )
    ANY INNER JOIN
    (
      SELECT measure, group_key, population_key, group_code, population_code, time_agg FROM {db}.measure_populations
    ) USING (measure, group_key, population_key)
    GROUP BY measure, group_code, population_code, time_agg, subject, reporter, grain, period_start, bucket_end
  )
  ANY LEFT JOIN
  (
    SELECT subject, region_types AS fac_types, regions AS fac_regions FROM {db}.facility_regions
  ) USING subject
)
ARRAY JOIN chain_types AS region_type, chain_regions AS region
GROUP BY measure, group_code, population_code, region_type, region, grain, period_start
