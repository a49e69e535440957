// Frames as the client reads them: the JSON of the wire contract
// (docs/protocol.md) checked just enough that the client can rely on the
// fields it uses. Unknown kinds and fields are ignored, as the contract asks.
// Also the sub and unsub frames the client writes (msg and ack are in send.ts
// and client.ts).

import type { DeliveryResult, DeliveryStatus, Presence, Receipt, ReconnectRequest, Sender, Subs, TopicResult, TopicStatus, Welcome } from './types.js';

/** MsgFrame is a msg as received, before the client adds acknowledge(). */
export interface MsgFrame {
  id: string;
  type: string;
  from: Sender;
  ts: number;
  ttl?: number;
  ack?: boolean;
  seq?: number;
  /** The topic the message was published to; absent on a message sent to this device. */
  topic?: string;
  payload: unknown;
}

/** ErrorFrame is an error frame. */
export interface ErrorFrame {
  re?: string;
  code: string;
  message: string;
  details?: unknown[];
}

/** Frame is a decoded server frame the client acts on. */
export type Frame =
  | { t: 'welcome'; welcome: Welcome }
  | { t: 'msg'; msg: MsgFrame }
  | { t: 'receipt'; receipt: Receipt }
  | { t: 'error'; error: ErrorFrame }
  | { t: 'presence'; presence: Presence }
  | { t: 'reconnect'; reconnect: ReconnectRequest }
  | { t: 'subs'; subs: Subs }
  | { t: 'refreshed'; refreshed: { id: string; exp: number } };

/** SubFrame subscribes the device to topics for the connection's life; the edge answers with a subs frame of the same id. */
export interface SubFrame {
  t: 'sub';
  id: string;
  topics: string[];
  /** For topics of topics: the seq of the last message of it the device has; the edge writes what the topic's log holds after it first. */
  after?: Record<string, number>;
}

/** UnsubFrame ends the device's subscriptions to topics; the edge answers with a subs frame of the same id. */
export interface UnsubFrame {
  t: 'unsub';
  id: string;
  topics: string[];
}

/** subscriptionFrame encodes a sub or unsub frame of id for topics, each already checked (topics.ts), with a sub's catch-up cursors. */
export function subscriptionFrame(t: 'sub' | 'unsub', id: string, topics: readonly string[], after?: Record<string, number>): string {
  const f: SubFrame | UnsubFrame = { t, id, topics: [...topics] };
  if (t === 'sub' && after && Object.keys(after).length > 0) (f as SubFrame).after = after;
  return JSON.stringify(f);
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * decodeFrame parses one frame. It returns undefined for text that is not a
 * JSON object, an unknown kind, or a frame without the fields the contract
 * requires, which the client ignores (a newer server may send more).
 */
export function decodeFrame(text: string): Frame | undefined {
  let f: unknown;
  try {
    f = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(f)) return undefined;
  switch (f.t) {
    case 'welcome': {
      if (!str(f.session) || !str(f.device)) return undefined;
      const w: Welcome = {
        session: str(f.session),
        account: str(f.account),
        device: str(f.device),
        edge: str(f.edge),
        ping_ms: num(f.ping_ms),
        server_time: num(f.server_time),
      };
      if (typeof f.lifetime_ms === 'number') w.lifetime_ms = f.lifetime_ms;
      return { t: 'welcome', welcome: w };
    }
    case 'msg': {
      if (!str(f.type) || f.payload === undefined) return undefined;
      const m: MsgFrame = {
        id: str(f.id),
        type: str(f.type),
        from: isObj(f.from) ? sender(f.from) : {},
        ts: num(f.ts),
        payload: f.payload,
      };
      if (typeof f.ttl === 'number') m.ttl = f.ttl;
      if (typeof f.ack === 'boolean') m.ack = f.ack;
      // A seq past 2^53 would lose digits as a number; none is given out below
      // that for hundreds of thousands of years (the edge's seqs are Unix
      // milliseconds), so such a frame keeps no seq rather than a wrong one.
      if (Number.isSafeInteger(f.seq) && (f.seq as number) > 0) m.seq = f.seq as number;
      if (str(f.topic)) m.topic = str(f.topic);
      return { t: 'msg', msg: m };
    }
    case 'receipt': {
      if (!str(f.id) || !Array.isArray(f.results)) return undefined;
      return { t: 'receipt', receipt: { id: str(f.id), results: f.results.filter(isObj).map(result) } };
    }
    case 'error': {
      const e: ErrorFrame = { code: str(f.code) || 'unknown', message: str(f.message) };
      if (str(f.re)) e.re = str(f.re);
      if (Array.isArray(f.details)) e.details = f.details;
      return { t: 'error', error: e };
    }
    case 'presence': {
      if (!str(f.device)) return undefined;
      const p: Presence = { device: str(f.device), online: f.online === true, ts: num(f.ts) };
      if (str(f.platform)) p.platform = str(f.platform);
      return { t: 'presence', presence: p };
    }
    case 'reconnect':
      return { t: 'reconnect', reconnect: { after_ms: Math.max(0, num(f.after_ms)), reason: str(f.reason) } };
    case 'refreshed':
      if (!str(f.id)) return undefined;
      return { t: 'refreshed', refreshed: { id: str(f.id), exp: num(f.exp) } };
    case 'subs': {
      // The id is optional in the contract; this client always sends one.
      if (!Array.isArray(f.results)) return undefined;
      return { t: 'subs', subs: { id: str(f.id), results: f.results.filter(isObj).map(topicResult) } };
    }
  }
  return undefined;
}

function sender(f: Obj): Sender {
  const s: Sender = {};
  if (str(f.device)) s.device = str(f.device);
  if (str(f.service)) s.service = str(f.service);
  return s;
}

function result(r: Obj): DeliveryResult {
  const out: DeliveryResult = { device: str(r.device), status: str(r.status) as DeliveryStatus };
  if (typeof r.error === 'string' && r.error) {
    out.error = { code: r.error, message: r.error };
  } else if (isObj(r.error)) {
    out.error = { code: str(r.error.code), message: str(r.error.message) };
  }
  return out;
}

function topicResult(r: Obj): TopicResult {
  return { topic: str(r.topic), status: str(r.status) as TopicStatus };
}

/**
 * receiptFinal reports whether no later receipt can change r: none of its
 * results is `delivered`, which an ack (or its timeout) still turns into
 * `acked` or `timeout`.
 */
export function receiptFinal(r: Receipt): boolean {
  return r.results.every((res) => res.status !== 'delivered');
}

/** refreshFrame encodes a refresh frame: the connection's new token. */
export function refreshFrame(id: string, token: string): string {
  return JSON.stringify({ t: 'refresh', id, token });
}

/** tokenExpiry reads a JWT's exp (Unix seconds) without checking it (the edge does); 0 when it has none. */
export function tokenExpiry(token: string): number {
  const parts = token.split('.');
  if (parts.length !== 3) return 0;
  try {
    const b64 = parts[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))) as { exp?: unknown };
    return typeof json.exp === 'number' && Number.isFinite(json.exp) ? Math.floor(json.exp) : 0;
  } catch {
    return 0;
  }
}
