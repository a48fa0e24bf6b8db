// The series step's latest value against a real ClickHouse: two reports of one series for the same
// instant (different period ends, so different reports) on one partition and one day. The larger
// value must win, as the subject step breaks ties across cells, and not whichever row ClickHouse
// happens to read first (which a merge can change).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '@sitrep/aggregator/migrations';
import { seriesCellsSql } from '@sitrep/aggregator/rollups';
import { clickhouse, dropTestDatabase, isolation, query } from '../helpers/stack.js';

const db = isolation('series_cells').database;
const ch = clickhouse();
const silent = { info: () => undefined } as never;

const report = (businessKey: string, version: number, beds: number, admissions: number) => ({
  business_key: businessKey,
  version,
  kafka_partition: 2,
  measure: 'm',
  subject: 'sys|F1',
  reporter: 'org|R',
  status: 'complete',
  period_start_utc: '2021-01-04 05:00:00',
  received_at: '2021-01-05 00:00:00',
  grains: ['day', 'week', 'month'],
  grain_starts: ['2021-01-04 00:00:00', '2021-01-04 00:00:00', '2021-01-01 00:00:00'],
  grain_ends: ['2021-01-05 00:00:00', '2021-01-11 00:00:00', '2021-02-01 00:00:00'],
  pop_group_keys: ['beds', 'admissions'],
  pop_keys: ['bedspop0', 'admissionspop0'],
  pop_values: [beds, admissions],
  pop_present: [1, 1],
});

after(async () => {
  await dropTestDatabase(ch, db).catch(() => undefined);
  await ch.close();
});

test('of two reports of one series for the same instant, the latest value is the larger, whatever order they are read in', async () => {
  await migrate(ch, db, silent);
  // One part, sorted by business key: the first row read has the smaller value for beds and the
  // larger for admissions, so a first-read-wins tie would get one of them wrong.
  const rows = [report('k1', 1, 5, 9), report('k2', 2, 7, 3)];
  await ch.insert({ table: `${db}.reports`, values: rows, format: 'JSONEachRow' });
  await ch.command({ query: seriesCellsSql(db, new Map([[2, '2']]), rows) });
  const cells = await query<{ pop_keys: string[]; sums: number[]; latest_values: number[] }>(ch, `SELECT pop_keys, sums, latest_values FROM ${db}.series_cells`);
  assert.deepEqual(cells, [{ pop_keys: ['bedspop0', 'admissionspop0'], sums: [12, 12], latest_values: [7, 9] }]);
});
