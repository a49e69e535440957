// The client against a fake WebSocket that the test plays the server of: the
// situations a real `herald dev` cannot produce on demand (4001, a refused
// handshake, duplicates, a second receipt at a chosen time).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient, HeraldError } from '../dist/index.js';
import { fakeFetch, fakeWebSocket, nextEvent, sleep, until } from './helpers/fakes.mjs';

/** newClient returns a client on a fake WebSocket, with fast reconnects, closed after the test. */
function newClient(t, opts = {}) {
  const WS = fakeWebSocket();
  const client = new HeraldClient({
    url: 'http://edge.test',
    token: 'tok',
    WebSocket: WS,
    fetch: fakeFetch(400),
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
    ...opts,
  });
  const states = [];
  client.on('state', (s, err) => states.push(err ? `${s}:${err.code}` : s));
  t.after(() => client.close());
  return { client, WS, states };
}

/** open connects the client and answers with a welcome; it resolves with the fake socket. */
async function open(client, WS) {
  const next = WS.next();
  const connected = client.connect();
  const ws = await next;
  ws.welcome();
  await connected;
  return ws;
}

const isHerald = (code) => (e) => e instanceof HeraldError && e.code === code;

test('connect: the URL, the subprotocol, the welcome and the hello', async (t) => {
  const { client, WS, states } = newClient(t, { url: 'https://edge.test/base/', token: 'a b+c', hello: { platform: 'web', name: 'Tab' }, presence: true });
  assert.equal(client.state, 'idle');
  const next = WS.next();
  const connected = client.connect();
  assert.equal(client.state, 'connecting');
  const ws = await next;
  assert.equal(ws.url, 'wss://edge.test/base/v1/connect?access_token=a%20b%2Bc');
  assert.equal(ws.protocols, 'herald.v1');
  ws.welcome({ lifetime_ms: 1000 });
  const w = await connected;
  assert.equal(w.session, 's_1');
  assert.equal(w.lifetime_ms, 1000);
  assert.equal(client.welcome, w);
  assert.equal(client.state, 'open');
  assert.deepEqual(states, ['connecting', 'open']);
  assert.deepEqual(ws.sent, [{ t: 'hello', device: { platform: 'web', name: 'Tab' }, presence: true }]);
  assert.equal(await client.connect(), w, 'connect() once open resolves with the welcome');
});

test('messages: duplicates by id are dropped, acknowledge() and autoAck send acks', async (t) => {
  const { client, WS } = newClient(t, { autoAck: true });
  const ws = await open(client, WS);
  const got = [];
  client.on('message', (m) => got.push(m));
  const msg = { t: 'msg', id: 'm1', type: 'notification.v1', from: { service: 'api' }, ts: 1, ack: true, payload: { title: 'hi' } };
  ws.frame(msg);
  ws.frame(msg);
  ws.frame({ ...msg, id: 'm2', ack: false });
  assert.deepEqual(got.map((m) => m.id), ['m1', 'm2']);
  assert.deepEqual(JSON.parse(JSON.stringify(got[0])), { id: 'm1', type: 'notification.v1', from: { service: 'api' }, ts: 1, ack: true, payload: { title: 'hi' } });
  assert.deepEqual(ws.sent, [{ t: 'ack', id: 'm1' }, { t: 'ack', id: 'm1' }], 'the duplicate is acked again');
  got[1].acknowledge();
  assert.deepEqual(ws.sent.at(-1), { t: 'ack', id: 'm2' });
  assert.equal(client.ack('m3'), true);
  assert.throws(() => client.ack(''), isHerald('invalid_argument'));
});

test('messages: duplicates are dropped across reconnects', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const got = [];
  client.on('message', (m) => got.push(m.id));
  ws.frame({ t: 'msg', id: 'm1', type: 'x.v1', payload: 1 });
  const next = WS.next();
  ws.drop(1001, 'going away');
  const ws2 = await next;
  ws2.welcome();
  ws2.frame({ t: 'msg', id: 'm1', type: 'x.v1', payload: 1 });
  ws2.frame({ t: 'msg', id: 'm2', type: 'x.v1', payload: 2 });
  assert.deepEqual(got, ['m1', 'm2']);
});

