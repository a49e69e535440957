import { HeraldError } from './errors.js';
import type { ReconnectRequest } from './types.js';
/** Close codes of the wire contract that the client treats specially. */
export declare const CloseCode: {
    readonly Normal: 1000;
    readonly Abnormal: 1006;
    readonly Replaced: 4000;
    readonly TokenExpired: 4001;
    readonly Lifetime: 4002;
    readonly Removed: 4003;
};
/** Cause is why a connection attempt or a connection ended. */
export type Cause = 
/** The server's reconnect frame; the client closed the connection itself. */
{
    kind: 'reconnect';
    request: ReconnectRequest;
}
/** The token function threw or returned no token. */
 | {
    kind: 'token';
    error: unknown;
}
/** The handshake failed; status is the HTTP status the auth check found (0: unknown). */
 | {
    kind: 'handshake';
    status: number;
}
/** The connection closed, with its close code (absent for SSE). */
 | {
    kind: 'close';
    code?: number;
    reason?: string;
}
/** The server broke the protocol: no welcome in time or first, a wrong subprotocol. */
 | {
    kind: 'protocol';
    message: string;
}
/** The client left a fallback endpoint because the preferred one answers again. */
 | {
    kind: 'preferred';
};
/** Action is what the client does next. */
export type Action = 'backoff' | 'now' | 'scheduled' | 'final';
/**
 * classify maps a cause to the next action and the error it is reported with
 * (none for a reconnect frame). hasTokenFunction says whether a fresh token
 * may fix an HTTP 401.
 */
export declare function classify(c: Cause, hasTokenFunction: boolean): {
    action: Action;
    error?: HeraldError;
};
