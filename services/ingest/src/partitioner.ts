// The partition of a record key: Kafka's default key partitioning (murmur2 of the key's UTF-8
// bytes, seed 0x9747b28c, sign bit cleared, modulo the partition count), the same as the Java
// client and kafkajs' DefaultPartitioner, so every version of a report lands where the earlier
// ones did, whichever client wrote them.
// NOTE: kafkajs computes murmur2 with its 64-bit Long emulation, ~12 us for a ~150-byte business
// key: 8 % of ingest's main thread in a bulk import. The `murmurhash` package computes the same
// 32-bit hash with plain integer arithmetic in ~1 us (test/unit/partitioner.test.ts checks it
// against kafkajs' own function).
// https://github.com/apache/kafka/blob/3.7/clients/src/main/java/org/apache/kafka/common/utils/Utils.java#L475
import murmurhash from 'murmurhash';

const SEED = 0x9747b28c;

export function partitionOf(key: string, partitions: number): number {
  return (murmurhash.v2(Buffer.from(key, 'utf8'), SEED) & 0x7fffffff) % partitions;
}
