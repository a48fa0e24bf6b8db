// Unit test for the local Kafka's cluster id: the storage tool must accept every id we generate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterId } from '@sitrep/local-stack/kafka';

test('cluster ids are 22 URL-safe base64 characters and never start with "-"', () => {
  // 1 id in 64 would start with '-' without the guard; 20,000 draws miss that with p < 1e-130.
  for (let i = 0; i < 20_000; i++) {
    const id = clusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  }
});
