// HeraldSender: the REST API behind one client, for backend senders on
// Node.js (or any runtime with fetch). The same calls and retry rules as the
// Go library clients/go/sender.

import type { HeraldMessageTypes } from './types.gen.js';

/** Who a message is for: one device of an account, or every device of it. */
export interface SenderTarget {
  account: string;
  /** Leave out for every device of the account. */
  device?: string;
}

/** One device's outcome of a push. */
export interface SenderResult {
  device: string;
  status: 'delivered' | 'acked' | 'offline' | 'queued' | 'rejected' | 'timeout' | string;
  error?: string;
}

/** The answer to a push. */
export interface PushResult {
  id: string;
  results: SenderResult[];
}

/** A synchronous push (POST /v1/push), typed by the message types T. */
export interface PushRequest<T, K extends keyof T & string = keyof T & string> {
  to: SenderTarget;
  type: K;
  payload: T[K];
  /** Ask the devices to ack it; undefined takes the type's policy. */
  ack?: boolean;
  /** Seconds it may wait in an offline device's inbox; 0: now or never. */
  ttl?: number;
  /** How long the server waits for the devices' outcomes. */
  timeoutMs?: number;
}

/** An asynchronous message (POST /v1/messages). */
export interface SendRequest<T, K extends keyof T & string = keyof T & string> {
  to: SenderTarget;
  type: K;
  payload: T[K];
  ack?: boolean;
  priority?: 'high' | 'normal' | 'low';
  /** Seconds; 0 never expires. */
  ttl?: number;
  collapseKey?: string;
  /** Makes repeats of one send enqueue it once; a fresh key by default. */
  idempotencyKey?: string;
}

/** What became of an asynchronous message. */
export interface MessageStatus {
  id: string;
  account?: string;
  priority?: string;
  status: string;
  accepted?: number;
  devices: { device: string; status: string; error?: string; at?: number }[];
  topic?: string;
}

/** A message to a topic (POST /v1/topics/{topic}/messages). */
export interface PublishRequest<T, K extends keyof T & string = keyof T & string> {
  type: K;
  payload: T[K];
  timeoutMs?: number;
  async?: boolean;
  priority?: 'high' | 'normal' | 'low';
  ttl?: number;
}

/** What a publish did. */
export interface PublishResult {
  id: string;
  edges?: number;
  devices?: number;
  dropped?: number;
  regions?: number;
  seq?: number;
  failed?: { edge: string; error: string }[];
}

/** A device of an account's list. */
export interface DeviceInfo {
  account: string;
  id: string;
  platform?: string;
  name?: string;
  app_version?: string;
  capabilities?: string[];
  attributes?: Record<string, string>;
  created: string;
  updated: string;
  last_seen?: string;
  online?: boolean;
  region?: string;
}

/** The metadata putDevice records. */
export interface DeviceUpdate {
  platform?: string;
  name?: string;
  app_version?: string;
  capabilities?: string[];
  attributes?: Record<string, string>;
}

/** Options of HeraldSender. */
export interface SenderOptions {
  /** The base URL of the REST API, http:// or https://. */
  url: string;
  /** The API key's secret. */
  apiKey: string;
  /** Retries of one call (default 3; 0: none). */
  maxRetries?: number;
  /** Bounds of the wait before a retry, in ms: doubling, full jitter (100 and 5000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
}

/** A problem+json error the API answered (RFC 9457). */
export class HeraldProblem extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  /** The offending parts of the request: JSON pointers and messages. */
  readonly details: { pointer: string; message: string }[];
  /** The server's Retry-After, in ms; 0 when it sent none. */
  readonly retryAfterMs: number;

  constructor(init: { code: string; status: number; title: string; detail?: string; errors?: { pointer: string; message: string }[] }, retryAfterMs = 0) {
    super(`herald: ${init.status} ${init.title} (${init.code})${init.detail ? ': ' + init.detail : ''}`);
    this.name = 'HeraldProblem';
    this.code = init.code;
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail ?? '';
    this.details = init.errors ?? [];
    this.retryAfterMs = retryAfterMs;
  }
}

// retryIfIdle retries only what the server said it did not do (429, or 503
// with Retry-After); retryIdempotent also failed connections, 5xx and 409.
type RetryPolicy = 'ifIdle' | 'idempotent';

const statusCode = (status: number): string => {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status === 502 || status === 503 || status === 504) return 'unavailable';
  if (status >= 500) return 'internal';
  return 'bad_request';
};

const newKey = (): string => {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
};

