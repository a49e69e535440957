/**
 * Dedup remembers the last `size` message ids and, for each, whether the
 * device acked it (autoAck or the app's own ack), so that a duplicate of an
 * acked message is acked again: its first ack was lost with the connection. A
 * ring keeps the order in which ids are forgotten, a Map makes the lookup O(1);
 * memory stays bounded.
 */
export declare class Dedup {
    #private;
    readonly size: number;
    constructor(size: number);
    /**
     * add records id and reports whether it is new. A duplicate does not refresh
     * the id's place: it is forgotten `size` ids after its first arrival.
     */
    add(id: string): boolean;
    /**
     * ack marks id as acked, if it is remembered; an id not remembered (never
     * received, or forgotten) is left out, so that acks take no place of ids.
     */
    ack(id: string): void;
    /** acked reports whether id is remembered as acked. */
    acked(id: string): boolean;
}
