// Ordered, idempotent schema migrations, applied at aggregator start and by `npm run migrate`.
// Each file in ../migrations is applied once, in name order, and recorded in {db}.schema_migrations;
// statements use IF NOT EXISTS so two instances starting together cannot break each other.
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '@sitrep/shared/log';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/**
 * Request timeout of the client that runs migrations. A backfill reads a whole table (006: every
 * report, ~2 s per 300 k rows on 2 cores), and one cut short by the client keeps running in
 * ClickHouse while the retry starts it again beside it.
 */
export const MIGRATION_TIMEOUT_MS = 3_600_000;

/** Statements of one migration file: comment lines dropped, split on `;` at the end of a line. */
export function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function migrate(client: ClickHouseClient, db: string, log: Logger): Promise<string[]> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(db)) throw new Error(`unsafe database name ${db}`);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (name String, applied_at DateTime('UTC')) ENGINE = MergeTree ORDER BY name`,
  });
  const applied = new Set(
    (await (await client.query({ query: `SELECT name FROM ${db}.schema_migrations`, format: 'JSONEachRow' })).json<{ name: string }>()).map(
      (r) => r.name,
    ),
  );
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  const done: string[] = [];
  for (const file of files) {
    if (applied.has(file)) continue;
    const sql = (await readFile(path.join(MIGRATIONS_DIR, file), 'utf8')).replaceAll('{db}', db);
    for (const statement of splitStatements(sql)) await client.command({ query: statement });
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [{ name: file, applied_at: new Date().toISOString().slice(0, 19).replace('T', ' ') }],
      format: 'JSONEachRow',
      columns: ['name', 'applied_at'],
    });
    log.info({ migration: file, db }, 'migration_applied');
    done.push(file);
  }
  return done;
}
