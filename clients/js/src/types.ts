// The public types of the SDK: the frames a device sees, as the wire contract
// (docs/protocol.md) defines them, and the options of HeraldClient.

import type { HeraldError } from './errors.js';

/**
 * ConnectionState is where a client is in its life: `idle` before connect(),
 * `connecting` during the first attempt, `open` once a welcome arrived,
 * `reconnecting` between connections (waiting or dialing again), and `closed`
 * after close() or an error that ends the client (see HeraldError codes).
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Welcome is the first frame of every connection. */
export interface Welcome {
  session: string;
  account: string;
  device: string;
  edge: string;
  /** How often the server pings the connection, in milliseconds. */
  ping_ms: number;
  /** When the server will ask this connection to reconnect, in milliseconds. */
  lifetime_ms?: number;
  /** The server's clock, Unix milliseconds. */
  server_time: number;
}

/** Target names the sibling devices a message goes to: exactly one of the three. */
export type Target = { device: string } | { devices: string[] } | { siblings: true };

/** Sender says who sent a message; the platform fills it in, never the sender. */
export interface Sender {
  device?: string;
  service?: string;
}

/** Message is a msg frame addressed to this device. */
export interface Message<P = unknown> {
  /** Time-ordered id (ULID or UUIDv7); duplicates with the same id are dropped. */
  id: string;
  type: string;
  from: Sender;
  /** When the platform accepted the message, Unix milliseconds. */
  ts: number;
  ttl?: number;
  /** The sender asked for an acknowledgement: call acknowledge(). */
  ack?: boolean;
  /**
   * The inbox sequence of a message stored while this device was offline
   * (store-and-forward), absent on a live message: the client's resume cursor
   * moves to it (see HeraldClient.cursor).
   */
  seq?: number;
  /**
   * The topic the message was published to (POST /v1/topics/{topic}/messages),
   * absent on a message sent to this device. Such a message comes from a
   * service, to every device subscribed (see HeraldClient.subscribe).
   */
  topic?: string;
  payload: P;
  /** Sends an ack frame for this message (POST /v1/acks over SSE). */
  acknowledge(): void;
}

/**
 * TypedMessage is a Message whose payload type follows from its `type`, for a
 * client created with a map of message types (`HeraldClient<Types>`):
 * checking `m.type` narrows `m.payload`.
 */
export type TypedMessage<Types extends Record<string, unknown>> = {
  [K in keyof Types & string]: Message<Types[K]> & { type: K };
}[keyof Types & string];

/** DeliveryStatus is the outcome of a message for one target device. */
export type DeliveryStatus = 'delivered' | 'acked' | 'offline' | 'queued' | 'rejected' | 'timeout';

/** DeliveryResult is one target's outcome in a receipt. */
export interface DeliveryResult {
  device: string;
  status: DeliveryStatus;
  /**
   * Why a target was rejected. The wire carries a string (usually a code such
   * as `unknown_device` or `rate_limited`); the client puts it in both fields.
   */
  error?: { code: string; message: string };
}

/** Receipt answers a message this device sent, with one result per target. */
export interface Receipt {
  id: string;
  results: DeliveryResult[];
}

/** Presence says that a sibling device came online or went offline. */
export interface Presence {
  device: string;
  online: boolean;
  platform?: string;
  ts: number;
}

/**
 * TopicStatus is the outcome of one topic of a subscribe or unsubscribe:
 * `subscribed` (also when it was already), `unsubscribed` (also when it was
 * not), `forbidden` (the device token's topics claim does not grant it),
 * `invalid` (the name breaks the rule; the client checks it first, so only a
 * newer server's rule gives it) or `limit` (the connection holds as many
 * subscriptions as the edge allows).
 */
export type TopicStatus = 'subscribed' | 'unsubscribed' | 'forbidden' | 'invalid' | 'limit';

/** TopicResult is one topic's outcome in a subs frame; topic is '' for an invalid name, which the edge does not echo. */
export interface TopicResult {
  topic: string;
  status: TopicStatus;
}

/** Subs is the edge's answer to a sub or unsub frame: one result per topic, in order. */
export interface Subs {
  /** The id of the sub or unsub frame it answers. */
  id: string;
  results: TopicResult[];
}

/** TopicMessage is a message published to a topic: its `topic` is set. */
export type TopicMessage<Types extends Record<string, unknown> = Record<string, unknown>> = TypedMessage<Types> & { topic: string };

/** HelloInfo is the device's metadata for its account's device list. */
export interface HelloInfo {
  platform?: string;
  name?: string;
  app_version?: string;
  capabilities?: string[];
}

/** ReconnectRequest is the server's reconnect frame. */
export interface ReconnectRequest {
  after_ms: number;
  /** `lifetime`, `drain` or `rebalance`. */
  reason: string;
}

/** SendOptions change one message that send() writes. */
export interface SendOptions {
  /** The message id; default a fresh ULID. Reuse an id to retry without duplicates. */
  id?: string;
  /** Seconds the server may keep the message for an offline target (store-and-forward). */
  ttl?: number;
  /** Ask the targets to acknowledge the message. */
  ack?: boolean;
  /**
   * Resolve only once every `delivered` result became `acked` (or `timeout`),
   * from the server's second receipt. Implies `ack` (with `ack: false` it is an
   * error). If that receipt does not come within the timeout, send() resolves
   * with the first receipt.
   */
  waitAcked?: boolean;
  /** How long to wait for each receipt; default ClientOptions.receiptTimeoutMs. */
  timeoutMs?: number;
}

