/**
 * Dedup remembers the last `size` message ids. A ring keeps the order in which
 * ids are forgotten, a Set makes the lookup O(1); memory stays bounded.
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
}
