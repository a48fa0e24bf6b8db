// Unit test of the Publisher's producer renewal: after a failed produce request the next one goes
// through a new producer (a new producer id), because kafkajs rolled the failed request's sequence
// numbers back although the broker may have written it. The broker side is covered by
// test/integration/ingest-kafka-down.test.ts against a real Kafka; here a stand-in records calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kafka } from 'kafkajs';
import { Publisher } from '@sitrep/ingest/publish';

test('a failed send replaces the producer before the next send; a successful one does not', async () => {
  const events: string[] = [];
  let made = 0;
  let failNext = 0;
  const kafka = {
    producer: () => {
      const n = ++made;
      return {
        connect: async () => void events.push(`connect ${n}`),
        disconnect: async () => void events.push(`disconnect ${n}`),
        sendBatch: async ({ topicMessages }: { topicMessages: { topic: string; messages: { partition: number }[] }[] }) => {
          events.push(`send ${n}`);
          if (failNext > 0 && failNext--) throw new Error('request timed out');
          return topicMessages.map((t) => ({ topicName: t.topic, partition: t.messages[0]!.partition, errorCode: 0, baseOffset: '0' }));
        },
      };
    },
    admin: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      describeCluster: async () => ({}),
      fetchTopicMetadata: async () => ({ topics: [{ name: 't', partitions: [{}, {}] }] }),
    }),
  } as unknown as Kafka;
  const publisher = new Publisher({ kafka, log: { warn: () => undefined } as never, timeoutMs: 1000 });
  await publisher.connect();
  await publisher.loadPartitions(['t']);
  const record = { topic: 't', key: 'k', value: Buffer.from('{}'), headers: {} };

  await publisher.publish(record);
  failNext = 1;
  await assert.rejects(publisher.publish(record), /Kafka unavailable: request timed out/);
  await publisher.publish(record);
  await publisher.publish(record);
  assert.deepEqual(events, ['connect 1', 'send 1', 'send 1', 'disconnect 1', 'connect 2', 'send 2', 'send 2']);
  await publisher.close();
});
