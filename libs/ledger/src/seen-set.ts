const CHUNK_BITS = 1 << 15;

/**
 * Which sequence numbers of a batch have a recorded result: a sparse bitset in 4 KiB chunks, so a
 * batch of a million jobs costs 125 KiB instead of a Set of a million numbers (~40 MB).
 */
export class SeenSet {
  readonly #chunks = new Map<number, Uint32Array>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /**
   * Whether marking `seq` would take a chunk more than the seqs marked so far fill, give or take
   * `spare`: seqs that arrive far apart (a rogue's made-up ones) each cost a chunk of 4 KiB, where
   * a batch's own seqs, 0 up to a little beyond the ones marked, fill their chunks.
   */
  wouldSpread(seq: number, spare: number): boolean {
    if (this.#chunks.has(Math.floor(seq / CHUNK_BITS))) return false;
    return this.#chunks.size >= Math.ceil(this.#size / CHUNK_BITS) + spare;
  }

  /** Marks `seq` as seen; false when it already was. */
  add(seq: number): boolean {
    const chunkIndex = Math.floor(seq / CHUNK_BITS);
    let chunk = this.#chunks.get(chunkIndex);
    if (!chunk) this.#chunks.set(chunkIndex, (chunk = new Uint32Array(CHUNK_BITS / 32)));
    const bit = seq % CHUNK_BITS;
    const word = bit >>> 5;
    const mask = 1 << (bit & 31);
    if (chunk[word]! & mask) return false;
    chunk[word]! |= mask;
    this.#size++;
    return true;
  }

  /** Unmarks every seq at or above `limit`; returns those that were marked, in no order. */
  removeFrom(limit: number): number[] {
    const removed: number[] = [];
    for (const [index, chunk] of this.#chunks) {
      const first = index * CHUNK_BITS;
      if (first + CHUNK_BITS <= limit) continue;
      for (let bit = Math.max(0, limit - first); bit < CHUNK_BITS; bit++) {
        // A word with nothing marked is skipped whole: most of a rogue's far chunks are empty.
        if (chunk[bit >>> 5] === 0) {
          bit |= 31;
          continue;
        }
        const mask = 1 << (bit & 31);
        if (chunk[bit >>> 5]! & mask) {
          chunk[bit >>> 5]! &= ~mask;
          removed.push(first + bit);
        }
      }
      if (first >= limit) this.#chunks.delete(index);
    }
    this.#size -= removed.length;
    return removed;
  }

  has(seq: number): boolean {
    const chunk = this.#chunks.get(Math.floor(seq / CHUNK_BITS));
    if (!chunk) return false;
    const bit = seq % CHUNK_BITS;
    return (chunk[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }
}
