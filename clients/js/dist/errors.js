// HeraldError: the one error type of the SDK, for error frames from the server
// and for what the client itself reports.
/**
 * ErrorCode lists the codes of HeraldError. The first group comes from the
 * server's error frames (docs/protocol.md, "Error codes"); the second from the
 * client. Codes are strings so that a newer server's codes pass through.
 */
export const ErrorCode = {
    // error frames
    BadFrame: 'bad_frame',
    UnknownType: 'unknown_type',
    SchemaInvalid: 'schema_invalid',
    Forbidden: 'forbidden',
    TooLarge: 'too_large',
    RateLimited: 'rate_limited',
    Unavailable: 'unavailable',
    // the client
    /** An argument of a call is not valid; nothing was sent. */
    InvalidArgument: 'invalid_argument',
    /** There is no open connection, or it dropped before the receipt. */
    NotConnected: 'not_connected',
    /** close() was called. */
    Closed: 'closed',
    /** No receipt within the timeout. */
    Timeout: 'timeout',
    /** send() over SSE, which only receives. */
    ReceiveOnly: 'receive_only',
    /** The connection ended (closeCode) or never opened; the client reconnects. */
    Disconnected: 'disconnected',
    /** The server closed with 4001; the client reconnects with a fresh token. */
    TokenExpired: 'token_expired',
    /** The server asked for a device token (HTTP 401); final without a token function. */
    Unauthorized: 'unauthorized',
    /** 4000: a newer connection of this device took over. Final. */
    Replaced: 'replaced',
    /** 4003: the device was removed from its account. Final. */
    Removed: 'removed',
    /** The token function failed; the client retries. */
    Token: 'token',
    /** The server broke the protocol (no welcome first, wrong subprotocol); the client retries. */
    Protocol: 'protocol',
};
/**
 * HeraldError is an error frame that answered something this client sent (code
 * from the server, `re` naming the message), or a failure of the client itself
 * (see ErrorCode). Its message reads "herald: CODE: MESSAGE".
 */
export class HeraldError extends Error {
    /** A code of ErrorCode, or a newer server's. */
    code;
    /** The id of the message the error frame answers. */
    re;
    /** The error frame's details, such as [{pointer, message}] for schema_invalid. */
    details;
    /** The HTTP status of a refused handshake (401, 403). */
    status;
    /** The WebSocket close code that ended a connection. */
    closeCode;
    /** For a send with waitAcked cut short by a disconnect: the first receipt, if one came. */
    receipt;
    constructor(code, message, init = {}) {
        super(message ? `herald: ${code}: ${message}` : `herald: ${code}`, init.cause === undefined ? undefined : { cause: init.cause });
        this.name = 'HeraldError';
        this.code = code;
        if (init.re !== undefined)
            this.re = init.re;
        if (init.details !== undefined)
            this.details = init.details;
        if (init.status !== undefined)
            this.status = init.status;
        if (init.closeCode !== undefined)
            this.closeCode = init.closeCode;
        if (init.receipt !== undefined)
            this.receipt = init.receipt;
    }
}
/** invalid returns the error of a call with a bad argument. */
export function invalid(message) {
    return new HeraldError(ErrorCode.InvalidArgument, message);
}
