// Which facilities a Location or Organization change concerns, against a real ClickHouse: those it
// names now and those it named before the change, even once the older version is merged away. The
// aggregator reads them after writing the change, so a step that is redone (a retry, a crash before
// the commit) must still find what the change took away, or the facility would stay counted in its
// old county and state.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '@sitrep/aggregator/migrations';
import { facilityKeys } from '@sitrep/aggregator/rollups';
import { clickhouse, dropTestDatabase, isolation, query } from '../helpers/stack.js';

const db = isolation('facility_keys').database;
const ch = clickhouse();
const silent = { info: () => undefined } as never;

const location = (version: number, identifiers: string[], managingOrg: string) =>
  ({ location_id: 'L1', version, identifiers, managing_org: managingOrg, region_types: ['county'], regions: ['US-NJ/Mercer'], resource: '{}' });
const organization = (id: string, version: number, identifiers: string[]) => ({ org_id: id, version, identifiers, resource: '{}' });

before(async () => {
  await migrate(ch, db, silent);
  // Separate INSERTs, as separate records are written: then a merge folds L1's two versions into one.
  await ch.insert({ table: `${db}.organizations`, values: [organization('O1', 1, ['org|X'])], format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.organizations`, values: [organization('O2', 2, ['org|Y'])], format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.locations`, values: [location(1, ['sys|A'], 'O1')], format: 'JSONEachRow' });
  await ch.insert({ table: `${db}.locations`, values: [location(2, ['sys|B'], 'O2')], format: 'JSONEachRow' });
  await ch.command({ query: `OPTIMIZE TABLE ${db}.locations FINAL` });
  const stored = await query<{ identifiers: string[] }>(ch, `SELECT identifiers FROM ${db}.locations`);
  assert.deepEqual(stored, [{ identifiers: ['sys|B'] }], 'the older version is merged away');
});

after(async () => {
  await dropTestDatabase(ch, db).catch(() => undefined);
  await ch.close();
});

test('a changed Location concerns the identifiers it named before and after, and those of both its managing Organizations', async () => {
  assert.deepEqual((await facilityKeys(ch, db, ['L1'], [])).sort(), ['org|X', 'org|Y', 'sys|A', 'sys|B']);
});

test('a changed Organization concerns its identifiers and those of every Location it has managed', async () => {
  assert.deepEqual((await facilityKeys(ch, db, [], ['O1'])).sort(), ['org|X', 'sys|A', 'sys|B']);
  assert.deepEqual((await facilityKeys(ch, db, [], ['O2'])).sort(), ['org|Y', 'sys|A', 'sys|B']);
});

test('nothing named: no identifiers', async () => {
  assert.deepEqual(await facilityKeys(ch, db, ['unknown'], ['unknown']), []);
});
