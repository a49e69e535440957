// HeraldClient: one connection from a device to an edge, kept up across
// disconnects, with messages in (duplicates dropped) and sends out (answered
// by receipts). It behaves as the Go SDK does (clients/go); the README's
// "Disconnects" table says what happens after each way a connection ends.
import { Backoff, jitterAfter, jitterRetry } from './backoff.js';
import { classify } from './classify.js';
import { Dedup } from './dedup.js';
import { Emitter } from './emitter.js';
import { defaultFallbackRetryMs, endpointList, nextEndpoint } from './failover.js';
import { ErrorCode, HeraldError, invalid } from './errors.js';
import { decodeFrame, receiptFinal, subscriptionFrame, refreshFrame, tokenExpiry } from './frames.js';
import { newMessageId } from './id.js';
import { openEventSource, openWebSocket } from './link.js';
import { outgoing, positive, validMessageId } from './send.js';
import { topicProblem } from './topics.js';
import { withAfter, withToken } from './url.js';
/** Defaults of the optional ClientOptions. */
export const defaults = {
    minDelayMs: 500,
    maxDelayMs: 30_000,
    receiptTimeoutMs: 10_000,
    dedupSize: 4096,
    fallbackRetryMs: defaultFallbackRetryMs,
    refreshBeforeMs: 60_000,
};
/** refreshTimeoutMs bounds one refresh: the token function and the edge's answer. */
const refreshTimeoutMs = 10_000;
/** handshakeTimeoutMs bounds a connection attempt: the dial plus the wait for the welcome. */
const handshakeTimeoutMs = 30_000;
/** probeTimeoutMs bounds the auth check after a failed handshake. */
const probeTimeoutMs = 10_000;
/**
 * HeraldClient keeps one connection from this device to a Herald edge: over
 * WebSocket, or over SSE (receive-only) where there is no WebSocket. Types maps
 * message types to their payloads, so that send() and the `message` listener
 * are typed: `new HeraldClient<{'playback.control.v1': {action: string}}>(…)`.
 */
