// What the client does after a connection attempt failed or a connection
// ended: the one place that implements the table in the README ("Disconnects"),
// which follows the Go SDK (clients/go/errors.go).
import { ErrorCode, HeraldError } from './errors.js';
/** Close codes of the wire contract that the client treats specially. */
export const CloseCode = {
    Normal: 1000,
    Abnormal: 1006,
    Replaced: 4000,
    TokenExpired: 4001,
    Lifetime: 4002,
    Removed: 4003,
};
/**
 * classify maps a cause to the next action and the error it is reported with
 * (none for a reconnect frame). hasTokenFunction says whether a fresh token
 * may fix an HTTP 401.
 */
export function classify(c, hasTokenFunction) {
    switch (c.kind) {
        case 'reconnect':
            return { action: 'scheduled' };
        case 'preferred':
            return { action: 'now' };
        case 'token': {
            if (c.error instanceof HeraldError && (c.error.code === ErrorCode.Unauthorized || c.error.code === ErrorCode.Forbidden)) {
                return { action: 'final', error: c.error };
            }
            const msg = c.error instanceof Error ? c.error.message : String(c.error);
            return { action: 'backoff', error: new HeraldError(ErrorCode.Token, `the token function failed: ${msg}`, { cause: c.error }) };
        }
        case 'handshake':
            if (c.status === 401) {
                const error = new HeraldError(ErrorCode.Unauthorized, 'the server refused the device token (HTTP 401)', { status: 401 });
                return { action: hasTokenFunction ? 'backoff' : 'final', error };
            }
            if (c.status === 403) {
                return { action: 'final', error: new HeraldError(ErrorCode.Forbidden, 'the server refused the connection (HTTP 403): origin not allowed?', { status: 403 }) };
            }
            return { action: 'backoff', error: new HeraldError(ErrorCode.Disconnected, 'the connection could not be established', c.status ? { status: c.status } : {}) };
        case 'close': {
            const code = c.code;
            const init = code === undefined ? {} : { closeCode: code };
            const why = code === undefined ? 'the event stream ended' : `the connection closed with ${code}${c.reason ? ` (${c.reason})` : ''}`;
            switch (code) {
                case CloseCode.Replaced:
                    return { action: 'final', error: new HeraldError(ErrorCode.Replaced, 'a newer connection of this device took over (4000)', init) };
                case CloseCode.Removed:
                    return { action: 'final', error: new HeraldError(ErrorCode.Removed, 'the device was removed from its account (4003)', init) };
                case CloseCode.TokenExpired: {
                    // Only a token function can bring a fresh token: a fixed one stays expired.
                    const error = new HeraldError(ErrorCode.TokenExpired, 'the device token expired (4001)', init);
                    return { action: hasTokenFunction ? 'now' : 'final', error };
                }
            }
            // 1000, 1001, 1006, 1008, 1009, 1011, 4002, other codes, SSE.
            return { action: 'backoff', error: new HeraldError(ErrorCode.Disconnected, why, init) };
        }
        case 'protocol':
            return { action: 'backoff', error: new HeraldError(ErrorCode.Protocol, c.message) };
    }
}
