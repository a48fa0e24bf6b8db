// The analyst contract against a real ClickHouse: `sitrep.rollups` gives only the current version of
// every cell, whatever the analyst filters on, with or without predicate pushdown (which the analyst
// guide recommends on 18.16). A filter pushed below FINAL could otherwise resurrect an older version.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { migrate, splitStatements } from '@sitrep/aggregator/migrations';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { clickhouse, dropTestDatabase, isolation, query, stackEnv } from '../helpers/stack.js';

const iso = isolation('analyst');
const db = iso.database;
const ch = clickhouse();
const silent = { info: () => undefined } as never;
const START = "toDateTime('2021-01-01 00:00:00', 'UTC')";

before(async () => {
  await migrate(ch, db, silent);
  // A facility written twice (150, then 50), and a state cell of a slice recomputed twice: each as
  // the aggregator writes it (facility rows with their subject cell's version; region cell, slice version).
  const subjectCell = (value: number | undefined, version: number, subject: string) =>
    `('m', 'day', ${START}, '${subject}', ${START}, 0, [], [], ${value === undefined ? '[], [], [], [], []' : `['g'], ['p'], [${value}], [1], [0]`}, now(), ${version})`;
  const facilityCell = (value: number, version: number, subject: string, reporting = 1) =>
    `('m', 'day', ${START}, '${subject}', 'g', 'p', ${START}, ${value}, ${reporting}, 0, now(), ${version})`;
  const regionCell = (value: number, version: number) => `('m', 'day', ${START}, 'state', 'US-NJ', 'g', 'p', ${START}, ${value}, 1, 0, now(), ${version})`;
  // Separate INSERTs: separate parts, so FINAL (not a merge) must pick the newest.
  for (const [v, version] of [[150, 1], [50, 2]] as const) {
    await ch.command({ query: `INSERT INTO ${db}.facility_cells VALUES ${facilityCell(v, version, 'sys|F1')}` });
    await ch.command({ query: `INSERT INTO ${db}.rollup_cells VALUES ${regionCell(v, version)}` });
    await ch.command({ query: `INSERT INTO ${db}.rollup_slices VALUES ('m', 'day', ${START}, ${version}, now())` });
  }
  // A facility whose only report was corrected to status error: its newer rewrite is a zero row.
  await ch.command({ query: `INSERT INTO ${db}.facility_cells VALUES ${facilityCell(7, 1, 'sys|F2')}` });
  await ch.command({ query: `INSERT INTO ${db}.facility_cells VALUES ${facilityCell(0, 2, 'sys|F2', 0)}` });
  // The same, as written before migration 003 (no zero row, only a newer empty subject cell): the
  // migration's backfill turns the older row into a zero row.
  await ch.command({ query: `INSERT INTO ${db}.subject_cells VALUES ${subjectCell(9, 1, 'sys|F3')}` });
  await ch.command({ query: `INSERT INTO ${db}.facility_cells VALUES ${facilityCell(9, 1, 'sys|F3')}` });
  await ch.command({ query: `INSERT INTO ${db}.subject_cells VALUES ${subjectCell(undefined, 2, 'sys|F3')}` });
  // One report in two versions (the correction is an error), and another report of the same subject.
  const report = (key: string, version: number, status: string, localDate: string) =>
    ({ business_key: key, version, kafka_partition: 3, id: `id-${key}`, measure: 'm', subject: 'sys|F1', reporter: 'org|R', local_date: localDate, status, resource: `{"v":${version}}` });
  for (const r of [report('k1', 10, 'complete', '2021-01-01'), report('k1', 20, 'error', '2021-01-01'), report('k2', 15, 'complete', '2021-01-02')]) {
    await ch.insert({ table: `${db}.reports`, values: [r], format: 'JSONEachRow', columns: Object.keys(r) as [string, ...string[]] });
  }
  const migration = await readFile(fileURLToPath(new URL('../../../services/aggregator/migrations/003_views_narrowed_by_filters.sql', import.meta.url)), 'utf8');
  const backfill = splitStatements(migration.replaceAll('{db}', db)).filter((s) => s.startsWith('INSERT'));
  assert.equal(backfill.length, 1);
  await ch.command({ query: backfill[0]! });
});

after(async () => {
  await dropTestDatabase(ch, db);
  await ch.close();
});

describe('sitrep.rollups shows the current version only', () => {
  for (const pushdown of [0, 1]) {
    test(`enable_optimize_predicate_expression = ${pushdown}`, async () => {
      const settings = ` SETTINGS enable_optimize_predicate_expression = ${pushdown}`;
      const rows = await query<{ region: string; value: number }>(ch, `SELECT region, value FROM ${db}.rollups WHERE measure = 'm' ORDER BY region${settings}`);
      assert.deepEqual(rows, [{ region: 'US-NJ', value: 50 }, { region: 'sys|F1', value: 50 }]);
      // Filters on values that only the older versions match.
      for (const where of ['value > 100', 'value = 7', 'value = 9', "region = 'sys|F2'", "region = 'sys|F3'", 'subjects_reporting = 0', 'value > 100 AND region_type = \'facility\'']) {
        assert.deepEqual(await query(ch, `SELECT region, value FROM ${db}.rollups WHERE ${where}${settings}`), [], where);
      }
    });
  }
});

describe('sitrep.reports_latest shows the newest version of each report only', () => {
  for (const pushdown of [0, 1]) {
    test(`enable_optimize_predicate_expression = ${pushdown}`, async () => {
      const settings = ` SETTINGS enable_optimize_predicate_expression = ${pushdown}`;
      const latest = (where: string) => query<{ business_key: string; status: string; version: string; resource: string }>(
        ch, `SELECT business_key, status, version, resource FROM ${db}.reports_latest WHERE ${where} ORDER BY business_key${settings}`);
      assert.deepEqual(await latest("subject = 'sys|F1'"), [
        { business_key: 'k1', status: 'error', version: '20', resource: '{"v":20}' },
        { business_key: 'k2', status: 'complete', version: '15', resource: '{"v":15}' },
      ]);
      // Filters that only the older version matches.
      for (const where of ["business_key = 'k1' AND status = 'complete'", 'version = 10', `resource = '{"v":10}'`]) {
        assert.deepEqual(await latest(where), [], where);
      }
    });
  }
});

describe('the read-only analyst user', () => {
  test('reads the views with filters pushed down by default, and is refused writes', async () => {
    // Its own logging off: the refusals below are expected.
    const reader = createClient({ url: stackEnv().clickhouseUrl, username: 'sitrep_reader', password: 'sitrep_reader', log: { level: ClickHouseLogLevel.OFF } });
    try {
      const rows = await query<{ region: string; value: number }>(reader, `SELECT region, value FROM ${db}.rollups WHERE measure = 'm' ORDER BY region`);
      assert.deepEqual(rows, [{ region: 'US-NJ', value: 50 }, { region: 'sys|F1', value: 50 }]);
      const [setting] = await query<{ value: string }>(reader, "SELECT value FROM system.settings WHERE name = 'enable_optimize_predicate_expression'");
      assert.equal(setting?.value, '1');
      await assert.rejects(reader.command({ query: `INSERT INTO ${db}.rollup_slices VALUES ('m', 'day', ${START}, 9, now())` }), /readonly|164/i);
      await assert.rejects(reader.command({ query: `DROP TABLE ${db}.rollup_slices` }), /readonly|164/i);
    } finally {
      await reader.close();
    }
  });
});