test('send: the msg frame, the receipt, and the receipt event', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const receipts = [];
  client.on('receipt', (r) => receipts.push(r));
  const p = client.sendToDevice('tv1', 'playback.control.v1', { action: 'pause' }, { ttl: 30 });
  const [m] = ws.sent;
  assert.match(m.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual(m, { t: 'msg', id: m.id, type: 'playback.control.v1', to: { device: 'tv1' }, ttl: 30, payload: { action: 'pause' } });
  ws.frame({ t: 'receipt', id: 'other', results: [] });
  ws.frame({ t: 'receipt', id: m.id, results: [{ device: 'tv1', status: 'delivered' }] });
  assert.deepEqual(await p, { id: m.id, results: [{ device: 'tv1', status: 'delivered' }] });
  assert.equal(receipts.length, 2);

  const ignore = () => {};
  client.sendToDevices(['a', 'b'], 'x.v1', [1], { id: 'fixed', ack: true }).catch(ignore);
  client.sendToSiblings('x.v1', 'text').catch(ignore);
  assert.deepEqual(ws.sent[1], { t: 'msg', id: 'fixed', type: 'x.v1', to: { devices: ['a', 'b'] }, ack: true, payload: [1] });
  assert.deepEqual(ws.sent[2].to, { siblings: true });
  await assert.rejects(client.send({ device: 'a' }, 'x.v1', 1, { id: 'fixed' }), isHerald('invalid_argument'), 'an id already waiting');
});

test('send: waitAcked resolves with the second receipt, or the first after the timeout', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  let settled = false;
  const p = client.send({ devices: ['tv1', 'tab1'] }, 'x.v1', {}, { waitAcked: true }).finally(() => (settled = true));
  const id = ws.sent[0].id;
  assert.equal(ws.sent[0].ack, true, 'waitAcked implies ack');
  ws.frame({ t: 'receipt', id, results: [{ device: 'tv1', status: 'delivered' }, { device: 'tab1', status: 'offline' }] });
  await sleep(20);
  assert.equal(settled, false, 'resolved on the first receipt');
  const second = { id, results: [{ device: 'tv1', status: 'acked' }, { device: 'tab1', status: 'offline' }] };
  ws.frame({ t: 'receipt', ...second });
  assert.deepEqual(await p, second);

  // A first receipt that is final already resolves at once.
  const q = client.send({ device: 'tv1' }, 'x.v1', {}, { waitAcked: true });
  ws.frame({ t: 'receipt', id: ws.sent[1].id, results: [{ device: 'tv1', status: 'offline' }] });
  assert.equal((await q).results[0].status, 'offline');

  // No second receipt in time: the first.
  const r = client.send({ device: 'tv1' }, 'x.v1', {}, { waitAcked: true, timeoutMs: 50 });
  const first = { id: ws.sent[2].id, results: [{ device: 'tv1', status: 'delivered' }] };
  ws.frame({ t: 'receipt', ...first });
  assert.deepEqual(await r, first);

  await assert.rejects(client.send({ device: 'tv1' }, 'x.v1', {}, { waitAcked: true, ack: false }), isHerald('invalid_argument'));
});

test('send: no receipt in time rejects with timeout', async (t) => {
  const { client, WS } = newClient(t, { receiptTimeoutMs: 30 });
  await open(client, WS);
  await assert.rejects(client.sendToDevice('tv1', 'x.v1', 1), isHerald('timeout'));
});