/** The part of the WHATWG WebSocket the client uses. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol?: string;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor, such as globalThis.WebSocket or the `ws` package. */
export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** The part of the WHATWG EventSource the client uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  close(): void;
}

/** An EventSource constructor, such as globalThis.EventSource. */
export type EventSourceConstructorLike = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

/** ClientOptions configure a HeraldClient. Only url and token are required. */
export interface ClientOptions {
  /**
   * The edge's base URL: http(s):// or ws(s)://. The client appends
   * /v1/connect or /v1/events. With fallbackUrls, the preferred endpoint:
   * the nearest region.
   */
  url: string;
  /**
   * Endpoints to fail over to, in order, each in url's form (typically one per
   * other region). The client stays on url while it works; when an attempt
   * fails it dials the next endpoint for the next attempt, and after
   * fallbackRetryMs on a fallback it returns to url once url answers again
   * (README, "Endpoints"). client.endpoint says which one is in use.
   */
  fallbackUrls?: string[];
  /**
   * How long the client stays on a fallback before it checks whether url is
   * back, in milliseconds, plus a random jitter of up to 20% (so that a
   * region's devices do not all return at once); default 600000 (10 minutes).
   */
  fallbackRetryMs?: number;
  /**
   * The device token, or a function that returns one, called before every
   * connection attempt (a fresh token after 4001 or an HTTP 401). A function
   * that throws makes the client retry with backoff, unless it throws a
   * HeraldError with code `unauthorized` or `forbidden`, which closes the client.
   */
  token: string | (() => string | Promise<string>);
  /**
   * With a token function: how long before the connection's token expires
   * the client calls it and refreshes the live connection with the new token
   * (a refresh frame, or POST /v1/refresh over SSE), which then outlives the
   * old one without a reconnect; half way to the expiry when that is sooner.
   * A refused refresh leaves the old expiry (4001, then a reconnect with a
   * fresh token). Default 60000; negative: no refreshes.
   */
  refreshBeforeMs?: number;
  /** `auto` (default): WebSocket if there is one, else SSE (receive-only). */
  transport?: 'auto' | 'websocket' | 'sse';
  /** Default globalThis.WebSocket. */
  WebSocket?: WebSocketConstructorLike;
  /** Default globalThis.EventSource; used for the SSE fallback. */
  EventSource?: EventSourceConstructorLike;
  /** Default globalThis.fetch: acks over SSE (POST /v1/acks) and the check after a failed handshake. */
  fetch?: typeof fetch;
  /** Device metadata, sent in a hello frame after each welcome. */
  hello?: HelloInfo;
  /** Ask for presence frames about sibling devices (in the hello frame after each welcome). */
  presence?: boolean;
  /** Reconnect delays: exponential with equal jitter between minDelayMs (500) and maxDelayMs (30000). */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number; enabled?: boolean };
  /** How long send() waits for a receipt, in milliseconds; default 10000. */
  receiptTimeoutMs?: number;
  /** How many message ids are remembered to drop duplicates; default 4096. */
  dedupSize?: number;
  /**
   * The resume cursor to start from: the seq of the last stored message this
   * device received, as `client.cursor` read before the app last stopped. The
   * edge then writes only the stored messages after it. Default 0: everything
   * the device's inbox holds.
   */
  after?: number;
  /**
   * Acknowledge each message that asks for it (ack: true) after the `message`
   * listeners returned, and again when a duplicate of it arrives. Default false:
   * call message.acknowledge() or client.ack(id); the client then acks again
   * only the duplicates of messages the app acked.
   */
  autoAck?: boolean;
}

/** ClientEvents are the events of a HeraldClient and their listeners' signatures. */
export interface ClientEvents<Types extends Record<string, unknown> = Record<string, unknown>> {
  /** A msg for this device, duplicates dropped. */
  message: (m: TypedMessage<Types>) => void;
  /** The state changed (or another attempt failed), with the error that caused it if any. */
  state: (state: ConnectionState, error?: HeraldError) => void;
  /** A connection received its welcome. */
  welcome: (w: Welcome) => void;
  /** Every receipt, in order: also the second receipt of a msg sent with an ack. */
  receipt: (r: Receipt) => void;
  /** A sibling device came online or went offline (after `presence: true`). */
  presence: (p: Presence) => void;
  /** An error frame not tied to a pending send, or a failed ack over SSE. */
  error: (e: HeraldError) => void;
  /** The server asked this client to reconnect; the client does so by itself. */
  reconnect: (r: ReconnectRequest) => void;
  /**
   * Every subs frame: the answers to subscribe() and unsubscribe(), and to the
   * sub frame the client sends after each welcome for the topics it remembers.
   */
  subs: (s: Subs) => void;
  /** The connection's token was refreshed: its new exp, in Unix seconds (0: none). */
  refreshed: (exp: number) => void;
}
