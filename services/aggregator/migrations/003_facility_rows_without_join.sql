-- The facility rows of `rollups` without the join to every subject cell (on 18.16 that join was
-- not narrowed by an analyst's filter, so each facility-row query read every subject cell stored).
-- The subject step now writes a facility row for every population of the Measure, zero-counted
-- (subjects_reporting = subjects_missing = 0) where the facility has no value or absence to count,
-- so each rewrite overwrites every row an older one wrote and FINAL alone gives the current rows.

-- Rows written before this migration that the old view hid (older than their facility's current
-- subject cell, i.e. a population the newer cell no longer has) become zero rows at that version.
INSERT INTO {db}.facility_cells
  (measure, grain, period_start, subject, group_code, population_code, period_end, value, subjects_reporting, subjects_missing, updated_at, version)
SELECT measure, grain, period_start, subject, group_code, population_code, period_end, 0, 0, 0, updated_at, subject_version
FROM
(
  SELECT * FROM (SELECT * FROM {db}.facility_cells FINAL)
  ANY INNER JOIN
  (
    SELECT measure, grain, period_start, subject, version AS subject_version FROM {db}.subject_cells FINAL
  ) USING (measure, grain, period_start, subject)
  WHERE version < subject_version
);

-- 18.16 has no DROP VIEW and no CREATE OR REPLACE VIEW.
DROP TABLE IF EXISTS {db}.rollups;

-- One row per (measure, group, population, region, grain, period). Region cells are the current
-- recomputation of each slice (older cells that the newer one no longer has, e.g. 'unresolved' after
-- the Location arrived, are left out by the version test); facility rows are the current row of
-- each (facility, population), zero rows (nothing to count) left out. The zero-row filter is a
-- WHERE over FINAL: 18.16 applies it after FINAL picks the newest row and never moves it to PREWHERE
-- under FINAL (test/integration/analyst-views.test.ts).
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
FROM {db}.facility_cells FINAL
WHERE subjects_reporting + subjects_missing > 0;
