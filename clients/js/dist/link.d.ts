import type { EventSourceConstructorLike, WebSocketConstructorLike } from './types.js';
/** subprotocol is the WebSocket subprotocol of the device endpoint. */
export declare const subprotocol = "herald.v1";
/** How a link ended, as the client classifies it. */
export interface LinkEnd {
    /** The connection was established (WebSocket open, SSE stream open). */
    opened: boolean;
    /** The WebSocket close code (1006 when the connection was lost without one); absent for SSE. */
    code?: number;
    reason?: string;
    /** Set when the client could not use the connection (a subprotocol the server did not agree to). */
    protocolError?: string;
}
/** LinkHandlers receive a link's events; none is called after close() or end. */
export interface LinkHandlers {
    text(data: string): void;
    end(e: LinkEnd): void;
}
/** Link is one connection: it reports text frames, then its end, once. */
export interface Link {
    readonly kind: 'websocket' | 'sse';
    /** send writes one frame and reports whether it could (WebSocket only). */
    send(text: string): boolean;
    /** close ends the link without reporting its end. */
    close(code?: number, reason?: string): void;
}
/** openWebSocket dials url with the herald.v1 subprotocol. It throws what the constructor throws. */
export declare function openWebSocket(WS: WebSocketConstructorLike, url: string, h: LinkHandlers): Link;
/**
 * openEventSource opens the SSE stream at url. EventSource would reconnect by
 * itself, with the same URL (and token) and its own delays: the link closes it
 * on the first error instead, so that the client reconnects as it does for
 * WebSocket, with a fresh token and its backoff.
 */
export declare function openEventSource(ES: EventSourceConstructorLike, url: string, h: LinkHandlers): Link;
