import type { Receipt } from './types.js';
/**
 * ErrorCode lists the codes of HeraldError. The first group comes from the
 * server's error frames (docs/protocol.md, "Error codes"); the second from the
 * client. Codes are strings so that a newer server's codes pass through.
 */
export declare const ErrorCode: {
    readonly BadFrame: "bad_frame";
    readonly UnknownType: "unknown_type";
    readonly SchemaInvalid: "schema_invalid";
    readonly Forbidden: "forbidden";
    readonly TooLarge: "too_large";
    readonly RateLimited: "rate_limited";
    readonly Unavailable: "unavailable";
    /** An argument of a call is not valid; nothing was sent. */
    readonly InvalidArgument: "invalid_argument";
    /** There is no open connection, or it dropped before the receipt. */
    readonly NotConnected: "not_connected";
    /** close() was called. */
    readonly Closed: "closed";
    /** No receipt within the timeout. */
    readonly Timeout: "timeout";
    /** send() over SSE, which only receives. */
    readonly ReceiveOnly: "receive_only";
    /** The connection ended (closeCode) or never opened; the client reconnects. */
    readonly Disconnected: "disconnected";
    /** The server closed with 4001; the client reconnects with a fresh token. */
    readonly TokenExpired: "token_expired";
    /** The server asked for a device token (HTTP 401); final without a token function. */
    readonly Unauthorized: "unauthorized";
    /** 4000: a newer connection of this device took over. Final. */
    readonly Replaced: "replaced";
    /** 4003: the device was removed from its account. Final. */
    readonly Removed: "removed";
    /** The token function failed; the client retries. */
    readonly Token: "token";
    /** The server broke the protocol (no welcome first, wrong subprotocol); the client retries. */
    readonly Protocol: "protocol";
};
/** Fields of a HeraldError besides its code and message. */
export interface HeraldErrorInit {
    re?: string;
    details?: unknown[];
    status?: number;
    closeCode?: number;
    receipt?: Receipt;
    cause?: unknown;
}
/**
 * HeraldError is an error frame that answered something this client sent (code
 * from the server, `re` naming the message), or a failure of the client itself
 * (see ErrorCode). Its message reads "herald: CODE: MESSAGE".
 */
export declare class HeraldError extends Error {
    /** A code of ErrorCode, or a newer server's. */
    code: string;
    /** The id of the message the error frame answers. */
    re?: string;
    /** The error frame's details, such as [{pointer, message}] for schema_invalid. */
    details?: unknown[];
    /** The HTTP status of a refused handshake (401, 403). */
    status?: number;
    /** The WebSocket close code that ended a connection. */
    closeCode?: number;
    /** For a send with waitAcked cut short by a disconnect: the first receipt, if one came. */
    receipt?: Receipt;
    constructor(code: string, message: string, init?: HeraldErrorInit);
}
/** invalid returns the error of a call with a bad argument. */
export declare function invalid(message: string): HeraldError;
