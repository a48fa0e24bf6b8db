// The analyst contract against a real ClickHouse: `sitrep.rollups` gives only the current version of
// every cell, whatever the analyst filters on, with or without predicate pushdown (which the analyst
// guide recommends on 18.16). A filter pushed below FINAL could otherwise resurrect an older version.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { migrate, splitStatements } from '@sitrep/aggregator/migrations';
import { clickhouse, dropTestDatabase, isolation, query } from '../helpers/stack.js';

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
  const migration = await readFile(fileURLToPath(new URL('../../../services/aggregator/migrations/003_facility_rows_without_join.sql', import.meta.url)), 'utf8');
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
