-- Facility rows (facility_cells) written by ClickHouse as each block of subject cells is inserted,
-- instead of by an INSERT ... SELECT after it that read the just-written subject cells back.
-- That read could not be narrowed to them (their version is not in the primary key), so it read
-- every unmerged older version of the same slices and subjects: 178 k rows a statement on average,
-- 8.3 s of the 55 s of statements in bench:aggregator's backlog.
-- This view is a per-row transformation of the inserted block, not an accumulation: a subject cell
-- written twice (a recomputation redone) gives the same facility rows with the same version, so
-- the insert-trigger pitfall of materialized views (ARCHITECTURE.md) does not apply. ClickHouse runs
-- it inside the INSERT: when the INSERT is acknowledged, the facility rows are written too.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.facility_cells_from_subject_cells TO {db}.facility_cells AS
SELECT measure, grain, period_start, subject, group_code, population_code, period_end, value, subjects_reporting, subjects_missing,
       updated_at, version
FROM {db}.subject_cells
ARRAY JOIN group_codes AS group_code, population_codes AS population_code, vals AS value, reporting AS subjects_reporting,
           missing AS subjects_missing
WHERE subject_is_region = 0;
