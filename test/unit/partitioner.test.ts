// Unit tests of ingest's record partitioning: the same partition as kafkajs' DefaultPartitioner
// (Kafka's Java-compatible murmur2) for every key, so records of one business key never move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { partitionOf } from '@sitrep/ingest/partitioner';

const require = createRequire(import.meta.url);
/** kafkajs' own murmur2 (signed 32-bit result), the reference. */
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: string | Buffer) => number;

function keys(): string[] {
  const out = ['', 'a', 'ab', 'abc', 'abcd', 'é', '日本', '🙂', 'x'.repeat(1000)];
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789|:/.-_ éüß日本🙂';
  for (let i = 0; i < 3000; i++) {
    const length = next() % 200;
    let s = '';
    for (let j = 0; j < length; j++) s += [...alphabet][next() % [...alphabet].length];
    out.push(s);
  }
  // Business keys as ingest builds them (measure|subject|reporter|start|end).
  for (let i = 0; i < 500; i++) out.push(`http://example.org/Measure/m${i % 3}|urn:sitrep:orgid|F${i}|urn:sitrep:orgid|R${i % 7}|2020-01-${String((i % 28) + 1).padStart(2, '0')}T00:00:00.000Z|2020-01-02T00:00:00.000Z`);
  return out;
}

test('partitionOf equals kafkajs DefaultPartitioner for every key and partition count', () => {
  const partitioner = kafkajs.Partitioners.DefaultPartitioner();
  for (const partitions of [1, 2, 3, 6, 12, 64]) {
    const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
    for (const key of keys()) {
      assert.equal(partitionOf(key, partitions), partitioner({ topic: 't', partitionMetadata, message: { key, value: null } }), `${partitions} partitions, key ${JSON.stringify(key)}`);
    }
  }
});

test('partitionOf hashes the UTF-8 bytes with the full 32-bit murmur2 (not only its low bits)', () => {
  for (const key of keys()) {
    const expected = (kafkajsMurmur2(key) & 0x7fffffff) % 2_147_483_647;
    assert.equal(partitionOf(key, 2_147_483_647), expected, JSON.stringify(key));
  }
});
