// In-process fakes of what the client talks to, for the situations a real
// `herald dev` cannot produce on demand: a WebSocket the test plays the server
// of, and a fetch that answers the client's auth check.

/**
 * fakeWebSocket returns a WebSocket class whose instances the test drives as
 * the server would. Each test gets its own class, and so its own instances.
 */
export function fakeWebSocket() {
  const instances = [];
  const waiters = [];
  class FakeWebSocket {
    static instances = instances;

    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.protocol = '';
      this.sent = [];
      this.closedWith = undefined;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      instances.push(this);
      const w = waiters.shift();
      if (w) w(this);
    }

    /** The device's frames, parsed. */
    send(data) {
      if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
      this.sent.push(JSON.parse(data));
    }

    /** The client closed: the close handshake completes without an event (the client detached). */
    close(code = 1000, reason = '') {
      this.closedWith = { code, reason };
      this.readyState = 3;
      queueMicrotask(() => this.onclose?.({ code, reason }));
    }

    // ---- the server's side ----

    /** accept completes the handshake with the herald.v1 subprotocol. */
    accept(protocol = 'herald.v1') {
      this.protocol = protocol;
      this.readyState = 1;
      this.onopen?.({});
    }

    /** frame sends one frame (an object, or text as it is). */
    frame(f) {
      this.onmessage?.({ data: typeof f === 'string' ? f : JSON.stringify(f) });
    }

    /** welcome accepts the connection and sends the welcome. */
    welcome(extra = {}) {
      if (this.readyState === 0) this.accept();
      this.frame({ t: 'welcome', session: 's_' + instances.length, account: 'a1', device: 'd1', edge: 'edge-1', ping_ms: 30000, server_time: Date.now(), ...extra });
    }

    /** drop ends the connection from the server's side with code. */
    drop(code = 1006, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }

    /** refuseWithoutClose fails the handshake as Node 20's WebSocket does: an error event, and no close event. */
    refuseWithoutClose() {
      this.readyState = 3;
      this.onerror?.({});
    }

    /** refuse fails the handshake, as a browser reports an HTTP 401, 403 or 503: error, then 1006. */
    refuse() {
      this.readyState = 3;
      this.onerror?.({});
      this.onclose?.({ code: 1006, reason: '' });
    }
  }
  /** next resolves with the next instance the client creates (or the n-th, 1-based, if it exists already). */
  FakeWebSocket.next = (timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no new WebSocket within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((ws) => {
        clearTimeout(t);
        resolve(ws);
      });
    });
  return FakeWebSocket;
}

/** fakeFetch answers every request with status (a JSON problem body) and records the requests. */
export function fakeFetch(status) {
  const calls = [];
  const f = async (url, init = {}) => {
    calls.push({ url: String(url), init });
    const body = status >= 400 ? JSON.stringify({ code: status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'bad_request', status }) : '{"acked":0}';
    return new Response(body, { status, headers: { 'Content-Type': 'application/json' } });
  };
  f.calls = calls;
  return f;
}

/** nextEvent resolves with the arguments of the next `event` of client that passes test. */
export function nextEvent(client, event, test = () => true, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(event, (...args) => {
      if (!test(...args)) return;
      clearTimeout(t);
      off();
      resolve(args.length > 1 ? args : args[0]);
    });
  });
}

/** until waits for cond() to hold, polling. */
export async function until(cond, what = 'condition', timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
