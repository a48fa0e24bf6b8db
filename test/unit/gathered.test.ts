// Unit tests of gathered (consumer.ts): the steps of one fetch that begin together share one write
// (or one recomputation), every one of them gets its outcome, and a later step starts a new one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { gathered } from '@sitrep/aggregator/consumer';

describe('gathered', () => {
  test('calls that begin together share one flush of all their items; a call after it began gets a flush of its own', async () => {
    const flushes: number[][] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const together = gathered<number>(async (items) => {
      flushes.push([...items]);
      if (flushes.length === 1) await held;
    });
    const first = [together(1), together(2), together(3)];
    await sleep(30); // the first flush has begun and is still running
    const later = together(4);
    release();
    await Promise.all([...first, later]);
    assert.deepEqual(flushes, [[1, 2, 3], [4]]);
  });

  test('a failed flush fails every call that shared it, and the next call starts afresh', async () => {
    let fail = true;
    const together = gathered<string>(async () => {
      if (fail) throw new Error('ClickHouse unavailable');
    });
    const results = await Promise.allSettled([together('a'), together('b')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    await together('c');
  });
});