export class HeraldClient {
    #token;
    #eps; // options.url, then options.fallbackUrls: in order of preference
    #fallbackRetryMs;
    #refreshBeforeMs;
    #refreshTimer; // the next refresh of the connection's token
    #refreshing;
    #cur = 0; // the index in #eps of the endpoint in use, or dialed next
    #lastWelcomed = -1; // the endpoint of the last connection that received its welcome
    #probeAt = 0; // on a fallback: when to check whether the preferred endpoint is back (epoch ms); 0 on the preferred
    #probeTimer; // that check, while connected to a fallback
    #kind;
    #WebSocket;
    #EventSource;
    #fetch;
    #reconnect;
    #receiptTimeoutMs;
    #autoAck;
    #backoff;
    #dedup; // across connections: a redelivery after a reconnect is a duplicate too
    #events = new Emitter();
    #topicHandlers = new Emitter(); // onTopic, by topic
    #topics = new Set(); // subscribed after every welcome: subscribe() adds, unsubscribe() removes
    #topicSeq = new Map(); // per topic, the seq of the last message received: the catch-up cursor
    #cursor; // the highest seq received, or options.after: sent as ?after= on each connection
    #state = 'idle';
    #welcome;
    #hello; // sent after each welcome
    // The current connection, or the attempt at one.
    #run = 0; // a new run starts at connect() and close(); async work of an older run stops
    #link;
    #open = false; // #link received its welcome
    #linkToken = ''; // the token #link was opened with (for acks over SSE)
    #timer; // the handshake timeout or the wait before the next attempt
    #lastNow = false; // the previous end reconnected at once (4001): the next one waits the backoff
    #pending = new Map(); // sends of #link waiting for a receipt, by id
    #pendingSubs = new Map(); // subscribe() and unsubscribe() on #link waiting for their subs, by id
    #acks = []; // acks over SSE for the next POST /v1/acks
    #connecting; // connect() callers waiting for a welcome
    constructor(opts) {
        if (typeof opts !== 'object' || opts === null)
            throw invalid('new HeraldClient(options): options are required');
        this.#eps = endpointList(opts.url, opts.fallbackUrls);
        this.#fallbackRetryMs = opts.fallbackRetryMs ?? defaults.fallbackRetryMs;
        this.#refreshBeforeMs = opts.refreshBeforeMs ?? defaults.refreshBeforeMs;
        if (!positive(this.#fallbackRetryMs))
            throw invalid('options.fallbackRetryMs must be a number > 0');
        if (!(typeof opts.token === 'function' || (typeof opts.token === 'string' && opts.token !== ''))) {
            throw invalid('options.token must be a device token or a function that returns one');
        }
        this.#token = opts.token;
        const g = globalThis;
        this.#WebSocket = opts.WebSocket ?? g.WebSocket;
        this.#EventSource = opts.EventSource ?? g.EventSource;
        const f = opts.fetch ?? g.fetch;
        // Called as a plain function: a browser's fetch refuses any other `this`.
        this.#fetch = f ? (input, init) => f(input, init) : undefined;
        const mode = opts.transport ?? 'auto';
        switch (mode) {
            case 'websocket':
                if (!this.#WebSocket)
                    throw invalid('transport "websocket": there is no WebSocket here; pass options.WebSocket');
                this.#kind = 'websocket';
                break;
            case 'sse':
                if (!this.#EventSource)
                    throw invalid('transport "sse": there is no EventSource here; pass options.EventSource');
                this.#kind = 'sse';
                break;
            case 'auto':
                if (this.#WebSocket)
                    this.#kind = 'websocket';
                else if (this.#EventSource)
                    this.#kind = 'sse';
                else
                    throw invalid('there is neither a WebSocket nor an EventSource here; pass options.WebSocket or options.EventSource');
                break;
            default:
                throw invalid(`options.transport ${JSON.stringify(mode)}: want "auto", "websocket" or "sse"`);
        }
        const r = opts.reconnect ?? {};
        const minMs = r.minDelayMs ?? defaults.minDelayMs;
        const maxMs = r.maxDelayMs ?? Math.max(defaults.maxDelayMs, minMs);
        if (!nonNegative(minMs) || !nonNegative(maxMs))
            throw invalid('options.reconnect delays must be numbers >= 0');
        if (maxMs < minMs)
            throw invalid(`options.reconnect.maxDelayMs (${maxMs}) is below minDelayMs (${minMs})`);
        this.#backoff = new Backoff(minMs, maxMs);
        this.#reconnect = r.enabled ?? true;
        this.#receiptTimeoutMs = opts.receiptTimeoutMs ?? defaults.receiptTimeoutMs;
        if (!positive(this.#receiptTimeoutMs))
            throw invalid('options.receiptTimeoutMs must be a number > 0');
        const dedupSize = opts.dedupSize ?? defaults.dedupSize;
        if (!Number.isInteger(dedupSize) || dedupSize < 0)
            throw invalid('options.dedupSize must be an integer >= 0');
        this.#dedup = new Dedup(dedupSize);
        const after = opts.after ?? 0;
        if (!Number.isSafeInteger(after) || after < 0)
            throw invalid('options.after must be an integer >= 0');
        this.#cursor = after;
        this.#autoAck = opts.autoAck ?? false;
        if (opts.hello !== undefined || opts.presence !== undefined)
            this.#hello = helloOf(opts.hello, opts.presence);
    }
    /** state is the connection's state; `state` events report its changes. */
    get state() {
        return this.#state;
    }
    /**
     * cursor is the resume cursor: the highest seq of the stored messages
     * received so far (live messages carry none), or options.after before the
     * first. The client sends it as ?after= on each reconnect by itself; an app
     * that persists it passes it back as options.after after a restart, so that
     * the edge does not write again what the device already has. It moves after
     * the `message` listeners returned.
     */
    get cursor() {
        return this.#cursor;
    }
    /** welcome is the latest welcome, undefined before the first; it stays set across disconnects. */
    get welcome() {
        return this.#welcome;
    }
    /**
     * endpoint is the endpoint in use, as configured (options.url or one of
     * options.fallbackUrls): the one connected to, or, between connections, the
     * one the next attempt dials. Read it in a `state` listener to log which
     * region the device is on.
     */
    get endpoint() {
        return this.#eps[this.#cur].base;
    }
    /** transport says which transport the client uses: `sse` only receives. */
    get transport() {
        return this.#kind;
    }
    /**
     * connect starts connecting, and keeps the client connected until close() or
     * an error that ends it (see HeraldError codes replaced, removed,
     * unauthorized, forbidden). It resolves with the first welcome; failed
     * attempts before it are retried with backoff (watch the `state` events),
     * and the promise rejects only when the client closes first. Once open it
     * resolves at once; after close() it starts again.
     */
    connect() {
        if (this.#state === 'open' && this.#welcome)
            return Promise.resolve(this.#welcome);
        const waiting = (this.#connecting ??= deferred());
        if (this.#state === 'idle' || this.#state === 'closed') {
            this.#run++;
            this.#backoff.reset();
            this.#lastNow = false;
            this.#cur = 0; // a new start dials the preferred endpoint first
            this.#lastWelcomed = -1;
            this.#probeAt = 0;
            this.#setState('connecting');
            void this.#attempt(this.#run);
        }
        return waiting.promise;
    }
    /**
     * close closes the connection (1000) and stops reconnecting. Sends waiting
     * for a receipt reject with code `closed`, and so does a pending connect().
     */
    close() {
        this.#finish(undefined);
    }
    on(event, fn) {
        return this.#events.on(event, fn);
    }
    /**
     * send sends a message of `type` to sibling devices of this device's account
     * and resolves with its receipt: one result per target (`delivered`,
     * `offline`, `queued`, `rejected`, `timeout`; `acked` with waitAcked). It
     * rejects with a HeraldError: the server's error frame for the message
     * (unknown_type, schema_invalid, forbidden, …), not_connected (no
     * connection, or it dropped before the receipt), timeout,
     * receive_only (SSE), invalid_argument (nothing was sent).
     */
    send(to, type, payload, opts = {}) {
        let out;
        try {
            out = outgoing(to, type, payload, opts, this.#receiptTimeoutMs);
        }
        catch (err) {
            return Promise.reject(err);
        }
        if (this.#kind === 'sse') {
            return Promise.reject(new HeraldError(ErrorCode.ReceiveOnly, 'send needs a WebSocket: over SSE the client only receives'));
        }
        const link = this.#link;
        if (!link || !this.#open) {
            return Promise.reject(new HeraldError(ErrorCode.NotConnected, `send ${out.id}: not connected (state ${this.#state})`));
        }
        if (this.#pending.has(out.id)) {
            return Promise.reject(invalid(`send: a message with id ${out.id} is already waiting for its receipt`));
        }
        return new Promise((resolve, reject) => {
            const p = { resolve, reject, waitAcked: out.waitAcked, timeoutMs: out.timeoutMs, timer: this.#arm(out.id, out.timeoutMs) };
            this.#pending.set(out.id, p);
            if (!link.send(out.text)) {
                this.#take(out.id);
                reject(new HeraldError(ErrorCode.NotConnected, `send ${out.id}: the connection is closing`));
            }
        });
    }
    /** sendToDevice sends a message to one sibling device: send({device}, …). */
    sendToDevice(device, type, payload, opts) {
        return this.send({ device }, type, payload, opts);
    }
    /** sendToDevices sends one message to several sibling devices: send({devices}, …). */
    sendToDevices(devices, type, payload, opts) {
        return this.send({ devices }, type, payload, opts);
    }
    /**
     * sendToSiblings sends a message to every other device of the account:
     * send({siblings: true}, …). The receipt has no results when there is none.
     */
    sendToSiblings(type, payload, opts) {
        return this.send({ siblings: true }, type, payload, opts);
    }
    /**
     * ack acknowledges the message id (for messages with `ack: true`; see also
     * message.acknowledge() and options.autoAck): an ack frame, or over SSE a
     * POST /v1/acks (batched; a failure is reported as an `error` event). It
     * returns false when there is no connection to send it on. The client
     * remembers the ack (for the last dedupSize message ids), sent or not: a
     * duplicate of the message that arrives later, because the ack was lost with
     * its connection, is acked again by the client without reaching the
     * `message` listeners.
     */
    ack(id) {
        if (typeof id !== 'string' || !validMessageId(id)) {
            throw invalid('ack: the message id must be 1 to 128 bytes of printable ASCII without spaces');
        }
        this.#dedup.ack(id);
        return this.#sendAck(id);
    }
    /** #sendAck sends the ack of id on the current connection, if any. */
    #sendAck(id) {
        const link = this.#link;
        if (!link || !this.#open)
            return false;
        if (link.kind === 'websocket')
            return link.send(JSON.stringify({ t: 'ack', id }));
        this.#acks.push(id);
        if (this.#acks.length === 1)
            queueMicrotask(() => void this.#postAcks());
        return true;
    }
    /**
     * hello sets the device's metadata for the device list and whether it wants
     * presence frames. The client sends it now, if connected, and again after
     * every welcome. Over SSE it cannot be sent (receive-only).
     */
    hello(info, presence) {
        this.#hello = helloOf(info, presence);
        if (this.#link?.kind === 'websocket' && this.#open)
            this.#link.send(helloFrame(this.#hello));
    }
    // ---- topics ----
    /**
     * topics lists the topics the client subscribes to after every welcome, in
     * the order they were first subscribed: subscribe() adds to it and
     * unsubscribe() removes from it, whatever the edge answered.
     */
    get topics() {
        return [...this.#topics];
    }
    /**
     * subscribe subscribes this device to topics, which its token's topics claim
     * must grant (docs/protocol.md, "Topics"), and resolves with the edge's
     * answer: one result per topic, in order (`subscribed`, `forbidden`,
     * `limit`, …). Messages published to a topic then arrive as `message`
     * events with `topic` set, and reach the handlers of onTopic(). A
     * subscription lasts as long as the connection: the client remembers the
     * topics (see `topics`) and subscribes again after every welcome, whose
     * answers are `subs` events. It rejects with a HeraldError:
     * invalid_argument (no topic, or a name that breaks the rule: nothing is
     * sent or remembered), receive_only (SSE cannot subscribe: nothing is
     * remembered), not_connected (no connection, or it dropped before the
     * answer: the topics are remembered and subscribed after the next welcome),
     * timeout (no answer within options.receiptTimeoutMs), or the edge's error
     * frame for it (bad_frame for more topics than the edge's --max-topics).
     */
    subscribe(...topics) {
        return this.#subscription('sub', topics);
    }
    /**
     * unsubscribe ends this device's subscriptions to topics, now and on later
     * connections, and resolves with the edge's answer (`unsubscribed` for each
     * valid topic, subscribed or not). It rejects as subscribe() does; without a
     * connection it rejects with not_connected, and the topics are forgotten all
     * the same: the next connection does not subscribe to them.
     */
    unsubscribe(...topics) {
        return this.#subscription('unsub', topics);
    }
    /**
     * onTopic adds a handler for the messages published to one topic (after the
     * `message` listeners, which see them too); it returns a function that
     * removes it. It does not subscribe: call subscribe() for that. It throws
     * invalid_argument for a name that breaks the rule of topic names.
     */
    onTopic(topic, fn) {
        const p = topicProblem(topic);
        if (p)
            throw invalid(`onTopic: ${p}`);
        return this.#topicHandlers.on(topic, fn);
    }
    #subscription(t, topics) {
        const op = t === 'sub' ? 'subscribe' : 'unsubscribe';
        if (topics.length === 0)
            return Promise.reject(invalid(`${op}: no topic`));
        for (const [i, name] of topics.entries()) {
            const p = topicProblem(name);
            if (p)
                return Promise.reject(invalid(`${op}: topic ${i + 1}: ${p}`));
        }
        if (this.#kind === 'sse') {
            return Promise.reject(new HeraldError(ErrorCode.ReceiveOnly, `${op} needs a WebSocket: an SSE stream only receives, and cannot subscribe to topics`));
        }
        for (const name of topics) {
            if (t === 'sub')
                this.#topics.add(name);
            else {
                this.#topics.delete(name);
                this.#topicSeq.delete(name);
            }
        }
        const link = this.#link;
        if (!link || !this.#open) {
            const later = t === 'sub' ? 'subscribed after the next welcome' : 'not subscribed on the next connection';
            return Promise.reject(new HeraldError(ErrorCode.NotConnected, `${op}: not connected (state ${this.#state}); the topics are ${later}`));
        }
        const id = newMessageId();
        const ms = this.#receiptTimeoutMs;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                if (this.#pendingSubs.delete(id))
                    reject(new HeraldError(ErrorCode.Timeout, `${op} ${id}: no subs answer within ${ms} ms`));
            }, ms);
            this.#pendingSubs.set(id, { resolve, reject, timer });
            if (!link.send(subscriptionFrame(t, id, topics))) {
                this.#takeSubs(id);
                reject(new HeraldError(ErrorCode.NotConnected, `${op} ${id}: the connection is closing`));
            }
        });
    }
    /** #takeSubs removes and returns the pending subscribe or unsubscribe id. */
    #takeSubs(id) {
        const p = this.#pendingSubs.get(id);
        if (p) {
            clearTimeout(p.timer);
            this.#pendingSubs.delete(id);
        }
        return p;
    }
    #onSubs(s) {
        this.#events.emit('subs', s);
        this.#takeSubs(s.id)?.resolve(s.results);
    }
    // ---- connecting ----
    /** #attempt gets a token and opens a link; #onText and #onEnd take it from there. */
    async #attempt(run) {
        this.#timer = undefined;
        let token;
        try {
            const t = this.#token;
            const v = typeof t === 'function' ? await t() : t;
            if (typeof v !== 'string' || v === '')
                throw new Error('it returned no token');
            token = v;
        }
        catch (err) {
            if (run === this.#run)
                this.#after({ kind: 'token', error: err });
            return;
        }
        if (run !== this.#run)
            return;
        this.#linkToken = token;
        let link;
        const handlers = {
            text: (data) => this.#onText(link, data),
            end: (e) => this.#onEnd(link, e),
        };
        const urls = this.#eps[this.#cur].urls;
        try {
            link =
                this.#kind === 'websocket'
                    ? openWebSocket(this.#WebSocket, withAfter(withToken(urls.connect, token), this.#cursor), handlers)
                    : openEventSource(this.#EventSource, withAfter(withToken(urls.events, token), this.#cursor), handlers);
        }
        catch (err) {
            this.#after({ kind: 'protocol', message: `cannot open a connection: ${err instanceof Error ? err.message : String(err)}` });
            return;
        }
        this.#link = link;
        const opened = link;
        this.#timer = setTimeout(() => {
            if (this.#link === opened)
                this.#abandon(opened, 'no welcome', `no welcome within ${handshakeTimeoutMs} ms`);
        }, handshakeTimeoutMs);
    }
    #onText(link, data) {
        if (link === undefined || link !== this.#link)
            return;
        const f = decodeFrame(data);
        if (!f)
            return; // not a frame this client knows: a newer server's
        if (!this.#open) {
            if (f.t === 'welcome')
                this.#opened(link, f.welcome);
            else
                this.#abandon(link, 'welcome expected', `the first frame is ${f.t}, not welcome`);
            return;
        }
        switch (f.t) {
            case 'msg':
                return this.#deliver(f.msg);
            case 'receipt':
                return this.#onReceipt(f.receipt);
            case 'error':
                return this.#onError(f.error);
            case 'presence':
                return this.#events.emit('presence', f.presence);
            case 'welcome':
                this.#welcome = f.welcome;
                return this.#events.emit('welcome', f.welcome);
            case 'reconnect':
                return this.#onReconnect(link, f.reconnect);
            case 'subs':
                return this.#onSubs(f.subs);
            case 'refreshed': {
                const r = this.#refreshing;
                if (r && r.id === f.refreshed.id) {
                    this.#refreshing = undefined;
                    r.resolve(f.refreshed.exp);
                }
                return;
            }
        }
    }
    /** #abandon closes the current link, whose server broke the protocol, and reconnects with backoff. */
    #abandon(link, closeReason, message) {
        link.close(1000, closeReason);
        this.#drop(ErrorCode.NotConnected, `the server broke the protocol (${message})`);
        this.#after({ kind: 'protocol', message });
    }
    #opened(link, w) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#open = true;
        this.#welcome = w;
        this.#backoff.reset();
        this.#watchPreferred();
        if (this.#hello && link.kind === 'websocket')
            link.send(helloFrame(this.#hello));
        // Subscriptions end with the connection: subscribe again, before anything
        // an app's listeners send.
        // With each topic's cursor: the edge first writes what the topic's log
        // holds after it, what was published while the client was away.
        if (this.#topics.size > 0 && link.kind === 'websocket') {
            link.send(subscriptionFrame('sub', newMessageId(), [...this.#topics], Object.fromEntries(this.#topicSeq)));
        }
        this.#scheduleRefresh(link, tokenExpiry(this.#linkToken));
        this.#setState('open');
        this.#events.emit('welcome', w);
        const waiting = this.#connecting;
        this.#connecting = undefined;
        waiting?.resolve(w);
    }
    /** #onReconnect honours a reconnect frame: close first (TIME_WAIT stays on the device), then reconnect after after_ms plus jitter. */
    #onReconnect(link, r) {
        this.#events.emit('reconnect', r);
        if (link !== this.#link)
            return; // a listener closed the client
        link.close(1000, 'reconnect');
        this.#drop(ErrorCode.NotConnected, `the server asked to reconnect (${r.reason})`);
        this.#after({ kind: 'reconnect', request: r }, true);
    }
    #onEnd(link, e) {
        if (link === undefined || link !== this.#link)
            return;
        const welcomed = this.#open;
        this.#drop(ErrorCode.NotConnected, 'the connection was lost', e.code === undefined ? {} : { closeCode: e.code });
        if (e.protocolError) {
            this.#after({ kind: 'protocol', message: e.protocolError });
        }
        else if (e.opened) {
            this.#after({ kind: 'close', ...(e.code === undefined ? {} : { code: e.code }), ...(e.reason ? { reason: e.reason } : {}) }, welcomed);
        }
        else {
            // The handshake failed. A WebSocket or EventSource does not say with which
            // HTTP status, so ask the edge whether the token and origin are good: a
            // 401 or 403 must not be retried forever.
            const run = this.#run;
            void this.#probe(this.#linkToken).then((status) => {
                if (run === this.#run && this.#link === undefined && this.#timer === undefined)
                    this.#after({ kind: 'handshake', status });
            });
        }
    }
    /**
     * #probe checks token and origin the way the device endpoints do, without
     * side effects: POST /v1/acks with no ids answers 401 or 403 when they are
     * refused and 400 otherwise. It returns the status, 0 when unknown (no
     * fetch, a network error, or a cross-origin answer the page may not read).
     */
    async #probe(token) {
        if (!this.#fetch)
            return 0;
        const ctrl = typeof AbortController === 'function' ? new AbortController() : undefined;
        const timer = ctrl ? setTimeout(() => ctrl.abort(), probeTimeoutMs) : undefined;
        try {
            const init = {
                method: 'POST',
                headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
                body: '{"ids":[]}',
            };
            if (ctrl)
                init.signal = ctrl.signal;
            const res = await this.#fetch(this.#eps[this.#cur].urls.acks, init);
            await res.body?.cancel().catch(() => { });
            return res.status;
        }
        catch {
            return 0;
        }
        finally {
            clearTimeout(timer);
        }
    }
    /**
     * #watchPreferred starts, on a fallback endpoint, the wait until the check
     * of whether the preferred endpoint is back: fallbackRetryMs plus up to 20%
     * of jitter after the client came to this fallback (a reconnect to the same
     * one keeps the time).
     */
    #watchPreferred() {
        const cur = this.#cur;
        if (cur === 0) {
            this.#probeAt = 0;
        }
        else if (this.#lastWelcomed !== cur || this.#probeAt === 0) {
            this.#probeAt = Date.now() + jitterRetry(this.#fallbackRetryMs);
        }
        this.#lastWelcomed = cur;
        if (cur === 0)
            return;
        const run = this.#run;
        const link = this.#link;
        const check = async () => {
            this.#probeTimer = undefined;
            const up = await this.#answers(this.#eps[0]);
            if (run !== this.#run || link === undefined || link !== this.#link)
                return; // closed, or the connection ended meanwhile
            if (!up) {
                const wait = jitterRetry(this.#fallbackRetryMs);
                this.#probeAt = Date.now() + wait;
                this.#probeTimer = setTimeout(() => void check(), wait);
                return;
            }
            link.close(1000, 'moving to the preferred endpoint');
            this.#drop(ErrorCode.NotConnected, 'the client moved to the preferred endpoint');
            this.#after({ kind: 'preferred' }, true);
        };
        this.#probeTimer = setTimeout(() => void check(), Math.max(0, this.#probeAt - Date.now()));
    }
    /**
     * #answers reports whether the edge at ep answers HTTP: a POST /v1/acks
     * without a token, which an edge refuses (401) without side effects, as a
     * simple request (no preflight in a browser, whose opaque answer counts as
     * one). Any answer below 500 means the edge is up; a network error or a
     * 5xx, that it is not. The Go SDK decides the same way.
     */
    async #answers(ep) {
        if (!this.#fetch)
            return false;
        const ctrl = typeof AbortController === 'function' ? new AbortController() : undefined;
        const timer = ctrl ? setTimeout(() => ctrl.abort(), probeTimeoutMs) : undefined;
        try {
            const init = { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{"ids":[]}' };
            if (ctrl)
                init.signal = ctrl.signal;
            const res = await this.#fetch(ep.urls.acks, init);
            await res.body?.cancel().catch(() => { });
            return res.type === 'opaque' || res.status < 500;
        }
        catch {
            return false;
        }
        finally {
            clearTimeout(timer);
        }
    }
    /**
     * #after acts on why the current connection (or attempt) ended, which #drop
     * has forgotten; welcomed says whether it had received its welcome.
     */
    #after(c, welcomed = false) {
        const { action, error } = classify(c, typeof this.#token === 'function');
        if (action === 'final' || !this.#reconnect) {
            this.#finish(error);
            return;
        }
        const next = nextEndpoint(this.#cur, this.#eps.length, welcomed, c);
        this.#cur = next;
        let act = action;
        if (act === 'now' && this.#lastNow)
            act = 'backoff'; // a second 4001 in a row: do not spin
        this.#lastNow = act === 'now';
        let wait = 0;
        if (act === 'scheduled' && c.kind === 'reconnect') {
            this.#backoff.reset();
            wait = jitterAfter(c.request.after_ms);
        }
        else if (act === 'backoff') {
            wait = this.#backoff.next();
        }
        this.#setState('reconnecting', error);
        const run = this.#run;
        this.#timer = setTimeout(() => {
            if (run === this.#run)
                void this.#attempt(run);
        }, wait);
    }
    /**
     * #drop forgets the current link, which has ended because of why: pending
     * sends reject with a HeraldError of code that says so (with the first
     * receipt of a waitAcked send), and so do pending subscriptions.
     */
    #drop(code, why, init = {}) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        clearTimeout(this.#refreshTimer);
        this.#refreshTimer = undefined;
        const r = this.#refreshing;
        this.#refreshing = undefined;
        r?.reject(new HeraldError(code, `${why} before the refresh was answered`, init));
        clearTimeout(this.#probeTimer);
        this.#probeTimer = undefined;
        this.#link = undefined;
        this.#open = false;
        this.#acks = [];
        for (const [id, p] of [...this.#pending]) {
            this.#take(id);
            p.reject(new HeraldError(code, `${why} before the receipt of ${id}`, p.first ? { ...init, receipt: p.first } : init));
        }
        for (const id of [...this.#pendingSubs.keys()]) {
            this.#takeSubs(id)?.reject(new HeraldError(code, `${why} before the subs answer to ${id}`, init));
        }
    }
    /** #finish closes the client, with the error that ended it (none for close()). */
    #finish(error) {
        this.#run++;
        const link = this.#link;
        if (error)
            this.#drop(ErrorCode.NotConnected, `the client closed (${error.code})`);
        else
            this.#drop(ErrorCode.Closed, 'the client was closed');
        link?.close(1000, 'client closed');
        this.#setState('closed', error);
        const waiting = this.#connecting;
        this.#connecting = undefined;
        waiting?.reject(error ?? new HeraldError(ErrorCode.Closed, 'the client was closed before a connection opened'));
    }
    #setState(s, error) {
        if (s === this.#state && error === undefined)
            return;
        this.#state = s;
        this.#events.emit('state', s, error);
    }
    // ---- frames ----
    /**
     * #deliver passes a msg to the listeners unless it is a duplicate (a stored
     * message written again after a cut mid-drain keeps its id, so it is one),
     * moves the cursor to its seq, then acks it with autoAck. A duplicate that
     * asks for an ack is acked again with autoAck or when the app acked it
     * already (its first ack was lost with the connection); otherwise it is left
     * for the app's own ack, which goes out on the current connection.
     */
    #deliver(m) {
        const isNew = m.id === '' || this.#dedup.add(m.id);
        if (isNew) {
            const msg = m;
            const id = m.id;
            Object.defineProperty(msg, 'acknowledge', {
                value: () => {
                    if (id !== '')
                        this.ack(id);
                },
                enumerable: false,
            });
            this.#events.emit('message', msg);
            if (msg.topic !== undefined)
                this.#topicHandlers.emit(msg.topic, msg);
        }
        // A topic message's seq is its topic's cursor, not the inbox's.
        if (m.seq !== undefined && m.topic !== undefined) {
            if (this.#topics.has(m.topic) && m.seq > (this.#topicSeq.get(m.topic) ?? 0))
                this.#topicSeq.set(m.topic, m.seq);
        }
        else if (m.seq !== undefined && m.seq > this.#cursor)
            this.#cursor = m.seq;
        if (!m.ack || m.id === '')
            return;
        if (this.#autoAck)
            this.ack(m.id);
        else if (!isNew && this.#dedup.acked(m.id))
            this.#sendAck(m.id); // the app's ack was lost
    }
    #onReceipt(r) {
        this.#events.emit('receipt', r);
        const p = this.#pending.get(r.id);
        if (!p)
            return;
        if (p.waitAcked && !p.first && !receiptFinal(r)) {
            // The first receipt: wait for the second, with the final outcomes.
            p.first = r;
            clearTimeout(p.timer);
            p.timer = this.#arm(r.id, p.timeoutMs);
            return;
        }
        this.#take(r.id);
        p.resolve(r);
    }
    /**
     * #scheduleRefresh arms the refresh of link's token, which expires at exp
     * (Unix seconds): refreshBeforeMs earlier, or half way when that is sooner;
     * nothing without a token function, with refreshes off or an exp of 0.
     */
    #scheduleRefresh(link, exp) {
        clearTimeout(this.#refreshTimer);
        this.#refreshTimer = undefined;
        if (typeof this.#token !== 'function' || this.#refreshBeforeMs < 0 || exp <= 0)
            return;
        const left = exp * 1000 - Date.now();
        const wait = Math.max(0, left - Math.min(this.#refreshBeforeMs, left / 2));
        this.#refreshTimer = setTimeout(() => void this.#refresh(link, exp), wait);
    }
    /** #refresh gets a new token and hands it to the edge on link; a failure tries once more half way to the old exp. */
    async #refresh(link, exp) {
        this.#refreshTimer = undefined;
        try {
            const t = this.#token;
            const token = await t();
            if (typeof token !== 'string' || token === '')
                throw new HeraldError(ErrorCode.InvalidArgument, 'the token function returned no token');
            if (link !== this.#link)
                return;
            let next;
            if (link.kind === 'websocket') {
                const id = newMessageId();
                const answer = new Promise((resolve, reject) => {
                    this.#refreshing = { id, resolve, reject };
                });
                const timer = setTimeout(() => {
                    const r = this.#refreshing;
                    if (r && r.id === id) {
                        this.#refreshing = undefined;
                        r.reject(new HeraldError(ErrorCode.Timeout, 'no answer to the refresh in time'));
                    }
                }, refreshTimeoutMs);
                link.send(refreshFrame(id, token));
                try {
                    next = await answer;
                }
                finally {
                    clearTimeout(timer);
                }
            }
            else {
                next = await this.#refreshSSE(token);
            }
            if (link !== this.#link)
                return;
            this.#linkToken = token; // acks over SSE go with the new token
            this.#events.emit('refreshed', next);
            this.#scheduleRefresh(link, next);
        }
        catch (err) {
            if (link !== this.#link)
                return;
            this.#events.emit('error', err instanceof HeraldError ? err : new HeraldError(ErrorCode.NotConnected, `token refresh failed: ${String(err)}`, { cause: err }));
            const left = exp * 1000 - Date.now();
            if (left > 2000)
                this.#refreshTimer = setTimeout(() => void this.#refresh(link, exp), left / 2);
        }
    }
    /** #refreshSSE refreshes the SSE stream's token with POST /v1/refresh and resolves with the new exp. */
    async #refreshSSE(token) {
        if (!this.#fetch)
            throw new HeraldError(ErrorCode.NotConnected, 'a refresh over SSE needs fetch: pass options.fetch');
        const session = this.#welcome?.session ?? '';
        const res = await this.#fetch(this.#eps[this.#cur].urls.refresh, {
            method: 'POST',
            headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ session }),
        });
        const body = (await res.json().catch(() => ({})));
        if (!res.ok) {
            const code = typeof body.code === 'string' && body.code ? body.code : ErrorCode.NotConnected;
            throw new HeraldError(code, `POST /v1/refresh answered ${res.status}${typeof body.detail === 'string' ? `: ${body.detail}` : ''}`, { status: res.status });
        }
        return typeof body.exp === 'number' ? body.exp : 0;
    }
    #onError(e) {
        const err = new HeraldError(e.code, e.message, { ...(e.re ? { re: e.re } : {}), ...(e.details ? { details: e.details } : {}) });
        const r = this.#refreshing;
        if (r && e.re === r.id) {
            this.#refreshing = undefined;
            r.reject(err);
            return;
        }
        const p = e.re ? (this.#take(e.re) ?? this.#takeSubs(e.re)) : undefined;
        if (p)
            p.reject(err);
        else
            this.#events.emit('error', err);
    }
    /** #arm starts the receipt timeout of the send id. */
    #arm(id, ms) {
        return setTimeout(() => {
            const p = this.#take(id);
            if (!p)
                return;
            if (p.first)
                p.resolve(p.first); // waitAcked: the acks did not come in time
            else
                p.reject(new HeraldError(ErrorCode.Timeout, `no receipt for ${id} within ${ms} ms`));
        }, ms);
    }
    /** #take removes and returns the pending send id. */
    #take(id) {
        const p = this.#pending.get(id);
        if (p) {
            clearTimeout(p.timer);
            this.#pending.delete(id);
        }
        return p;
    }
    /** #postAcks sends the acks collected over SSE in one POST /v1/acks. */
    async #postAcks() {
        const ids = this.#acks;
        this.#acks = [];
        if (ids.length === 0)
            return;
        if (!this.#fetch) {
            this.#events.emit('error', new HeraldError(ErrorCode.NotConnected, 'acks over SSE need fetch: pass options.fetch'));
            return;
        }
        try {
            const res = await this.#fetch(this.#eps[this.#cur].urls.acks, {
                method: 'POST',
                headers: { Authorization: `Bearer ${this.#linkToken}`, 'Content-Type': 'application/json' },
                body: JSON.stringify({ ids }),
            });
            if (res.ok) {
                await res.body?.cancel().catch(() => { });
                return;
            }
            const problem = (await res.json().catch(() => ({})));
            const code = typeof problem.code === 'string' && problem.code ? problem.code : ErrorCode.Disconnected;
            const detail = typeof problem.detail === 'string' ? problem.detail : '';
            this.#events.emit('error', new HeraldError(code, `POST /v1/acks answered ${res.status}${detail ? `: ${detail}` : ''}`, { status: res.status }));
        }
        catch (err) {
            this.#events.emit('error', new HeraldError(ErrorCode.NotConnected, `POST /v1/acks failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        }
    }
}
function helloOf(info, presence) {
    const h = {};
    if (info !== undefined)
        h.device = { ...info, ...(info.capabilities ? { capabilities: [...info.capabilities] } : {}) };
    if (presence !== undefined)
        h.presence = presence;
    return h;
}
function helloFrame(h) {
    return JSON.stringify({ t: 'hello', ...h });
}
function deferred() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
    });
    return { promise, resolve, reject };
}
const nonNegative = (n) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
