// A test-only EventSource for Node (which has none before v22), over fetch
// streaming: enough of the WHATWG interface for the client's SSE fallback.
// It does not reconnect by itself (the client closes it on the first error
// and reconnects on its own terms anyway).

export class TestEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  /** Every instance created, for the tests to inspect. */
  static instances = [];

  constructor(url, init = {}) {
    this.url = String(url);
    this.withCredentials = !!init.withCredentials;
    this.readyState = TestEventSource.CONNECTING;
    this.onopen = this.onmessage = this.onerror = null;
    this.lastEventId = '';
    this.events = []; // every event dispatched: {data, lastEventId}
    this._abort = new AbortController();
    TestEventSource.instances.push(this);
    this._run().catch(() => {});
  }

  close() {
    this.readyState = TestEventSource.CLOSED;
    this._abort.abort();
  }

  async _run() {
    let res;
    try {
      res = await fetch(this.url, { headers: { Accept: 'text/event-stream' }, signal: this._abort.signal });
    } catch {
      return this._fail(TestEventSource.CLOSED);
    }
    const type = res.headers.get('content-type') ?? '';
    if (res.status !== 200 || !type.startsWith('text/event-stream')) {
      await res.body?.cancel().catch(() => {});
      return this._fail(TestEventSource.CLOSED); // as the spec says: "fail the connection"
    }
    if (this.readyState === TestEventSource.CLOSED) return;
    this.readyState = TestEventSource.OPEN;
    this.onopen?.({ type: 'open' });
    const decoder = new TextDecoder();
    let buf = '';
    let data = [];
    let event = '';
    let id = this.lastEventId;
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            // dispatch
            this.lastEventId = id;
            if (data.length > 0) {
              const ev = { type: event || 'message', data: data.join('\n'), lastEventId: id };
              this.events.push(ev);
              if (ev.type === 'message' && this.readyState !== TestEventSource.CLOSED) this.onmessage?.(ev);
            }
            data = [];
            event = '';
            continue;
          }
          if (line.startsWith(':')) continue; // comment: a keepalive
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'data') data.push(value);
          else if (field === 'event') event = value;
          else if (field === 'id' && !value.includes('\0')) id = value;
        }
      }
    } catch {
      // aborted by close(), or the connection broke
    }
    if (this.readyState !== TestEventSource.CLOSED) this._fail(TestEventSource.CONNECTING); // the spec would reconnect now
  }

  _fail(state) {
    if (this.readyState === TestEventSource.CLOSED) return;
    this.readyState = state;
    this.onerror?.({ type: 'error' });
  }
}
