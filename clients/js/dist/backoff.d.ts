/** A source of random numbers in [0, 1), Math.random unless a test sets one. */
export type Random = () => number;
/**
 * Backoff computes reconnect delays with "equal jitter": the n-th delay in a
 * row (n from 0) lies in [ceil/2, ceil] with ceil = min(max, min·2^(n+1)),
 * clamped to [min, max]. Half of each window is fixed, so that delays grow
 * for sure while an edge is down; the other half is random, so that devices
 * dropped together do not come back together.
 */
export declare class Backoff {
    #private;
    readonly minMs: number;
    readonly maxMs: number;
    private readonly random;
    constructor(minMs: number, maxMs: number, random?: Random);
    /** next returns the delay before the next attempt and counts the attempt. */
    next(): number;
    /** reset starts the next run of failures from the smallest window again. */
    reset(): void;
}
/**
 * jitterAfter returns the wait after a reconnect frame: after_ms plus a random
 * jitter of up to 20% of it, and up to at least 250 ms, so that the devices of
 * a draining edge spread out.
 */
export declare function jitterAfter(afterMs: number, random?: Random): number;
/**
 * jitterRetry returns the wait before a client on a fallback checks the
 * preferred endpoint: retryMs plus a random jitter of up to 20% of it, so that
 * the devices that failed over together do not all return together when their
 * region comes back.
 */
export declare function jitterRetry(retryMs: number, random?: Random): number;
