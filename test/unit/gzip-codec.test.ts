// Unit test of the gzip codec both services register with kafkajs: what it compresses is standard gzip
// that kafkajs' default codec reads, and it reads what the default codec wrote (same wire format).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import kafkajs from 'kafkajs';
import { useGzipCodec } from '@sitrep/shared/gzip-codec';

const { CompressionCodecs, CompressionTypes } = kafkajs;

test('round trip, and interchangeable with plain gzip, for sizes around its chunk sizes and its event-loop limit', async () => {
  useGzipCodec();
  const codec = CompressionCodecs[CompressionTypes.GZIP]() as { compress: (e: { buffer: Buffer }) => Promise<Buffer>; decompress: (b: Buffer) => Promise<Buffer> };
  const text = '{"resourceType":"MeasureReport","group":[{"population":[{"count":1}]}]}\n';
  // Up to 64 kB it compresses on the event loop, above in the thread pool; the same for inflating
  // up to 64 kB of gzip, which the random half keeps about half the size (126 kB: under, 128 kB: over).
  for (const size of [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 126 * 1024, 128 * 1024 - 1, 128 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024]) {
    // Half compressible text, half random bytes: output spans several chunks either way.
    const data = Buffer.concat([Buffer.from(text.repeat(Math.ceil(size / 2 / text.length))), randomBytes(Math.floor(size / 2))]).subarray(0, size);
    const compressed = await codec.compress({ buffer: data });
    assert.deepEqual(gunzipSync(compressed), data, `size ${size}: standard gunzip reads it`);
    assert.deepEqual(await codec.decompress(gzipSync(data)), data, `size ${size}: it reads standard gzip`);
  }
});
