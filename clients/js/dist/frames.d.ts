import type { Presence, Receipt, ReconnectRequest, Sender, Subs, Welcome } from './types.js';
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
export type Frame = {
    t: 'welcome';
    welcome: Welcome;
} | {
    t: 'msg';
    msg: MsgFrame;
} | {
    t: 'receipt';
    receipt: Receipt;
} | {
    t: 'error';
    error: ErrorFrame;
} | {
    t: 'presence';
    presence: Presence;
} | {
    t: 'reconnect';
    reconnect: ReconnectRequest;
} | {
    t: 'subs';
    subs: Subs;
} | {
    t: 'refreshed';
    refreshed: {
        id: string;
        exp: number;
    };
};
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
export declare function subscriptionFrame(t: 'sub' | 'unsub', id: string, topics: readonly string[], after?: Record<string, number>): string;
/**
 * decodeFrame parses one frame. It returns undefined for text that is not a
 * JSON object, an unknown kind, or a frame without the fields the contract
 * requires, which the client ignores (a newer server may send more).
 */
export declare function decodeFrame(text: string): Frame | undefined;
/**
 * receiptFinal reports whether no later receipt can change r: none of its
 * results is `delivered`, which an ack (or its timeout) still turns into
 * `acked` or `timeout`.
 */
export declare function receiptFinal(r: Receipt): boolean;
/** refreshFrame encodes a refresh frame: the connection's new token. */
export declare function refreshFrame(id: string, token: string): string;
/** tokenExpiry reads a JWT's exp (Unix seconds) without checking it (the edge does); 0 when it has none. */
export declare function tokenExpiry(token: string): number;
