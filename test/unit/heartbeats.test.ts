// Unit tests of withHeartbeats (consumer.ts): a long step keeps the consumer's group session alive,
// and once a heartbeat fails (the group is rebalancing) the step's checkpoints stop it with that error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { withHeartbeats } from '@sitrep/aggregator/consumer';

describe('withHeartbeats', () => {
  test('heartbeats while the step runs, and stops when it ends', async () => {
    let beats = 0;
    const result = await withHeartbeats(async () => void beats++, 20, async () => {
      await sleep(150);
      return 'done';
    });
    assert.equal(result, 'done');
    assert.ok(beats >= 4, `only ${beats} heartbeats in 150 ms at one per 20 ms`);
    const after = beats;
    await sleep(80);
    assert.equal(beats, after, 'no heartbeat after the step');
  });

  test("a failed heartbeat makes the step's next check throw its error", async () => {
    const rebalancing = Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
    let parts = 0;
    await assert.rejects(
      withHeartbeats(async () => Promise.reject(rebalancing), 10, async (check) => {
        for (let i = 0; i < 20; i++) {
          check();
          parts++;
          await sleep(10);
        }
      }),
      (err) => err === rebalancing,
    );
    assert.ok(parts > 0 && parts < 20, `stopped after ${parts} of 20 parts`);
  });

  test("the step's own failure is passed through", async () => {
    await assert.rejects(withHeartbeats(async () => undefined, 10, async () => Promise.reject(new Error('clickhouse down'))), /clickhouse down/);
  });
});
