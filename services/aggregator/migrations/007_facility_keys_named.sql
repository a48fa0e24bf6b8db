-- Every identifier a Location or Organization has ever named, and every Organization a Location has
-- ever named as its manager: a change to either must mark the slices of the facilities it named
-- before the change as well as after, and `locations` and `organizations` forget the earlier version
-- as soon as the new one is written (or merged). Reading "before" from them first was wrong whenever
-- the step was redone (a retry, a crash before the commit): the redo read the new version as the
-- old one. These rows are never dropped; ClickHouse writes them inside each INSERT into the two
-- tables (per-row transformations, so a redone insert writes the same rows).
--   kind 'location':     id = location_id, key = an identifier it named
--   kind 'organization': id = org_id,      key = an identifier it named
--   kind 'managed-by':   id = location_id, key = the org_id it named as managingOrganization
CREATE TABLE IF NOT EXISTS {db}.facility_keys_named (
  kind String,
  id String,
  key String
) ENGINE = ReplacingMergeTree
ORDER BY (kind, id, key);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.facility_keys_named_by_locations TO {db}.facility_keys_named AS
SELECT 'location' AS kind, location_id AS id, key FROM {db}.locations ARRAY JOIN identifiers AS key;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.facility_managers_named_by_locations TO {db}.facility_keys_named AS
SELECT 'managed-by' AS kind, location_id AS id, managing_org AS key FROM {db}.locations WHERE managing_org != '';

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.facility_keys_named_by_organizations TO {db}.facility_keys_named AS
SELECT 'organization' AS kind, org_id AS id, key FROM {db}.organizations ARRAY JOIN identifiers AS key;

-- What the versions stored before this migration named (a re-run writes the same rows again).
INSERT INTO {db}.facility_keys_named SELECT 'location' AS kind, location_id AS id, key FROM {db}.locations ARRAY JOIN identifiers AS key;
INSERT INTO {db}.facility_keys_named SELECT 'managed-by' AS kind, location_id AS id, managing_org AS key FROM {db}.locations WHERE managing_org != '';
INSERT INTO {db}.facility_keys_named SELECT 'organization' AS kind, org_id AS id, key FROM {db}.organizations ARRAY JOIN identifiers AS key;