/**
 * HeraldSender calls Herald's REST API for a backend: push (synchronous),
 * pushBatch, send (asynchronous, with an automatic Idempotency-Key),
 * sendBatch (one key per message) and status, publish and topicCount, and
 * the device list. Payloads are typed by T, the generated HeraldMessageTypes
 * by default.
 *
 * Retries, with backoff and jitter: send, sendBatch and the GETs on failed
 * connections, 5xx, 409 and 429 (their keys make repeats one message); the
 * other calls only on a 429 or a 503 with Retry-After, when the server did
 * nothing. Errors the server answers are HeraldProblem.
 */
export class HeraldSender<T = HeraldMessageTypes> {
  readonly #base: string;
  readonly #key: string;
  readonly #maxRetries: number;
  readonly #minBackoff: number;
  readonly #maxBackoff: number;
  readonly #fetch: typeof fetch;

  constructor(opts: SenderOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new TypeError('HeraldSender: url must be an http:// or https:// URL');
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host) {
      throw new TypeError('HeraldSender: url must be an http:// or https:// URL');
    }
    if (!opts.apiKey) throw new TypeError('HeraldSender: apiKey is required');
    this.#base = opts.url.replace(/\/+$/, '');
    this.#key = opts.apiKey;
    this.#maxRetries = opts.maxRetries ?? 3;
    this.#minBackoff = opts.minBackoffMs ?? 100;
    this.#maxBackoff = opts.maxBackoffMs ?? 5000;
    if (this.#maxRetries < 0 || this.#minBackoff <= 0 || this.#maxBackoff < this.#minBackoff) {
      throw new TypeError('HeraldSender: maxRetries must not be negative, and 0 < minBackoffMs <= maxBackoffMs');
    }
    const f = opts.fetch ?? globalThis.fetch;
    if (!f) throw new TypeError('HeraldSender: no fetch in this runtime; pass one as options.fetch');
    this.#fetch = f;
  }

  /** Sends a push and returns each device's outcome. */
  push<K extends keyof T & string>(req: PushRequest<T, K>, signal?: AbortSignal): Promise<PushResult> {
    return this.#call('POST', '/v1/push', pushBody(req), [200], 'ifIdle', signal) as Promise<PushResult>;
  }

  /** Sends many pushes in one request; one result (or problem) per push, in order. */
  async pushBatch(reqs: PushRequest<T>[], timeoutMs?: number, signal?: AbortSignal): Promise<(PushResult | HeraldProblem)[]> {
    const body = { messages: reqs.map((r) => ({ ...pushBody(r), timeout_ms: undefined })), timeout_ms: timeoutMs };
    const out = (await this.#call('POST', '/v1/push/batch', body, [200], 'ifIdle', signal)) as {
      results: ({ id?: string; results?: SenderResult[]; error?: ConstructorParameters<typeof HeraldProblem>[0] })[];
    };
    return out.results.map((r) => (r.error ? new HeraldProblem(r.error) : { id: r.id ?? '', results: r.results ?? [] }));
  }

  /** Enqueues a message for the asynchronous path and resolves with its id. */
  async send<K extends keyof T & string>(req: SendRequest<T, K>, signal?: AbortSignal): Promise<string> {
    const out = (await this.#call('POST', '/v1/messages', sendBody(req), [202], 'idempotent', signal, {
      'Idempotency-Key': req.idempotencyKey ?? newKey(),
    })) as { id: string };
    return out.id;
  }

  /**
   * Enqueues many messages for the asynchronous path in one request; one id
   * (or problem) per message, in order. Each message carries an idempotency
   * key (its own, or a fresh one), so the request is retried as send is, and
   * a message an earlier attempt enqueued resolves to that attempt's id. A
   * message's problem (a 503 when the queue did not take it) is not retried.
   */
  async sendBatch(reqs: SendRequest<T>[], signal?: AbortSignal): Promise<(string | HeraldProblem)[]> {
    const body = { messages: reqs.map((r) => ({ ...sendBody(r), idempotency_key: r.idempotencyKey ?? newKey() })) };
    const out = (await this.#call('POST', '/v1/messages/batch', body, [200], 'idempotent', signal)) as {
      results: { id?: string; replayed?: boolean; error?: ConstructorParameters<typeof HeraldProblem>[0] }[];
    };
    return out.results.map((r) => (r.error ? new HeraldProblem(r.error) : (r.id ?? '')));
  }

  /** What became of an asynchronous message. */
  status(id: string, signal?: AbortSignal): Promise<MessageStatus> {
    return this.#call('GET', '/v1/messages/' + encodeURIComponent(id), undefined, [200], 'idempotent', signal) as Promise<MessageStatus>;
  }

  /** Publishes to a topic. */
  publish<K extends keyof T & string>(topic: string, req: PublishRequest<T, K>, signal?: AbortSignal): Promise<PublishResult> {
    const body = { type: req.type, payload: req.payload, timeout_ms: req.timeoutMs, async: req.async, priority: req.priority, ttl: req.ttl };
    return this.#call('POST', '/v1/topics/' + encodeURIComponent(topic) + '/messages', body, [req.async ? 202 : 200], 'ifIdle', signal) as Promise<PublishResult>;
  }

  /** Counts a topic's subscribers. */
  topicCount(topic: string, signal?: AbortSignal): Promise<{ topic: string; subscribers: number; edges: { edge: string; subscribers: number }[] }> {
    return this.#call('GET', '/v1/topics/' + encodeURIComponent(topic), undefined, [200], 'idempotent', signal) as Promise<{
      topic: string;
      subscribers: number;
      edges: { edge: string; subscribers: number }[];
    }>;
  }

  /** Lists an account's devices, with whether each is connected. */
  async devices(account: string, signal?: AbortSignal): Promise<DeviceInfo[]> {
    const out = (await this.#call('GET', '/v1/accounts/' + encodeURIComponent(account) + '/devices', undefined, [200], 'idempotent', signal)) as {
      devices: DeviceInfo[];
    };
    return out.devices;
  }

  /** Adds a device to an account's list, or updates it. */
  putDevice(account: string, device: string, d: DeviceUpdate, signal?: AbortSignal): Promise<DeviceInfo> {
    const path = '/v1/accounts/' + encodeURIComponent(account) + '/devices/' + encodeURIComponent(device);
    return this.#call('PUT', path, d, [200, 201], 'ifIdle', signal) as Promise<DeviceInfo>;
  }

  /** Removes a device from an account's list, closing its connection. */
  async deleteDevice(account: string, device: string, signal?: AbortSignal): Promise<void> {
    const path = '/v1/accounts/' + encodeURIComponent(account) + '/devices/' + encodeURIComponent(device);
    await this.#call('DELETE', path, undefined, [204], 'ifIdle', signal);
  }

  async #call(method: string, path: string, body: unknown, want: number[], policy: RetryPolicy, signal?: AbortSignal, header?: Record<string, string>): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const { value, retry, waitMs, error } = await this.#once(method, path, payload, want, policy, signal, header);
      if (!error) return value;
      if (!retry || attempt >= this.#maxRetries) throw error;
      let wait = waitMs;
      if (wait <= 0) {
        const bound = Math.min(this.#minBackoff * 2 ** attempt, this.#maxBackoff);
        wait = 1 + Math.random() * bound;
      }
      await sleep(wait, signal);
    }
  }

  async #once(
    method: string,
    path: string,
    payload: string | undefined,
    want: number[],
    policy: RetryPolicy,
    signal: AbortSignal | undefined,
    header: Record<string, string> | undefined,
  ): Promise<{ value?: unknown; retry: boolean; waitMs: number; error?: Error }> {
    const headers: Record<string, string> = { Authorization: 'Bearer ' + this.#key, Accept: 'application/json', ...header };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.#fetch(this.#base + path, { method, headers, body: payload, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      return { retry: policy === 'idempotent', waitMs: 0, error: err as Error };
    }
    const text = await res.text();
    if (want.includes(res.status)) {
      return { value: text ? JSON.parse(text) : undefined, retry: false, waitMs: 0 };
    }
    let init: ConstructorParameters<typeof HeraldProblem>[0];
    try {
      init = JSON.parse(text);
      if (typeof init?.code !== 'string') throw new Error('not a problem');
    } catch {
      init = { code: statusCode(res.status), status: res.status, title: res.statusText };
    }
    init = { ...init, status: res.status };
    const ra = Number(res.headers.get('Retry-After'));
    const retryAfterMs = Number.isFinite(ra) && ra > 0 ? ra * 1000 : 0;
    const error = new HeraldProblem(init, retryAfterMs);
    const waitMs = Math.min(retryAfterMs, 4 * this.#maxBackoff);
    if (res.status === 429 || (res.status === 503 && retryAfterMs > 0)) return { retry: true, waitMs, error };
    if (policy === 'idempotent' && (res.status >= 500 || res.status === 409)) return { retry: true, waitMs, error };
    return { retry: false, waitMs: 0, error };
  }
}

function pushBody<T>(req: PushRequest<T>) {
  return { to: req.to, type: req.type, payload: req.payload, ack: req.ack, ttl: req.ttl, timeout_ms: req.timeoutMs };
}

function sendBody<T>(req: SendRequest<T>) {
  return {
    to: req.to,
    type: req.type,
    payload: req.payload,
    ack: req.ack,
    priority: req.priority,
    ttl: req.ttl,
    collapse_key: req.collapseKey,
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