test('send: an error frame naming the msg rejects it; others go to the error event', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const p = client.sendToDevice('tv1', 'x.v1', { bad: true });
  const id = ws.sent[0].id;
  ws.frame({ t: 'error', re: id, code: 'schema_invalid', message: 'payload does not conform', details: [{ pointer: '/bad', message: 'no' }] });
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof HeraldError);
    assert.equal(e.code, 'schema_invalid');
    assert.equal(e.re, id);
    assert.deepEqual(e.details, [{ pointer: '/bad', message: 'no' }]);
    assert.equal(e.message, 'herald: schema_invalid: payload does not conform');
    return true;
  });
  ws.frame({ t: 'error', code: 'bad_frame', message: 'what?' });
  ws.frame({ t: 'error', re: 'unknown-id', code: 'rate_limited', message: 'slow down' });
  assert.deepEqual(errors.map((e) => [e.code, e.re]), [['bad_frame', undefined], ['rate_limited', 'unknown-id']]);
  assert.equal(client.state, 'open', 'an error frame never closes');
});

test('send: inputs are checked before anything is sent', async (t) => {
  const { client, WS } = newClient(t);
  await assert.rejects(client.sendToDevice('tv1', 'x.v1', 1), isHerald('not_connected'));
  const ws = await open(client, WS);
  const bad = [
    [{ device: 'tv1' }, '', 1, {}],
    [{ device: 'tv1' }, undefined, 1, {}],
    [{}, 'x.v1', 1, {}],
    [null, 'x.v1', 1, {}],
    [{ device: '' }, 'x.v1', 1, {}],
    [{ devices: [] }, 'x.v1', 1, {}],
    [{ devices: ['a', ''] }, 'x.v1', 1, {}],
    [{ siblings: false }, 'x.v1', 1, {}],
    [{ device: 'a', siblings: true }, 'x.v1', 1, {}],
    [{ device: 'a' }, 'x.v1', undefined, {}],
    [{ device: 'a' }, 'x.v1', null, {}],
    [{ device: 'a' }, 'x.v1', () => 1, {}],
    [{ device: 'a' }, 'x.v1', { n: 1n }, {}],
    [{ device: 'a' }, 'x.v1', 1, { ttl: -1 }],
    [{ device: 'a' }, 'x.v1', 1, { ttl: 1.5 }],
    [{ device: 'a' }, 'x.v1', 1, { id: '' }],
    [{ device: 'a' }, 'x.v1', 1, { id: 'x'.repeat(129) }],
    [{ device: 'a' }, 'x.v1', 1, { timeoutMs: 0 }],
  ];
  for (const [to, type, payload, opts] of bad) {
    await assert.rejects(client.send(to, type, payload, opts), isHerald('invalid_argument'), JSON.stringify([to, type, String(payload), opts]));
  }
  assert.deepEqual(ws.sent, [], 'nothing was sent');
  assert.throws(() => new HeraldClient({ url: 'http://x', token: '' , WebSocket: WS }), isHerald('invalid_argument'));
  assert.throws(() => new HeraldClient({ url: 'gopher://x', token: 't', WebSocket: WS }), isHerald('invalid_argument'));
  assert.throws(() => new HeraldClient({ url: 'http://x', token: 't', WebSocket: WS, transport: 'carrier-pigeon' }), isHerald('invalid_argument'));
  assert.throws(() => new HeraldClient({ url: 'http://x', token: 't', WebSocket: WS, reconnect: { minDelayMs: 10, maxDelayMs: 5 } }), isHerald('invalid_argument'));
  assert.throws(() => new HeraldClient({ url: 'http://x', token: 't', transport: 'sse', EventSource: undefined }), isHerald('invalid_argument'));
});

test('a dropped connection rejects pending sends and reconnects with backoff', async (t) => {
  const { client, WS, states } = newClient(t);
  const ws = await open(client, WS);
  const p = client.sendToDevice('tv1', 'x.v1', 1);
  const next = WS.next();
  ws.drop(1006);
  await assert.rejects(p, (e) => e instanceof HeraldError && e.code === 'not_connected' && e.closeCode === 1006);
  assert.equal(client.state, 'reconnecting');
  const ws2 = await next;
  ws2.welcome();
  await until(() => client.state === 'open', 'open again');
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting:disconnected', 'open']);
});

