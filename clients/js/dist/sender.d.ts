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
    devices: {
        device: string;
        status: string;
        error?: string;
        at?: number;
    }[];
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
    failed?: {
        edge: string;
        error: string;
    }[];
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
export declare class HeraldProblem extends Error {
    readonly code: string;
    readonly status: number;
    readonly title: string;
    readonly detail: string;
    /** The offending parts of the request: JSON pointers and messages. */
    readonly details: {
        pointer: string;
        message: string;
    }[];
    /** The server's Retry-After, in ms; 0 when it sent none. */
    readonly retryAfterMs: number;
    constructor(init: {
        code: string;
        status: number;
        title: string;
        detail?: string;
        errors?: {
            pointer: string;
            message: string;
        }[];
    }, retryAfterMs?: number);
}
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
export declare class HeraldSender<T = HeraldMessageTypes> {
    #private;
    constructor(opts: SenderOptions);
    /** Sends a push and returns each device's outcome. */
    push<K extends keyof T & string>(req: PushRequest<T, K>, signal?: AbortSignal): Promise<PushResult>;
    /** Sends many pushes in one request; one result (or problem) per push, in order. */
    pushBatch(reqs: PushRequest<T>[], timeoutMs?: number, signal?: AbortSignal): Promise<(PushResult | HeraldProblem)[]>;
    /** Enqueues a message for the asynchronous path and resolves with its id. */
    send<K extends keyof T & string>(req: SendRequest<T, K>, signal?: AbortSignal): Promise<string>;
    /**
     * Enqueues many messages for the asynchronous path in one request; one id
     * (or problem) per message, in order. Each message carries an idempotency
     * key (its own, or a fresh one), so the request is retried as send is, and
     * a message an earlier attempt enqueued resolves to that attempt's id. A
     * message's problem (a 503 when the queue did not take it) is not retried.
     */
    sendBatch(reqs: SendRequest<T>[], signal?: AbortSignal): Promise<(string | HeraldProblem)[]>;
    /** What became of an asynchronous message. */
    status(id: string, signal?: AbortSignal): Promise<MessageStatus>;
    /** Publishes to a topic. */
    publish<K extends keyof T & string>(topic: string, req: PublishRequest<T, K>, signal?: AbortSignal): Promise<PublishResult>;
    /** Counts a topic's subscribers. */
    topicCount(topic: string, signal?: AbortSignal): Promise<{
        topic: string;
        subscribers: number;
        edges: {
            edge: string;
            subscribers: number;
        }[];
    }>;
    /** Lists an account's devices, with whether each is connected. */
    devices(account: string, signal?: AbortSignal): Promise<DeviceInfo[]>;
    /** Adds a device to an account's list, or updates it. */
    putDevice(account: string, device: string, d: DeviceUpdate, signal?: AbortSignal): Promise<DeviceInfo>;
    /** Removes a device from an account's list, closing its connection. */
    deleteDevice(account: string, device: string, signal?: AbortSignal): Promise<void>;
}
