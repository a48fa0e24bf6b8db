// The ClickHouse client's own errors reach the aggregator's structured log (not stderr), without
// the query text. Network-free but for a connection refused on a closed local port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { createClickHouse } from '@sitrep/aggregator/writer';

test("a failed insert is logged by the client as a structured warning, with its operation and no query", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const client = createClickHouse({ url: 'http://127.0.0.1:1', username: 'default', password: '', log });
  try {
    await assert.rejects(client.insert({ table: 't', values: Readable.from([{ a: 1 }], { objectMode: true }), format: 'JSONEachRow' }));
  } finally {
    await client.close();
  }
  const line = lines.find((l) => String(l.msg).startsWith('clickhouse_client:'));
  assert.ok(line, JSON.stringify(lines));
  assert.equal(line.operation, 'Insert');
  assert.match(String(line.err), /ECONNREFUSED/);
  assert.equal(line.query, undefined);
});