test('a waitAcked send cut short by a disconnect carries its first receipt', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const p = client.sendToDevice('tv1', 'x.v1', 1, { waitAcked: true });
  const first = { id: ws.sent[0].id, results: [{ device: 'tv1', status: 'delivered' }] };
  ws.frame({ t: 'receipt', ...first });
  ws.drop(1001);
  await assert.rejects(p, (e) => e.code === 'not_connected' && JSON.stringify(e.receipt) === JSON.stringify(first));
});

test('a reconnect frame: the client closes itself and comes back after after_ms plus jitter, without an error', async (t) => {
  const { client, WS, states } = newClient(t);
  const ws = await open(client, WS);
  const reconnects = [];
  client.on('reconnect', (r) => reconnects.push(r));
  const next = WS.next();
  const sent = Date.now();
  ws.frame({ t: 'reconnect', after_ms: 100, reason: 'drain' });
  assert.deepEqual(ws.closedWith, { code: 1000, reason: 'reconnect' }, 'the client closed first');
  assert.deepEqual(reconnects, [{ after_ms: 100, reason: 'drain' }]);
  assert.deepEqual(states.at(-1), 'reconnecting', 'no error');
  const ws2 = await next;
  const waited = Date.now() - sent;
  assert.ok(waited >= 99 && waited <= 100 + 250 + 400, `waited ${waited} ms: want after_ms 100 plus up to 250 ms of jitter`);
  ws2.welcome();
  await until(() => client.state === 'open', 'open again');
});

test('4000 (replaced) and 4003 (removed) are final', async (t) => {
  for (const [code, want] of [
    [4000, 'replaced'],
    [4003, 'removed'],
  ]) {
    const { client, WS, states } = newClient(t);
    const ws = await open(client, WS);
    ws.drop(code, 'bye');
    assert.equal(client.state, 'closed');
    assert.equal(states.at(-1), `closed:${want}`);
    await sleep(50);
    assert.equal(WS.instances.length, 1, 'no reconnect');
  }
});

test('4001: reconnect at once with a fresh token; a second 4001 in a row waits the backoff', async (t) => {
  let n = 0;
  const { client, WS } = newClient(t, { token: async () => `tok${++n}`, reconnect: { minDelayMs: 600, maxDelayMs: 600 } });
  const ws = await open(client, WS);
  assert.match(ws.url, /access_token=tok1$/);
  let next = WS.next();
  let at = Date.now();
  ws.drop(4001, 'token expired');
  const ws2 = await next;
  assert.ok(Date.now() - at < 300, `reconnected after ${Date.now() - at} ms, not at once`);
  assert.match(ws2.url, /access_token=tok2$/);
  ws2.welcome();
  next = WS.next();
  at = Date.now();
  ws2.drop(4001);
  const ws3 = await next;
  assert.ok(Date.now() - at >= 590, `a second 4001 reconnected after ${Date.now() - at} ms, before the backoff`);
  assert.match(ws3.url, /access_token=tok3$/);
});

test('a refused handshake: 401 with a fixed token is final, with a token function it retries; 403 is final', async (t) => {
  // 401, fixed token: connect() rejects, no retry.
  {
    const f = fakeFetch(401);
    const { client, WS, states } = newClient(t, { fetch: f });
    const next = WS.next();
    const connected = client.connect();
    (await next).refuse();
    await assert.rejects(connected, (e) => e.code === 'unauthorized' && e.status === 401);
    assert.deepEqual(states, ['connecting', 'closed:unauthorized']);
    assert.equal(f.calls.length, 1);
    assert.equal(f.calls[0].url, 'http://edge.test/v1/acks');
    assert.equal(f.calls[0].init.headers.Authorization, 'Bearer tok');
    await sleep(50);
    assert.equal(WS.instances.length, 1);
  }
  // 401, token function: retried with backoff, a new token each time.
  {
    let n = 0;
    const { client, WS, states } = newClient(t, { fetch: fakeFetch(401), token: () => `t${++n}` });
    let next = WS.next();
    const connected = client.connect();
    (await next).refuse();
    next = WS.next();
    const ws2 = await next;
    assert.match(ws2.url, /access_token=t2$/);
    ws2.welcome();
    await connected;
    assert.deepEqual(states, ['connecting', 'reconnecting:unauthorized', 'open']);
  }
  // 403: final whatever the token.
  {
    const { client, WS, states } = newClient(t, { fetch: fakeFetch(403), token: () => 'x' });
    const next = WS.next();
    const connected = client.connect();
    (await next).refuse();
    await assert.rejects(connected, isHerald('forbidden'));
    assert.equal(states.at(-1), 'closed:forbidden');
  }
  // Anything else (the probe says the token is fine: 503 while draining, a network error): retried.
  {
    const { client, WS } = newClient(t, { fetch: fakeFetch(400) });
    const next = WS.next();
    void client.connect();
    (await next).refuse();
    (await WS.next()).refuseWithoutClose(); // as Node 20's WebSocket reports a failed handshake
    (await WS.next()).welcome();
    await until(() => client.state === 'open', 'open after two retries');
  }
});

