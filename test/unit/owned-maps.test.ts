// Unit tests of what the aggregator keeps between steps: bounded, least recently used out, and
// nothing read before a rebalance kept after it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnedMaps } from '@sitrep/aggregator/owned-maps';

const rows = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`r${i}`, i]));

describe('owned maps', () => {
  test('keeps maps up to the bound, the least recently used going first', () => {
    const kept = new OwnedMaps<number>(10);
    kept.set('a', rows(4), kept.generation);
    kept.set('b', rows(4), kept.generation);
    assert.ok(kept.get('a')); // a is now the most recently used
    kept.set('c', rows(4), kept.generation);
    assert.equal(kept.get('b'), undefined);
    assert.ok(kept.get('a') && kept.get('c'));
    assert.equal(kept.size, 8);
    kept.set('huge', rows(11), kept.generation);
    assert.equal(kept.get('huge'), undefined);
  });

  test('a map grown in place is recounted when stored again', () => {
    const kept = new OwnedMaps<number>(10);
    kept.set('a', rows(2), kept.generation);
    const a = kept.get('a')!;
    a.set('new', 9);
    kept.set('a', a, kept.generation);
    assert.equal(kept.size, 3);
  });

  test('nothing read before a rebalance is kept after it', () => {
    const kept = new OwnedMaps<number>(100);
    const before = kept.generation;
    kept.set('a', rows(2), before);
    kept.clear();
    assert.equal(kept.get('a'), undefined);
    kept.set('b', rows(2), before); // read before the rebalance, stored after: refused
    assert.equal(kept.get('b'), undefined);
    assert.equal(kept.size, 0);
  });
});
