// Frames as the client reads them: the JSON of the wire contract
// (docs/protocol.md) checked just enough that the client can rely on the
// fields it uses. Unknown kinds and fields are ignored, as the contract asks.
// Also the sub and unsub frames the client writes (msg and ack are in send.ts
// and client.ts).
/** subscriptionFrame encodes a sub or unsub frame of id for topics, each already checked (topics.ts), with a sub's catch-up cursors. */
export function subscriptionFrame(t, id, topics, after) {
    const f = { t, id, topics: [...topics] };
    if (t === 'sub' && after && Object.keys(after).length > 0)
        f.after = after;
    return JSON.stringify(f);
}
const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v) => (typeof v === 'string' ? v : '');
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
/**
 * decodeFrame parses one frame. It returns undefined for text that is not a
 * JSON object, an unknown kind, or a frame without the fields the contract
 * requires, which the client ignores (a newer server may send more).
 */
export function decodeFrame(text) {
    let f;
    try {
        f = JSON.parse(text);
    }
    catch {
        return undefined;
    }
    if (!isObj(f))
        return undefined;
    switch (f.t) {
        case 'welcome': {
            if (!str(f.session) || !str(f.device))
                return undefined;
            const w = {
                session: str(f.session),
                account: str(f.account),
                device: str(f.device),
                edge: str(f.edge),
                ping_ms: num(f.ping_ms),
                server_time: num(f.server_time),
            };
            if (typeof f.lifetime_ms === 'number')
                w.lifetime_ms = f.lifetime_ms;
            return { t: 'welcome', welcome: w };
        }
        case 'msg': {
            if (!str(f.type) || f.payload === undefined)
                return undefined;
            const m = {
                id: str(f.id),
                type: str(f.type),
                from: isObj(f.from) ? sender(f.from) : {},
                ts: num(f.ts),
                payload: f.payload,
            };
            if (typeof f.ttl === 'number')
                m.ttl = f.ttl;
            if (typeof f.ack === 'boolean')
                m.ack = f.ack;
            // A seq past 2^53 would lose digits as a number; none is given out below
            // that for hundreds of thousands of years (the edge's seqs are Unix
            // milliseconds), so such a frame keeps no seq rather than a wrong one.
            if (Number.isSafeInteger(f.seq) && f.seq > 0)
                m.seq = f.seq;
            if (str(f.topic))
                m.topic = str(f.topic);
            return { t: 'msg', msg: m };
        }
        case 'receipt': {
            if (!str(f.id) || !Array.isArray(f.results))
                return undefined;
            return { t: 'receipt', receipt: { id: str(f.id), results: f.results.filter(isObj).map(result) } };
        }
        case 'error': {
            const e = { code: str(f.code) || 'unknown', message: str(f.message) };
            if (str(f.re))
                e.re = str(f.re);
            if (Array.isArray(f.details))
                e.details = f.details;
            return { t: 'error', error: e };
        }
        case 'presence': {
            if (!str(f.device))
                return undefined;
            const p = { device: str(f.device), online: f.online === true, ts: num(f.ts) };
            if (str(f.platform))
                p.platform = str(f.platform);
            return { t: 'presence', presence: p };
        }
        case 'reconnect':
            return { t: 'reconnect', reconnect: { after_ms: Math.max(0, num(f.after_ms)), reason: str(f.reason) } };
        case 'refreshed':
            if (!str(f.id))
                return undefined;
            return { t: 'refreshed', refreshed: { id: str(f.id), exp: num(f.exp) } };
        case 'subs': {
            // The id is optional in the contract; this client always sends one.
            if (!Array.isArray(f.results))
                return undefined;
            return { t: 'subs', subs: { id: str(f.id), results: f.results.filter(isObj).map(topicResult) } };
        }
    }
    return undefined;
}
function sender(f) {
    const s = {};
    if (str(f.device))
        s.device = str(f.device);
    if (str(f.service))
        s.service = str(f.service);
    return s;
}
function result(r) {
    const out = { device: str(r.device), status: str(r.status) };
    if (typeof r.error === 'string' && r.error) {
        out.error = { code: r.error, message: r.error };
    }
    else if (isObj(r.error)) {
        out.error = { code: str(r.error.code), message: str(r.error.message) };
    }
    return out;
}
function topicResult(r) {
    return { topic: str(r.topic), status: str(r.status) };
}
/**
 * receiptFinal reports whether no later receipt can change r: none of its
 * results is `delivered`, which an ack (or its timeout) still turns into
 * `acked` or `timeout`.
 */
export function receiptFinal(r) {
    return r.results.every((res) => res.status !== 'delivered');
}
/** refreshFrame encodes a refresh frame: the connection's new token. */
export function refreshFrame(id, token) {
    return JSON.stringify({ t: 'refresh', id, token });
}
/** tokenExpiry reads a JWT's exp (Unix seconds) without checking it (the edge does); 0 when it has none. */
export function tokenExpiry(token) {
    const parts = token.split('.');
    if (parts.length !== 3)
        return 0;
    try {
        const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
        const json = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
        return typeof json.exp === 'number' && Number.isFinite(json.exp) ? Math.floor(json.exp) : 0;
    }
    catch {
        return 0;
    }
}