test('the token function: an error retries with backoff, an unauthorized HeraldError is final', async (t) => {
  let n = 0;
  const { client, WS, states } = newClient(t, {
    token: async () => {
      if (++n === 1) throw new Error('offline');
      return 'fresh';
    },
  });
  const next = WS.next();
  const connected = client.connect();
  const ws = await next;
  assert.match(ws.url, /access_token=fresh$/);
  ws.welcome();
  await connected;
  assert.deepEqual(states, ['connecting', 'reconnecting:token', 'open']);

  const other = newClient(t, {
    token: () => {
      throw new HeraldError('unauthorized', 'signed out');
    },
  });
  await assert.rejects(other.client.connect(), isHerald('unauthorized'));
  assert.equal(other.client.state, 'closed');
});

test('a first frame that is not a welcome is retried; so is a wrong subprotocol', async (t) => {
  const { client, WS, states } = newClient(t);
  const next = WS.next();
  const connected = client.connect();
  const ws = await next;
  ws.accept();
  ws.frame({ t: 'receipt', id: 'x', results: [] });
  assert.deepEqual(ws.closedWith, { code: 1000, reason: 'welcome expected' });
  const ws2 = await WS.next();
  ws2.accept('something-else');
  const ws3 = await WS.next();
  ws3.welcome();
  await connected;
  assert.deepEqual(states, ['connecting', 'reconnecting:protocol', 'reconnecting:protocol', 'open']);
});

test('close(): pending sends and connect() reject with closed; no reconnect; connect() starts again', async (t) => {
  const { client, WS, states } = newClient(t);
  const ws = await open(client, WS);
  const p = client.sendToDevice('tv1', 'x.v1', 1);
  client.close();
  await assert.rejects(p, isHerald('closed'));
  assert.deepEqual(ws.closedWith, { code: 1000, reason: 'client closed' });
  assert.equal(client.state, 'closed');
  assert.equal(client.ack('m1'), false, 'no connection to ack on');
  await sleep(30);
  assert.equal(WS.instances.length, 1);

  const next = WS.next();
  const again = client.connect();
  (await next).welcome();
  await again;
  assert.deepEqual(states, ['connecting', 'open', 'closed', 'connecting', 'open']);

  const c2 = newClient(t);
  const pending = c2.client.connect();
  c2.client.close();
  await assert.rejects(pending, isHerald('closed'));
});

test('reconnect disabled: a drop closes the client', async (t) => {
  const { client, WS, states } = newClient(t, { reconnect: { enabled: false } });
  const ws = await open(client, WS);
  ws.drop(1001);
  assert.equal(states.at(-1), 'closed:disconnected');
  await sleep(30);
  assert.equal(WS.instances.length, 1);
});

