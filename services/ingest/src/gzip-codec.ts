// The gzip codec kafkajs uses in the ingest process: kafkajs' own (zlib.gzip / zlib.unzip with
// their defaults), with zlib output chunks sized for Kafka batches. Same wire format and level
// (level 1 measured no better in bench:ndjson: less thread-pool CPU, but 1.3x the bytes for the
// broker and the catalog tail).
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

const codec = {
  compress: (encoder: { buffer: Buffer }) => gzip(encoder.buffer, { chunkSize: DEFLATE_CHUNK }),
  decompress: (buffer: Buffer) => unzip(buffer, { chunkSize: INFLATE_CHUNK }),
};

export function useGzipCodec(): void {
  CompressionCodecs[CompressionTypes.GZIP] = () => codec;
}
