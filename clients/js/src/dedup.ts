// Duplicate detection for at-least-once delivery.

/**
 * Dedup remembers the last `size` message ids. A ring keeps the order in which
 * ids are forgotten, a Set makes the lookup O(1); memory stays bounded.
 */
export class Dedup {
  readonly #ring: string[] = [];
  #next = 0; // index in #ring of the slot written next (the oldest id once full)
  readonly #seen = new Set<string>();

  constructor(readonly size: number) {}

  /**
   * add records id and reports whether it is new. A duplicate does not refresh
   * the id's place: it is forgotten `size` ids after its first arrival.
   */
  add(id: string): boolean {
    if (this.#seen.has(id)) return false;
    if (this.size <= 0) return true;
    if (this.#ring.length < this.size) {
      this.#ring.push(id);
    } else {
      this.#seen.delete(this.#ring[this.#next]!);
      this.#ring[this.#next] = id;
      this.#next = (this.#next + 1) % this.size;
    }
    this.#seen.add(id);
    return true;
  }
}
