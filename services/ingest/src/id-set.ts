// A set of server-assigned MeasureReport ids (40 lower-case hex digits, see reportIdForKeyString)
// stored as their 20 bytes in one open-addressing table: about 30 bytes per id instead of the
// ~260 bytes of a Map entry with two strings. The catalog holds one per report ever accepted.
// Exact: the id's own bytes are stored, not a fingerprint of them.

const ID_BYTES = 20;
const HEX_ID = /^[0-9a-f]{40}$/;

export class IdSet {
  private slots: Buffer;
  private used: Uint8Array;
  private capacity: number;
  private count = 0;
  /** Scratch for the id being looked up (one allocation per set, not per lookup). */
  private readonly probe = Buffer.alloc(ID_BYTES);

  constructor(initialCapacity = 1024) {
    this.capacity = 1 << Math.ceil(Math.log2(Math.max(16, initialCapacity)));
    this.slots = Buffer.alloc(this.capacity * ID_BYTES);
    this.used = new Uint8Array(this.capacity);
  }

  /** Only ids of the derived form can be members; callers keep any other id elsewhere. */
  static accepts(id: string): boolean {
    return HEX_ID.test(id);
  }

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    if (!IdSet.accepts(id)) return false;
    this.probe.write(id, 'hex');
    return this.find(this.probe, this.slots, this.used, this.capacity) < 0;
  }

  /** Adds a derived-form id (IdSet.accepts); false when it was there already. */
  add(id: string): boolean {
    if (!IdSet.accepts(id)) throw new Error(`not a derived report id: ${id}`);
    this.probe.write(id, 'hex');
    const at = this.find(this.probe, this.slots, this.used, this.capacity);
    if (at < 0) return false;
    this.probe.copy(this.slots, at * ID_BYTES);
    this.used[at] = 1;
    // At most 3/4 full: linear probing stays short.
    if (++this.count * 4 > this.capacity * 3) this.grow();
    return true;
  }

  /** The free slot for `key`, or -1 when it is present. The ids are SHA-256 output, so their first bytes are the hash. */
  private find(key: Buffer, slots: Buffer, used: Uint8Array, capacity: number): number {
    const mask = capacity - 1;
    for (let i = key.readUInt32LE(0) & mask; ; i = (i + 1) & mask) {
      if (!used[i]) return i;
      if (slots.compare(key, 0, ID_BYTES, i * ID_BYTES, (i + 1) * ID_BYTES) === 0) return -1;
    }
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const slots = Buffer.alloc(capacity * ID_BYTES);
    const used = new Uint8Array(capacity);
    for (let i = 0; i < this.capacity; i++) {
      if (!this.used[i]) continue;
      const key = this.slots.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
      const at = this.find(key, slots, used, capacity);
      key.copy(slots, at * ID_BYTES);
      used[at] = 1;
    }
    this.slots = slots;
    this.used = used;
    this.capacity = capacity;
  }
}
