import type { Cause } from './classify.js';
import { type Endpoints } from './url.js';
/** Endpoint is one edge (or region) the client may dial. */
export interface Endpoint {
    /** As configured: options.url or an entry of options.fallbackUrls. */
    base: string;
    urls: Endpoints;
}
/**
 * endpointList validates the preferred URL and the fallbacks and returns them
 * in order of preference. It throws a HeraldError (invalid_argument) naming
 * the option at fault: a URL that is not http(s) or ws(s), or the same
 * endpoint twice.
 */
export declare function endpointList(url: unknown, fallbackUrls: unknown): Endpoint[];
/**
 * nextEndpoint is the endpoint policy: given the index cur of the endpoint of
 * an attempt that ended with cause, among n endpoints (index 0 the
 * preferred), and whether that attempt had received its welcome, it returns
 * the index of the endpoint to dial next.
 *
 * - A reconnect frame (drain, lifetime), a token function failure and a 4001
 *   close keep the endpoint: the edge asked for it, was never dialed, or
 *   wants a fresh token.
 * - A failed handshake that the endpoint answered with an HTTP status below
 *   500 (as the check after it found) keeps it: the endpoint works.
 * - Any other failed attempt (refused, DNS, TLS, 5xx, no welcome) moves to
 *   the next endpoint, wrapping around after the last.
 * - A lost connection goes to the preferred endpoint (on it: the same one).
 * - Leaving a fallback because the preferred endpoint is back goes to it.
 */
export declare function nextEndpoint(cur: number, n: number, welcomed: boolean, c: Cause): number;
/** defaultFallbackRetryMs is how long the client stays on a fallback before it checks the preferred endpoint (Ably's fallbackRetryTimeout). */
export declare const defaultFallbackRetryMs = 600000;
