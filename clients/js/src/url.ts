// The edge's device endpoints, from the configured base URL.

import { invalid } from './errors.js';

/** Endpoints are the URLs of one edge, without a token. */
export interface Endpoints {
  /** ws(s)://…/v1/connect */
  connect: string;
  /** http(s)://…/v1/events */
  events: string;
  /** http(s)://…/v1/acks */
  acks: string;
  /** http(s)://…/v1/refresh: an SSE stream's token refresh */
  refresh: string;
}

const devicePaths = ['/v1/connect', '/v1/events'];

/**
 * endpoints turns a base URL (http, https, ws or wss, with an optional path
 * prefix, or already ending in /v1/connect or /v1/events) into the device
 * endpoints. It throws a HeraldError (invalid_argument) for anything else.
 */
export function endpoints(base: string): Endpoints {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw invalid(`url ${JSON.stringify(base)} is not an absolute URL`);
  }
  let secure: boolean;
  switch (u.protocol) {
    case 'ws:':
    case 'http:':
      secure = false;
      break;
    case 'wss:':
    case 'https:':
      secure = true;
      break;
    default:
      throw invalid(`url ${JSON.stringify(base)}: the scheme must be http, https, ws or wss`);
  }
  if (!u.host) throw invalid(`url ${JSON.stringify(base)} has no host`);
  let path = u.pathname.replace(/\/+$/, '');
  for (const p of devicePaths) {
    if (path.endsWith(p)) path = path.slice(0, -p.length);
  }
  const http = `${secure ? 'https' : 'http'}://${u.host}${path}`;
  const ws = `${secure ? 'wss' : 'ws'}://${u.host}${path}`;
  return { connect: ws + '/v1/connect', events: http + '/v1/events', acks: http + '/v1/acks', refresh: http + '/v1/refresh' };
}

/** withToken returns url with the access_token query parameter (browsers cannot set headers on WebSocket and EventSource). */
export function withToken(url: string, token: string): string {
  return `${url}?access_token=${encodeURIComponent(token)}`;
}

/** withAfter adds the resume cursor to a URL that has a query already (withToken's), when there is one. */
export function withAfter(url: string, after: number): string {
  return after > 0 ? `${url}&after=${after}` : url;
}
