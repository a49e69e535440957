// The endpoint list of a client (options.url, then options.fallbackUrls) and
// the policy of which endpoint the next attempt dials, as the Go SDK has them
// (clients/go/endpoints.go). The README's "Endpoints" says the same in a table.

import type { Cause } from './classify.js';
import { CloseCode } from './classify.js';
import { invalid } from './errors.js';
import { endpoints, type Endpoints } from './url.js';

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
export function endpointList(url: unknown, fallbackUrls: unknown): Endpoint[] {
  if (typeof url !== 'string' || url === '') throw invalid('options.url is required: the edge\'s base URL');
  if (fallbackUrls !== undefined && !Array.isArray(fallbackUrls)) throw invalid('options.fallbackUrls must be an array of URLs');
  const list: Endpoint[] = [];
  const seen = new Map<string, string>(); // connect URL -> the option that named it
  const all: unknown[] = [url, ...((fallbackUrls as unknown[] | undefined) ?? [])];
  all.forEach((raw, i) => {
    const field = i === 0 ? 'options.url' : `options.fallbackUrls[${i - 1}]`;
    if (typeof raw !== 'string' || raw === '') throw invalid(`${field} must be a non-empty URL`);
    let urls: Endpoints;
    try {
      urls = endpoints(raw);
    } catch (err) {
      throw invalid(`${field}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const prev = seen.get(urls.connect);
    if (prev !== undefined) throw invalid(`${field} ${JSON.stringify(raw)} is the same endpoint as ${prev}`);
    seen.set(urls.connect, field);
    list.push({ base: raw, urls });
  });
  return list;
}

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
export function nextEndpoint(cur: number, n: number, welcomed: boolean, c: Cause): number {
  switch (c.kind) {
    case 'preferred':
      return 0;
    case 'reconnect':
    case 'token':
      return cur;
    case 'handshake':
      if (c.status > 0 && c.status < 500) return cur;
      break;
    case 'close':
      if (welcomed) return c.code === CloseCode.TokenExpired ? cur : 0;
      break;
    case 'protocol':
      break;
  }
  return (cur + 1) % n;
}

/** defaultFallbackRetryMs is how long the client stays on a fallback before it checks the preferred endpoint (Ably's fallbackRetryTimeout). */
export const defaultFallbackRetryMs = 600_000;
