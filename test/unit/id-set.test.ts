// Unit tests of ingest's compact set of server-assigned report ids: exact membership through growth,
// checked against a plain Set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { IdSet } from '@sitrep/ingest/id-set';

const id = (n: number) => createHash('sha256').update(String(n)).digest('hex').slice(0, 40);

test('membership equals a Set through many growths, and add says whether the id was new', () => {
  const ids = new IdSet(16);
  const reference = new Set<string>();
  for (let n = 0; n < 50_000; n++) {
    const x = id(n % 40_000); // the last 10,000 are repeats
    assert.equal(ids.add(x), !reference.has(x));
    reference.add(x);
  }
  assert.equal(ids.size, reference.size);
  for (let n = 0; n < 60_000; n++) assert.equal(ids.has(id(n)), reference.has(id(n)), `id ${n}`);
});

test('only derived ids (40 lower-case hex digits) can be members', () => {
  const ids = new IdSet();
  assert.equal(IdSet.accepts(id(1)), true);
  for (const other of ['my-own-id', id(1).toUpperCase(), id(1).slice(1), `${id(1)}0`]) {
    assert.equal(IdSet.accepts(other), false, other);
    assert.equal(ids.has(other), false);
    assert.throws(() => ids.add(other));
  }
});
