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
/**
 * endpoints turns a base URL (http, https, ws or wss, with an optional path
 * prefix, or already ending in /v1/connect or /v1/events) into the device
 * endpoints. It throws a HeraldError (invalid_argument) for anything else.
 */
export declare function endpoints(base: string): Endpoints;
/** withToken returns url with the access_token query parameter (browsers cannot set headers on WebSocket and EventSource). */
export declare function withToken(url: string, token: string): string;
/** withAfter adds the resume cursor to a URL that has a query already (withToken's), when there is one. */
export declare function withAfter(url: string, after: number): string;
