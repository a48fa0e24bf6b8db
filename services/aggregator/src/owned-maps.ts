// What the aggregator keeps in memory between steps: maps of rows by key (a slice's subject cells),
// valid only while this member owns the partition whose records are their only writers. So
// `clear()` on every rebalance and after a failed step, and a step stores what it read only if no
// rebalance happened since it began (`generation`). Bounded: at most `maxRows` rows in all, the
// least recently used maps going first.
export class OwnedMaps<V> {
  /** Each map, and how many of its rows were counted in `rows` (a map may grow after it is stored). */
  private maps = new Map<string, { rows: Map<string, V>; counted: number }>();
  private rows = 0;
  generation = 0;

  constructor(private readonly maxRows: number) {}

  clear(): void {
    this.maps.clear();
    this.rows = 0;
    this.generation++;
  }

  get(key: string): Map<string, V> | undefined {
    const entry = this.maps.get(key);
    if (entry) {
      // Most recently used last.
      this.maps.delete(key);
      this.maps.set(key, entry);
    }
    return entry?.rows;
  }

  /** Keeps a map if `generation` is still current (no rebalance since its rows were read). */
  set(key: string, rows: Map<string, V>, generation: number): void {
    if (generation !== this.generation) return;
    const old = this.maps.get(key);
    if (old) {
      this.maps.delete(key);
      this.rows -= old.counted;
    }
    if (rows.size > this.maxRows) return;
    this.maps.set(key, { rows, counted: rows.size });
    this.rows += rows.size;
    for (const [oldest, entry] of this.maps) {
      if (this.rows <= this.maxRows) break;
      this.maps.delete(oldest);
      this.rows -= entry.counted;
    }
  }

  /** Rows kept now. */
  get size(): number {
    return this.rows;
  }
}
