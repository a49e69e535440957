// HeraldSender: the REST API behind one client, for backend senders on
// Node.js (or any runtime with fetch). The same calls and retry rules as the
// Go library clients/go/sender.
/** A problem+json error the API answered (RFC 9457). */
export class HeraldProblem extends Error {
    code;
    status;
    title;
    detail;
    /** The offending parts of the request: JSON pointers and messages. */
    details;
    /** The server's Retry-After, in ms; 0 when it sent none. */
    retryAfterMs;
    constructor(init, retryAfterMs = 0) {
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
const statusCode = (status) => {
    if (status === 401)
        return 'unauthorized';
    if (status === 403)
        return 'forbidden';
    if (status === 404)
        return 'not_found';
    if (status === 409)
        return 'conflict';
    if (status === 429)
        return 'rate_limited';
    if (status === 502 || status === 503 || status === 504)
        return 'unavailable';
    if (status >= 500)
        return 'internal';
    return 'bad_request';
};
const newKey = () => {
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
export class HeraldSender {
    #base;
    #key;
    #maxRetries;
    #minBackoff;
    #maxBackoff;
    #fetch;
    constructor(opts) {
        let u;
        try {
            u = new URL(opts.url);
        }
        catch {
            throw new TypeError('HeraldSender: url must be an http:// or https:// URL');
        }
        if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host) {
            throw new TypeError('HeraldSender: url must be an http:// or https:// URL');
        }
        if (!opts.apiKey)
            throw new TypeError('HeraldSender: apiKey is required');
        this.#base = opts.url.replace(/\/+$/, '');
        this.#key = opts.apiKey;
        this.#maxRetries = opts.maxRetries ?? 3;
        this.#minBackoff = opts.minBackoffMs ?? 100;
        this.#maxBackoff = opts.maxBackoffMs ?? 5000;
        if (this.#maxRetries < 0 || this.#minBackoff <= 0 || this.#maxBackoff < this.#minBackoff) {
            throw new TypeError('HeraldSender: maxRetries must not be negative, and 0 < minBackoffMs <= maxBackoffMs');
        }
        const f = opts.fetch ?? globalThis.fetch;
        if (!f)
            throw new TypeError('HeraldSender: no fetch in this runtime; pass one as options.fetch');
        this.#fetch = f;
    }
    /** Sends a push and returns each device's outcome. */
    push(req, signal) {
        return this.#call('POST', '/v1/push', pushBody(req), [200], 'ifIdle', signal);
    }
    /** Sends many pushes in one request; one result (or problem) per push, in order. */
    async pushBatch(reqs, timeoutMs, signal) {
        const body = { messages: reqs.map((r) => ({ ...pushBody(r), timeout_ms: undefined })), timeout_ms: timeoutMs };
        const out = (await this.#call('POST', '/v1/push/batch', body, [200], 'ifIdle', signal));
        return out.results.map((r) => (r.error ? new HeraldProblem(r.error) : { id: r.id ?? '', results: r.results ?? [] }));
    }
    /** Enqueues a message for the asynchronous path and resolves with its id. */
    async send(req, signal) {
        const out = (await this.#call('POST', '/v1/messages', sendBody(req), [202], 'idempotent', signal, {
            'Idempotency-Key': req.idempotencyKey ?? newKey(),
        }));
        return out.id;
    }
    /**
     * Enqueues many messages for the asynchronous path in one request; one id
     * (or problem) per message, in order. Each message carries an idempotency
     * key (its own, or a fresh one), so the request is retried as send is, and
     * a message an earlier attempt enqueued resolves to that attempt's id. A
     * message's problem (a 503 when the queue did not take it) is not retried.
     */
    async sendBatch(reqs, signal) {
        const body = { messages: reqs.map((r) => ({ ...sendBody(r), idempotency_key: r.idempotencyKey ?? newKey() })) };
        const out = (await this.#call('POST', '/v1/messages/batch', body, [200], 'idempotent', signal));
        return out.results.map((r) => (r.error ? new HeraldProblem(r.error) : (r.id ?? '')));
    }
    /** What became of an asynchronous message. */
    status(id, signal) {
        return this.#call('GET', '/v1/messages/' + encodeURIComponent(id), undefined, [200], 'idempotent', signal);
    }
    /** Publishes to a topic. */
    publish(topic, req, signal) {
        const body = { type: req.type, payload: req.payload, timeout_ms: req.timeoutMs, async: req.async, priority: req.priority, ttl: req.ttl };
        return this.#call('POST', '/v1/topics/' + encodeURIComponent(topic) + '/messages', body, [req.async ? 202 : 200], 'ifIdle', signal);
    }
    /** Counts a topic's subscribers. */
    topicCount(topic, signal) {
        return this.#call('GET', '/v1/topics/' + encodeURIComponent(topic), undefined, [200], 'idempotent', signal);
    }
    /** Lists an account's devices, with whether each is connected. */
    async devices(account, signal) {
        const out = (await this.#call('GET', '/v1/accounts/' + encodeURIComponent(account) + '/devices', undefined, [200], 'idempotent', signal));
        return out.devices;
    }
    /** Adds a device to an account's list, or updates it. */
    putDevice(account, device, d, signal) {
        const path = '/v1/accounts/' + encodeURIComponent(account) + '/devices/' + encodeURIComponent(device);
        return this.#call('PUT', path, d, [200, 201], 'ifIdle', signal);
    }
    /** Removes a device from an account's list, closing its connection. */
    async deleteDevice(account, device, signal) {
        const path = '/v1/accounts/' + encodeURIComponent(account) + '/devices/' + encodeURIComponent(device);
        await this.#call('DELETE', path, undefined, [204], 'ifIdle', signal);
    }
    async #call(method, path, body, want, policy, signal, header) {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        for (let attempt = 0;; attempt++) {
            const { value, retry, waitMs, error } = await this.#once(method, path, payload, want, policy, signal, header);
            if (!error)
                return value;
            if (!retry || attempt >= this.#maxRetries)
                throw error;
            let wait = waitMs;
            if (wait <= 0) {
                const bound = Math.min(this.#minBackoff * 2 ** attempt, this.#maxBackoff);
                wait = 1 + Math.random() * bound;
            }
            await sleep(wait, signal);
        }
    }
    async #once(method, path, payload, want, policy, signal, header) {
        const headers = { Authorization: 'Bearer ' + this.#key, Accept: 'application/json', ...header };
        if (payload !== undefined)
            headers['Content-Type'] = 'application/json';
        let res;
        try {
            res = await this.#fetch(this.#base + path, { method, headers, body: payload, signal });
        }
        catch (err) {
            if (signal?.aborted)
                throw err;
            return { retry: policy === 'idempotent', waitMs: 0, error: err };
        }
        const text = await res.text();
        if (want.includes(res.status)) {
            return { value: text ? JSON.parse(text) : undefined, retry: false, waitMs: 0 };
        }
        let init;
        try {
            init = JSON.parse(text);
            if (typeof init?.code !== 'string')
                throw new Error('not a problem');
        }
        catch {
            init = { code: statusCode(res.status), status: res.status, title: res.statusText };
        }
        init = { ...init, status: res.status };
        const ra = Number(res.headers.get('Retry-After'));
        const retryAfterMs = Number.isFinite(ra) && ra > 0 ? ra * 1000 : 0;
        const error = new HeraldProblem(init, retryAfterMs);
        const waitMs = Math.min(retryAfterMs, 4 * this.#maxBackoff);
        if (res.status === 429 || (res.status === 503 && retryAfterMs > 0))
            return { retry: true, waitMs, error };
        if (policy === 'idempotent' && (res.status >= 500 || res.status === 409))
            return { retry: true, waitMs, error };
        return { retry: false, waitMs: 0, error };
    }
}
function pushBody(req) {
    return { to: req.to, type: req.type, payload: req.payload, ack: req.ack, ttl: req.ttl, timeout_ms: req.timeoutMs };
}
function sendBody(req) {
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
function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
        if (signal?.aborted)
            return reject(signal.reason);
        const t = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(t);
            reject(signal.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
    });
}
