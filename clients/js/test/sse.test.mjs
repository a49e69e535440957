// The SSE fallback against a real `herald dev`, through a test-only
// EventSource over fetch (Node 20 has none): receive a REST push, acknowledge
// it with POST /v1/acks, and come back after the stream ends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient, HeraldError } from '../dist/index.js';
import { TestEventSource } from './helpers/eventsource.mjs';
import { mintToken, push, startHerald, startProxy } from './helpers/herald.mjs';
import { nextEvent } from './helpers/fakes.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

const acct = (name) => `js-sse-${name}-${process.pid}`;

test('SSE: a REST push arrives, and its ack reaches the server through POST /v1/acks', async (t) => {
  const account = acct('push');
  const client = new HeraldClient({ url: herald.base, token: await mintToken(account, 'tv1'), transport: 'sse', EventSource: TestEventSource });
  t.after(() => client.close());
  const w = await client.connect();
  assert.equal(client.transport, 'sse');
  assert.equal(w.device, 'tv1');
  assert.equal(client.state, 'open');
  const es = TestEventSource.instances.at(-1);
  assert.match(es.url, /\/v1\/events\?access_token=/);

  const got = nextEvent(client, 'message');
  const pushed = push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'over SSE' }, ack: true, timeout_ms: 5000 });
  const m = await got;
  assert.equal(m.type, 'notification.v1');
  assert.equal(m.ack, true);
  assert.deepEqual(m.payload, { title: 'over SSE' });
  assert.equal(es.events.at(-1).lastEventId, m.id, 'the SSE event id is the message id');
  m.acknowledge();
  const res = await pushed;
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.results, [{ device: 'tv1', status: 'acked' }]);
  assert.equal(m.id, res.body.id);
});

test('SSE: receive-only, send rejects; a bad token is final', async (t) => {
  const account = acct('ro');
  const client = new HeraldClient({ url: herald.base, token: await mintToken(account, 'tv1'), transport: 'sse', EventSource: TestEventSource });
  t.after(() => client.close());
  await client.connect();
  await assert.rejects(client.sendToSiblings('playback.control.v1', { action: 'play' }), (e) => e instanceof HeraldError && e.code === 'receive_only');

  const bad = new HeraldClient({ url: herald.base, token: 'bad', transport: 'sse', EventSource: TestEventSource });
  t.after(() => bad.close());
  await assert.rejects(bad.connect(), (e) => e.code === 'unauthorized' && e.status === 401);
});

test('SSE: a stream that ends is opened again, with a fresh token', async (t) => {
  const proxy = await startProxy(herald.base.slice('http://'.length));
  t.after(() => proxy.close());
  const account = acct('again');
  let tokens = 0;
  const client = new HeraldClient({
    url: proxy.base,
    token: () => {
      tokens++;
      return mintToken(account, 'tv1');
    },
    transport: 'sse',
    EventSource: TestEventSource,
    reconnect: { minDelayMs: 20, maxDelayMs: 100 },
  });
  t.after(() => client.close());
  const first = await client.connect();
  const back = nextEvent(client, 'welcome', (w) => w.session !== first.session);
  proxy.cut();
  await back;
  assert.equal(tokens, 2);
  const got = nextEvent(client, 'message');
  await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'again' } });
  assert.equal((await got).payload.title, 'again');
});
