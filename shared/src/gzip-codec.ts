// The gzip codec kafkajs uses in both services: kafkajs' own (zlib.gzip / zlib.unzip with their
// defaults), with zlib output chunks sized for Kafka batches, and small batches compressed and
// inflated on the event loop. Same wire format and level (level 1 measured no better in
// bench:ndjson: less thread-pool CPU, but 1.3x the bytes for the broker and the catalog tail).
// NOTE: zlib's thread pool answers on the event loop, twice per call (the data, then the final
// flush), and kafkajs compresses each partition's records on their own and inflates each record
// batch of a fetch in turn:
// - ingest: with 64 clients posting, compressing a produce request of 32 reports (6 partitions,
//   ~24 kB each, 0.5 ms of CPU in all) took 8-11 ms of waits behind the HTTP work on the event
//   loop, while the broker answered in 1-2 ms. One produce request is in flight at a time
//   (publish.ts), so that wait capped bench:ingest at ~2,270/s; compressed on the event loop,
//   2,700-3,100/s.
// - aggregator: a fetch of ~900 reports as ingest publishes them holds ~150 small batches, and
//   inflating them in the pool, one after the other behind the slice step's work, took 200-900 ms
//   between two records steps (bench:aggregator's freshness phase).
// A bulk import's requests (1-4 MiB, over 150 kB a partition) still go to the thread pool, where
// they overlap parsing: on the event loop bench:ndjson was 27 % faster, but its peak RSS for 2 GB
// went 238-248 -> 371-383 MB (the aim is 300 MB), as V8 grew the heap and kept more dead
// ArrayBuffers around a busier event loop.
// NOTE: zlib hands its output back 16 kB at a time by default, each piece a trip from the thread
// pool to the main thread and a Buffer: ~60 trips to inflate a 1 MB batch the catalog tail reads
// back, 4-8 ms of main-thread time per MB (256 kB chunks: ~0.5 ms). Registered once, at start,
// before any producer or consumer runs; kafkajs looks codecs up per batch.
// https://github.com/tulios/kafkajs/blob/v2.2.4/src/protocol/message/compression/gzip.js
import kafkajs from 'kafkajs';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const gzip = promisify(zlib.gzip);
const unzip = promisify(zlib.unzip);

/** Output chunk of inflate: a fetch of a few hundred kB inflates to a few MB. */
const INFLATE_CHUNK = 256 * 1024;
/** Output chunk of deflate: ~1 MiB of records compresses to ~100 kB, so one chunk mostly holds it all. */
const DEFLATE_CHUNK = 128 * 1024;
/** A partition's batch up to this size is compressed on the event loop (~0.25 ms at most, ~265 MB/s here). */
const SYNC_DEFLATE_MAX = 64 * 1024;
/** A compressed batch up to this size is inflated on the event loop (~1 ms at most: JSON reports inflate ~5x). */
const SYNC_INFLATE_MAX = 64 * 1024;
/**
 * Output chunk for a batch inflated on the event loop: about what it inflates to. Each inflate
 * allocates its chunk, and a fetch of reports as ingest publishes them holds thousands of ~5 kB
 * batches: 256 kB each was 0.37 ms per batch, mostly allocating, and as much again in GC.
 */
const syncInflateChunk = (compressed: number) => Math.min(INFLATE_CHUNK, Math.max(16 * 1024, compressed * 8));

const codec = {
  compress: async (encoder: { buffer: Buffer }) =>
    encoder.buffer.length <= SYNC_DEFLATE_MAX ? zlib.gzipSync(encoder.buffer) : gzip(encoder.buffer, { chunkSize: DEFLATE_CHUNK }),
  decompress: async (buffer: Buffer) =>
    buffer.length <= SYNC_INFLATE_MAX ? zlib.unzipSync(buffer, { chunkSize: syncInflateChunk(buffer.length) }) : unzip(buffer, { chunkSize: INFLATE_CHUNK }),
};

export function useGzipCodec(): void {
  CompressionCodecs[CompressionTypes.GZIP] = () => codec;
}