test('presence, later welcomes and unknown frames', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const seen = [];
  client.on('presence', (p) => seen.push(p));
  const off = client.on('welcome', (w) => seen.push(w.session));
  ws.frame({ t: 'presence', device: 'tv1', online: true, platform: 'tv', ts: 5 });
  ws.frame({ t: 'welcome', session: 's_new', account: 'a1', device: 'd1', edge: 'e', ping_ms: 1, server_time: 1 });
  off();
  ws.frame({ t: 'welcome', session: 's_newer', account: 'a1', device: 'd1', edge: 'e', ping_ms: 1, server_time: 1 });
  ws.frame({ t: 'from-the-future' });
  ws.frame('not json');
  assert.deepEqual(seen, [{ device: 'tv1', online: true, platform: 'tv', ts: 5 }, 's_new']);
  assert.equal(client.welcome.session, 's_newer');
  assert.equal(client.state, 'open');
});

test('a listener that throws does not stop the client or the other listeners', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.prependListener('uncaughtException', onUncaught);
  const listeners = process.listeners('uncaughtException').filter((l) => l !== onUncaught);
  for (const l of listeners) process.removeListener('uncaughtException', l);
  t.after(() => {
    process.removeListener('uncaughtException', onUncaught);
    for (const l of listeners) process.on('uncaughtException', l);
  });
  const got = [];
  client.on('message', () => {
    throw new Error('app bug');
  });
  client.on('message', (m) => got.push(m.id));
  ws.frame({ t: 'msg', id: 'm1', type: 'x.v1', payload: 1 });
  assert.deepEqual(got, ['m1']);
  await until(() => uncaught.length === 1, 'the error reported');
  assert.equal(uncaught[0].message, 'app bug');
});

test('SSE: send rejects as receive-only; hello is not sent', async (t) => {
  class ES {
    constructor(url) {
      this.url = url;
      ES.last = this;
    }
    close() {}
  }
  const client = new HeraldClient({ url: 'http://edge.test', token: 'tok', EventSource: ES, WebSocket: undefined, transport: 'auto', fetch: fakeFetch(200) });
  t.after(() => client.close());
  assert.equal(client.transport, 'websocket', "'auto' picks SSE only without a WebSocket, and there is one here");
  const saved = globalThis.WebSocket;
  delete globalThis.WebSocket;
  try {
    assert.equal(new HeraldClient({ url: 'http://edge.test', token: 'tok', EventSource: ES }).transport, 'sse');
  } finally {
    globalThis.WebSocket = saved;
  }
  const sse = new HeraldClient({ url: 'http://edge.test', token: 'tok', EventSource: ES, transport: 'sse', fetch: fakeFetch(200) });
  t.after(() => sse.close());
  assert.equal(sse.transport, 'sse');
  const connected = sse.connect();
  assert.equal(ES.last.url, 'http://edge.test/v1/events?access_token=tok');
  ES.last.onopen({});
  ES.last.onmessage({ data: JSON.stringify({ t: 'welcome', session: 's', account: 'a', device: 'd', edge: 'e', ping_ms: 0, server_time: 0 }) });
  await connected;
  await assert.rejects(sse.sendToDevice('tv1', 'x.v1', 1), isHerald('receive_only'));
});

test('an error event without a close event still ends an open connection', async (t) => {
  const { client, WS, states } = newClient(t);
  const ws = await open(client, WS);
  const next = WS.next();
  ws.onerror({});
  (await next).welcome();
  await until(() => client.state === 'open', 'open again');
  assert.deepEqual(states, ['connecting', 'open', 'reconnecting:disconnected', 'open']);
  assert.deepEqual(ws.closedWith, { code: 1000, reason: '' });
});

