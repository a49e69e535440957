// Reconnect delays, as the Go SDK computes them (clients/go/backoff.go).
/**
 * Backoff computes reconnect delays with "equal jitter": the n-th delay in a
 * row (n from 0) lies in [ceil/2, ceil] with ceil = min(max, min·2^(n+1)),
 * clamped to [min, max]. Half of each window is fixed, so that delays grow
 * for sure while an edge is down; the other half is random, so that devices
 * dropped together do not come back together.
 */
export class Backoff {
    minMs;
    maxMs;
    random;
    #attempt = 0;
    constructor(minMs, maxMs, random = Math.random) {
        this.minMs = minMs;
        this.maxMs = maxMs;
        this.random = random;
    }
    /** next returns the delay before the next attempt and counts the attempt. */
    next() {
        let ceil = this.maxMs;
        if (this.minMs < this.maxMs) {
            // min·2^(n+1) without overflow: stop doubling once it reaches max.
            let d = Math.max(this.minMs, 1);
            for (let i = 0; i <= this.#attempt && d < this.maxMs; i++)
                d *= 2;
            ceil = Math.min(d, this.maxMs);
        }
        this.#attempt++;
        const half = Math.floor(ceil / 2);
        const d = half + Math.floor(this.random() * (ceil - half + 1));
        return Math.min(Math.max(d, this.minMs), this.maxMs);
    }
    /** reset starts the next run of failures from the smallest window again. */
    reset() {
        this.#attempt = 0;
    }
}
/**
 * jitterAfter returns the wait after a reconnect frame: after_ms plus a random
 * jitter of up to 20% of it, and up to at least 250 ms, so that the devices of
 * a draining edge spread out.
 */
export function jitterAfter(afterMs, random = Math.random) {
    const after = Math.max(0, afterMs);
    const span = Math.max(Math.floor(after / 5), 250);
    return after + Math.floor(random() * (span + 1));
}
/**
 * jitterRetry returns the wait before a client on a fallback checks the
 * preferred endpoint: retryMs plus a random jitter of up to 20% of it, so that
 * the devices that failed over together do not all return together when their
 * region comes back.
 */
export function jitterRetry(retryMs, random = Math.random) {
    return retryMs + Math.floor(random() * (Math.floor(retryMs / 5) + 1));
}
