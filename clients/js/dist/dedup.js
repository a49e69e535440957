// Duplicate detection for at-least-once delivery.
/**
 * Dedup remembers the last `size` message ids and, for each, whether the
 * device acked it (autoAck or the app's own ack), so that a duplicate of an
 * acked message is acked again: its first ack was lost with the connection. A
 * ring keeps the order in which ids are forgotten, a Map makes the lookup O(1);
 * memory stays bounded.
 */
export class Dedup {
    size;
    #ring = [];
    #next = 0; // index in #ring of the slot written next (the oldest id once full)
    #seen = new Map(); // id -> acked
    constructor(size) {
        this.size = size;
    }
    /**
     * add records id and reports whether it is new. A duplicate does not refresh
     * the id's place: it is forgotten `size` ids after its first arrival.
     */
    add(id) {
        if (this.#seen.has(id))
            return false;
        if (this.size <= 0)
            return true;
        if (this.#ring.length < this.size) {
            this.#ring.push(id);
        }
        else {
            this.#seen.delete(this.#ring[this.#next]);
            this.#ring[this.#next] = id;
            this.#next = (this.#next + 1) % this.size;
        }
        this.#seen.set(id, false);
        return true;
    }
    /**
     * ack marks id as acked, if it is remembered; an id not remembered (never
     * received, or forgotten) is left out, so that acks take no place of ids.
     */
    ack(id) {
        if (this.#seen.has(id))
            this.#seen.set(id, true);
    }
    /** acked reports whether id is remembered as acked. */
    acked(id) {
        return this.#seen.get(id) === true;
    }
}