test('topics: the sub and unsub frames, their answers by id, and the sub sent again after each welcome', async (t) => {
  const { client, WS } = newClient(t, { hello: { platform: 'web' }, receiptTimeoutMs: 50 });
  const ws = await open(client, WS);
  assert.deepEqual(ws.sent, [{ t: 'hello', device: { platform: 'web' } }], 'no sub before the first subscribe');
  const subsEvents = [];
  client.on('subs', (s) => subsEvents.push(s));

  const p = client.subscribe('b.live', 'a');
  const sub = ws.sent.at(-1);
  assert.equal(sub.t, 'sub');
  assert.match(sub.id, /^[0-9A-Z]{26}$/);
  assert.deepEqual(sub.topics, ['b.live', 'a']);
  ws.frame({ t: 'subs', id: 'someone-else', results: [] }); // matches nothing pending: an event only
  ws.frame({ t: 'subs', id: sub.id, results: [{ topic: 'b.live', status: 'subscribed' }, { topic: 'a', status: 'forbidden' }] });
  assert.deepEqual(await p, [{ topic: 'b.live', status: 'subscribed' }, { topic: 'a', status: 'forbidden' }]);
  assert.deepEqual(subsEvents.map((s) => s.id), ['someone-else', sub.id]);
  assert.deepEqual(client.topics, ['b.live', 'a'], 'remembered whatever the answer');

  // An error frame naming it rejects it; no answer in time is a timeout.
  const refused = client.subscribe('c');
  ws.frame({ t: 'error', re: ws.sent.at(-1).id, code: 'bad_frame', message: 'a sub frame lists at most 1 topics' });
  await assert.rejects(refused, (e) => isHerald('bad_frame')(e) && e.re === ws.sent.at(-1).id);
  await assert.rejects(client.subscribe('d'), isHerald('timeout'));
  const unsub = client.unsubscribe('c', 'd');
  assert.deepEqual(ws.sent.at(-1).topics, ['c', 'd']);
  assert.equal(ws.sent.at(-1).t, 'unsub');
  ws.frame({ t: 'subs', id: ws.sent.at(-1).id, results: [{ topic: 'c', status: 'unsubscribed' }, { topic: 'd', status: 'unsubscribed' }] });
  await unsub;
  assert.deepEqual(client.topics, ['b.live', 'a']);

  // A drop rejects a pending subscribe; the next connection subscribes to every remembered topic, after the hello.
  const pending = client.subscribe('e');
  const next = WS.next();
  ws.drop(1006);
  await assert.rejects(pending, (e) => isHerald('not_connected')(e) && /lost before the subs answer/.test(e.message) && e.closeCode === 1006);
  const ws2 = await next;
  ws2.welcome();
  await until(() => client.state === 'open', 'open again');
  assert.equal(ws2.sent.length, 2);
  assert.deepEqual(ws2.sent[0], { t: 'hello', device: { platform: 'web' } });
  assert.equal(ws2.sent[1].t, 'sub');
  assert.deepEqual(ws2.sent[1].topics, ['b.live', 'a', 'e']);
  assert.notEqual(ws2.sent[1].id, sub.id);

  // Without a connection: not_connected, and the change is kept for the next one.
  client.close();
  await assert.rejects(client.unsubscribe('a'), isHerald('not_connected'));
  await assert.rejects(client.subscribe('f'), isHerald('not_connected'));
  assert.deepEqual(client.topics, ['b.live', 'e', 'f']);
});

test('topics: onTopic gets the messages of its topic after the message listeners, duplicates dropped', async (t) => {
  const { client, WS } = newClient(t);
  const ws = await open(client, WS);
  const order = [];
  client.on('message', (m) => order.push(`message ${m.id} ${m.topic ?? '-'}`));
  const off = client.onTopic('a.b', (m) => order.push(`a.b ${m.id}`));
  client.onTopic('a', (m) => order.push(`a ${m.id}`));
  const msg = (id, topic) => ({ t: 'msg', id, type: 'notification.v1', from: { service: 'svc' }, ts: 1, ...(topic ? { topic } : {}), payload: { title: id } });
  ws.frame(msg('m1', 'a.b'));
  ws.frame(msg('m1', 'a.b'));
  ws.frame(msg('m2'));
  ws.frame(msg('m3', 'a'));
  off();
  ws.frame(msg('m4', 'a.b'));
  assert.deepEqual(order, ['message m1 a.b', 'a.b m1', 'message m2 -', 'message m3 a', 'a m3', 'message m4 a.b']);
});
