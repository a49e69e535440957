// One connection attempt to an edge, over WebSocket or SSE, behind one small
// interface so that the client's life cycle is the same for both.

import type { EventSourceConstructorLike, EventSourceLike, WebSocketConstructorLike, WebSocketLike } from './types.js';

/** subprotocol is the WebSocket subprotocol of the device endpoint. */
export const subprotocol = 'herald.v1';

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

const wsOpen = 1;
/** closeAfterErrorMs is how long an error event may wait for its close event. */
const closeAfterErrorMs = 1000;

/** openWebSocket dials url with the herald.v1 subprotocol. It throws what the constructor throws. */
export function openWebSocket(WS: WebSocketConstructorLike, url: string, h: LinkHandlers): Link {
  const ws: WebSocketLike = new WS(url, subprotocol);
  let opened = false;
  let done = false;
  const detach = () => {
    done = true;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  };
  const finish = (e: LinkEnd) => {
    if (done) return;
    detach();
    h.end(e);
  };
  ws.onopen = () => {
    opened = true;
    if (typeof ws.protocol === 'string' && ws.protocol !== subprotocol) {
      finish({ opened, protocolError: `the server did not agree to subprotocol ${subprotocol}` });
      safeClose(ws, 1000, 'subprotocol herald.v1 required');
    }
  };
  ws.onmessage = (ev) => {
    if (!done && typeof ev.data === 'string') h.text(ev.data); // binary messages are not frames
  };
  let fallback: ReturnType<typeof setTimeout> | undefined;
  ws.onclose = (ev) => {
    clearTimeout(fallback);
    finish({ opened, code: ev.code, reason: ev.reason });
  };
  ws.onerror = () => {
    // Browsers follow an error with a close event (1006 for a failed
    // handshake); some implementations (Node 20's) do not after a failed
    // handshake, so an error ends the link unless its close comes soon.
    const fail = () => {
      finish({ opened, code: 1006 }); // detaches first: close() may fire error again, at once
      safeClose(ws, 1000, '');
    };
    if (!opened) fail();
    else fallback ??= setTimeout(fail, closeAfterErrorMs);
  };
  return {
    kind: 'websocket',
    send(text) {
      if (done || ws.readyState !== wsOpen) return false;
      try {
        ws.send(text);
        return true;
      } catch {
        return false;
      }
    },
    close(code = 1000, reason = '') {
      if (done) return;
      clearTimeout(fallback);
      detach();
      safeClose(ws, code, reason);
    },
  };
}

function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closing, or a code the implementation refuses: drop it
  }
}

/**
 * openEventSource opens the SSE stream at url. EventSource would reconnect by
 * itself, with the same URL (and token) and its own delays: the link closes it
 * on the first error instead, so that the client reconnects as it does for
 * WebSocket, with a fresh token and its backoff.
 */
export function openEventSource(ES: EventSourceConstructorLike, url: string, h: LinkHandlers): Link {
  const es: EventSourceLike = new ES(url);
  let opened = false;
  let done = false;
  const detach = () => {
    done = true;
    es.onopen = es.onmessage = es.onerror = null;
    try {
      es.close();
    } catch {
      // nothing to do
    }
  };
  es.onopen = () => {
    opened = true;
  };
  es.onmessage = (ev) => {
    if (!done && typeof ev.data === 'string') h.text(ev.data);
  };
  es.onerror = () => {
    if (done) return;
    detach();
    h.end({ opened });
  };
  return {
    kind: 'sse',
    send: () => false,
    close() {
      if (!done) detach();
    },
  };
}
