// The resume cursor (store-and-forward): the client keeps the highest seq of
// the stored messages it received and sends it as ?after= on each connection,
// over WebSocket and SSE; a stored message written again is a duplicate. The
// fakes play an edge that writes stored messages right after the welcome; the
// last test runs against a real `herald dev` once it stores sync pushes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient } from '../dist/index.js';
import { fakeFetch, fakeWebSocket, nextEvent, until } from './helpers/fakes.mjs';
import { devAPIKey, mintToken, push, startHerald } from './helpers/herald.mjs';

const stored = (id, seq) => ({ t: 'msg', id, type: 'notification.v1', from: { service: 'svc' }, ts: Date.now(), payload: { title: id }, seq });
const live = (id) => ({ t: 'msg', id, type: 'notification.v1', from: { service: 'svc' }, ts: Date.now(), payload: { title: id } });
const welcome = (n) => ({ t: 'welcome', session: 's_' + n, account: 'a1', device: 'd1', edge: 'edge-1', ping_ms: 30000, server_time: Date.now() });
const afterOf = (url) => new URL(url).searchParams.get('after');

test('websocket: the cursor starts at options.after, follows the stored messages, and is sent on each reconnect; a stored message written again is dropped', async (t) => {
  const WS = fakeWebSocket();
  const client = new HeraldClient({ url: 'http://edge.test', token: 'tok', WebSocket: WS, fetch: fakeFetch(400), reconnect: { minDelayMs: 5, maxDelayMs: 20 }, after: 5 });
  t.after(() => client.close());
  const got = [];
  client.on('message', (m) => got.push(`${m.id}:${m.seq ?? '-'}`));
  assert.equal(client.cursor, 5);

  let next = WS.next();
  const connected = client.connect();
  let ws = await next;
  assert.equal(afterOf(ws.url), '5');
  ws.welcome();
  await connected;
  ws.frame(stored('s1', 7));
  ws.frame(stored('s2', 9));
  ws.frame(live('live1'));
  assert.equal(client.cursor, 9);

  // Cut before the edge removed s2: it comes again on the next connection.
  next = WS.next();
  ws.drop(1006);
  ws = await next;
  assert.equal(afterOf(ws.url), '9');
  ws.welcome();
  await until(() => client.state === 'open', 'the second welcome');
  ws.frame(stored('s2', 9));
  ws.frame(stored('old', 3));
  assert.deepEqual(got, ['s1:7', 's2:9', 'live1:-', 'old:3']);
  assert.equal(client.cursor, 9, 'a lower seq does not move the cursor back');
});

test('websocket: no ?after= without a cursor', async (t) => {
  const WS = fakeWebSocket();
  const client = new HeraldClient({ url: 'http://edge.test', token: 'tok', WebSocket: WS, fetch: fakeFetch(400) });
  t.after(() => client.close());
  const next = WS.next();
  const connected = client.connect();
  const ws = await next;
  ws.welcome();
  await connected;
  assert.equal(afterOf(ws.url), null);
  assert.equal(client.cursor, 0);
  assert.throws(() => new HeraldClient({ url: 'http://edge.test', token: 'tok', WebSocket: WS, after: -1 }), /options\.after/);
  assert.throws(() => new HeraldClient({ url: 'http://edge.test', token: 'tok', WebSocket: WS, after: 1.5 }), /options\.after/);
});

test('sse: the cursor is sent as ?after= on /v1/events too', async (t) => {
  const instances = [];
  class FakeEventSource {
    constructor(url) {
      this.url = url;
      this.onopen = this.onmessage = this.onerror = null;
      instances.push(this);
    }
    close() {}
    open(n) {
      this.onopen?.({});
      this.send(welcome(n));
    }
    send(f) {
      this.onmessage?.({ data: JSON.stringify(f) });
    }
  }
  const client = new HeraldClient({ url: 'http://edge.test', token: 'tok', transport: 'sse', EventSource: FakeEventSource, fetch: fakeFetch(200), reconnect: { minDelayMs: 5, maxDelayMs: 20 }, after: 2 });
  t.after(() => client.close());
  const got = [];
  client.on('message', (m) => got.push(m.id));
  const connected = client.connect();
  await until(() => instances.length === 1, 'the first EventSource');
  assert.equal(new URL(instances[0].url).pathname, '/v1/events');
  assert.equal(afterOf(instances[0].url), '2');
  instances[0].open(1);
  await connected;
  instances[0].send(stored('s1', 4));
  instances[0].onerror?.({});
  await until(() => instances.length === 2, 'the second EventSource');
  assert.equal(afterOf(instances[1].url), '4');
  instances[1].open(2);
  instances[1].send(stored('s1', 4));
  instances[1].send(stored('s2', 6));
  assert.deepEqual(got, ['s1', 's2']);
  assert.equal(client.cursor, 6);
});

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

test('herald dev: a push to an offline device is stored, arrives with its seq, and is not written again after a reconnect', async (t) => {
  const account = 'acc-cursor';
  const res = await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'first' } });
  assert.equal(res.status, 200);
  assert.equal(res.body.results?.[0]?.status, 'queued', 'herald dev stores a notification for an offline device');
  const token = await mintToken(account, 'tv1');
  const c1 = new HeraldClient({ url: herald.ws, token });
  const first = nextEvent(c1, 'message');
  await c1.connect();
  const m1 = await first;
  assert.equal(m1.payload.title, 'first');
  assert.ok(m1.seq > 0, 'a stored message has a seq');
  assert.equal(c1.cursor, m1.seq);
  c1.close();
  // The next push must find tv1 offline: wait until the edge has let it go (a
  // push in between would be written to the closing connection).
  for (const end = Date.now() + 10_000; ; ) {
    const res = await fetch(`${herald.base}/v1/accounts/${account}/devices`, { headers: { Authorization: `Bearer ${devAPIKey}` } });
    const body = await res.json();
    if (body.devices?.some((d) => d.id === 'tv1' && d.online === false)) break;
    if (Date.now() > end) throw new Error('timed out waiting for tv1 to be offline');
    await new Promise((r) => setTimeout(r, 10));
  }

  const res2 = await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'second' } });
  assert.equal(res2.body.results[0].status, 'queued');
  const c2 = new HeraldClient({ url: herald.ws, token, after: c1.cursor });
  t.after(() => c2.close());
  const got = [];
  c2.on('message', (m) => got.push(m.payload.title));
  await c2.connect();
  await until(() => got.length >= 1, 'the second message');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got, ['second']);
  assert.ok(c2.cursor > m1.seq);
});
