import type { ClientEvents, ClientOptions, ConnectionState, HelloInfo, Receipt, SendOptions, Target, TopicMessage, TopicResult, Welcome } from './types.js';
/** Defaults of the optional ClientOptions. */
export declare const defaults: {
    readonly minDelayMs: 500;
    readonly maxDelayMs: 30000;
    readonly receiptTimeoutMs: 10000;
    readonly dedupSize: 4096;
    readonly fallbackRetryMs: 600000;
    readonly refreshBeforeMs: 60000;
};
/**
 * HeraldClient keeps one connection from this device to a Herald edge: over
 * WebSocket, or over SSE (receive-only) where there is no WebSocket. Types maps
 * message types to their payloads, so that send() and the `message` listener
 * are typed: `new HeraldClient<{'playback.control.v1': {action: string}}>(…)`.
 */
export declare class HeraldClient<Types extends Record<string, unknown> = Record<string, unknown>> {
    #private;
    constructor(opts: ClientOptions);
    /** state is the connection's state; `state` events report its changes. */
    get state(): ConnectionState;
    /**
     * cursor is the resume cursor: the highest seq of the stored messages
     * received so far (live messages carry none), or options.after before the
     * first. The client sends it as ?after= on each reconnect by itself; an app
     * that persists it passes it back as options.after after a restart, so that
     * the edge does not write again what the device already has. It moves after
     * the `message` listeners returned.
     */
    get cursor(): number;
    /** welcome is the latest welcome, undefined before the first; it stays set across disconnects. */
    get welcome(): Welcome | undefined;
    /**
     * endpoint is the endpoint in use, as configured (options.url or one of
     * options.fallbackUrls): the one connected to, or, between connections, the
     * one the next attempt dials. Read it in a `state` listener to log which
     * region the device is on.
     */
    get endpoint(): string;
    /** transport says which transport the client uses: `sse` only receives. */
    get transport(): 'websocket' | 'sse';
    /**
     * connect starts connecting, and keeps the client connected until close() or
     * an error that ends it (see HeraldError codes replaced, removed,
     * unauthorized, forbidden). It resolves with the first welcome; failed
     * attempts before it are retried with backoff (watch the `state` events),
     * and the promise rejects only when the client closes first. Once open it
     * resolves at once; after close() it starts again.
     */
    connect(): Promise<Welcome>;
    /**
     * close closes the connection (1000) and stops reconnecting. Sends waiting
     * for a receipt reject with code `closed`, and so does a pending connect().
     */
    close(): void;
    /** on adds a listener for messages (duplicates dropped); it returns a function that removes it. */
    on(event: 'message', fn: ClientEvents<Types>['message']): () => void;
    /** on adds a listener for state changes, with the error that caused one, if any. */
    on(event: 'state', fn: ClientEvents<Types>['state']): () => void;
    /** on adds a listener for welcomes, one per connection. */
    on(event: 'welcome', fn: ClientEvents<Types>['welcome']): () => void;
    /** on adds a listener for every receipt, including second (acked) ones. */
    on(event: 'receipt', fn: ClientEvents<Types>['receipt']): () => void;
    /** on adds a listener for presence frames (after options.presence). */
    on(event: 'presence', fn: ClientEvents<Types>['presence']): () => void;
    /** on adds a listener for refreshes of the connection's token (with a token function), with the new exp. */
    on(event: 'refreshed', fn: ClientEvents<Types>['refreshed']): () => void;
    /** on adds a listener for error frames not tied to a send, and failed acks over SSE. */
    on(event: 'error', fn: ClientEvents<Types>['error']): () => void;
    /** on adds a listener for the server's reconnect frames (the client reconnects by itself). */
    on(event: 'reconnect', fn: ClientEvents<Types>['reconnect']): () => void;
    /** on adds a listener for every subs frame, also the answers to the subscriptions sent again after a welcome. */
    on(event: 'subs', fn: ClientEvents<Types>['subs']): () => void;
    /**
     * send sends a message of `type` to sibling devices of this device's account
     * and resolves with its receipt: one result per target (`delivered`,
     * `offline`, `queued`, `rejected`, `timeout`; `acked` with waitAcked). It
     * rejects with a HeraldError: the server's error frame for the message
     * (unknown_type, schema_invalid, forbidden, …), not_connected (no
     * connection, or it dropped before the receipt), timeout,
     * receive_only (SSE), invalid_argument (nothing was sent).
     */
    send<T extends keyof Types & string>(to: Target, type: T, payload: Types[T], opts?: SendOptions): Promise<Receipt>;
    /** sendToDevice sends a message to one sibling device: send({device}, …). */
    sendToDevice<T extends keyof Types & string>(device: string, type: T, payload: Types[T], opts?: SendOptions): Promise<Receipt>;
    /** sendToDevices sends one message to several sibling devices: send({devices}, …). */
    sendToDevices<T extends keyof Types & string>(devices: string[], type: T, payload: Types[T], opts?: SendOptions): Promise<Receipt>;
    /**
     * sendToSiblings sends a message to every other device of the account:
     * send({siblings: true}, …). The receipt has no results when there is none.
     */
    sendToSiblings<T extends keyof Types & string>(type: T, payload: Types[T], opts?: SendOptions): Promise<Receipt>;
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
    ack(id: string): boolean;
    /**
     * hello sets the device's metadata for the device list and whether it wants
     * presence frames. The client sends it now, if connected, and again after
     * every welcome. Over SSE it cannot be sent (receive-only).
     */
    hello(info?: HelloInfo, presence?: boolean): void;
    /**
     * topics lists the topics the client subscribes to after every welcome, in
     * the order they were first subscribed: subscribe() adds to it and
     * unsubscribe() removes from it, whatever the edge answered.
     */
    get topics(): string[];
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
    subscribe(...topics: string[]): Promise<TopicResult[]>;
    /**
     * unsubscribe ends this device's subscriptions to topics, now and on later
     * connections, and resolves with the edge's answer (`unsubscribed` for each
     * valid topic, subscribed or not). It rejects as subscribe() does; without a
     * connection it rejects with not_connected, and the topics are forgotten all
     * the same: the next connection does not subscribe to them.
     */
    unsubscribe(...topics: string[]): Promise<TopicResult[]>;
    /**
     * onTopic adds a handler for the messages published to one topic (after the
     * `message` listeners, which see them too); it returns a function that
     * removes it. It does not subscribe: call subscribe() for that. It throws
     * invalid_argument for a name that breaks the rule of topic names.
     */
    onTopic(topic: string, fn: (m: TopicMessage<Types>) => void): () => void;
}
