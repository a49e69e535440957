// Topics against a real `herald dev`: subscribe, a REST publish that arrives
// with its topic (in `message` and in onTopic), unsubscribe, a topic the token
// does not grant, the subscriptions sent again after a reconnect, and the
// calls refused before anything is sent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient, HeraldError } from '../dist/index.js';
import { TestEventSource } from './helpers/eventsource.mjs';
import { mintToken, publish, push, startHerald, startProxy } from './helpers/herald.mjs';
import { nextEvent } from './helpers/fakes.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

let n = 0;
/** fresh returns a name no other test uses: an account, or a topic's last segment. */
const fresh = (name) => `js-${name}-${++n}-${process.pid}`;
const fast = { minDelayMs: 20, maxDelayMs: 100 };
const isHerald = (code) => (e) => e instanceof HeraldError && e.code === code;

/** connected returns an open client of a token granting topics, closed after the test. */
async function connected(t, account, device, topics, opts = {}) {
  const client = new HeraldClient({ url: herald.base, token: await mintToken(account, device, { topics }), ...opts });
  t.after(() => client.close());
  await client.connect();
  return client;
}

/** score publishes a notification.v1 to topic and returns the answer's body. */
async function score(topic, title) {
  const res = await publish(herald.base, topic, { type: 'notification.v1', payload: { title } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

test('subscribe, then a publish arrives with its topic: in message and in onTopic', async (t) => {
  const topic = `scores.${fresh('live')}`;
  const other = `scores.${fresh('other')}`;
  const tv = await connected(t, fresh('a'), 'tv1', ['scores.*']);
  assert.deepEqual(await tv.subscribe(topic), [{ topic, status: 'subscribed' }]);
  assert.deepEqual(tv.topics, [topic]);

  const messages = [];
  const handled = [];
  const othersHandled = [];
  tv.on('message', (m) => messages.push(m));
  tv.onTopic(topic, (m) => handled.push(m));
  tv.onTopic(other, (m) => othersHandled.push(m));
  const got = nextEvent(tv, 'message');
  const res = await score(topic, '2 - 1');
  assert.equal(res.edges, 1);
  assert.equal(res.devices, 1);
  assert.equal(res.dropped, 0);
  const m = await got;
  assert.equal(m.id, res.id);
  assert.equal(m.topic, topic);
  assert.equal(m.type, 'notification.v1');
  assert.equal(typeof m.from.service, 'string');
  assert.equal(m.from.device, undefined);
  assert.deepEqual(m.payload, { title: '2 - 1' });
  assert.deepEqual(handled, [m], 'the topic handler got the same message');
  assert.deepEqual(othersHandled, [], "another topic's handler did not");

  // A message sent to the device itself has no topic, and reaches no topic handler.
  const direct = nextEvent(tv, 'message');
  await push(herald.base, { to: { account: tv.welcome.account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'direct' } });
  assert.equal((await direct).topic, undefined);
  assert.equal(handled.length, 1);
  assert.equal(messages.length, 2);
});

test('devices of two accounts subscribed to one topic both get one publish', async (t) => {
  const topic = `scores.${fresh('both')}`;
  const a = await connected(t, fresh('a'), 'tv1', [topic]);
  const b = await connected(t, fresh('b'), 'tv1', ['*']);
  await a.subscribe(topic);
  await b.subscribe(topic);
  const gotA = nextEvent(a, 'message');
  const gotB = nextEvent(b, 'message');
  const res = await score(topic, 'both');
  assert.equal(res.devices, 2);
  const [ma, mb] = await Promise.all([gotA, gotB]);
  assert.equal(ma.id, res.id);
  assert.equal(mb.id, res.id);
  assert.equal(ma.topic, topic);
  assert.equal(mb.topic, topic);
});

test('unsubscribe: no more messages of the topic, and it is forgotten', async (t) => {
  const topic = `scores.${fresh('unsub')}`;
  const account = fresh('a');
  const tv = await connected(t, account, 'tv1', ['scores.*']);
  await tv.subscribe(topic);
  const got = nextEvent(tv, 'message');
  await score(topic, 'before');
  assert.equal((await got).topic, topic);

  assert.deepEqual(await tv.unsubscribe(topic), [{ topic, status: 'unsubscribed' }]);
  assert.deepEqual(tv.topics, []);
  const topicMessages = [];
  tv.on('message', (m) => {
    if (m.topic) topicMessages.push(m);
  });
  const res = await score(topic, 'after');
  assert.equal(res.devices, 0, 'the edge no longer counts the device as a subscriber');
  // A push sent after the publish arrives after it would have: the publish did not come.
  const marker = nextEvent(tv, 'message', (m) => m.payload.title === 'marker');
  await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'marker' } });
  await marker;
  assert.deepEqual(topicMessages, []);
  // Unsubscribing a topic the device does not hold is answered all the same.
  assert.deepEqual(await tv.unsubscribe(topic), [{ topic, status: 'unsubscribed' }]);
});

test('a topic the token does not grant is forbidden, one result per topic in order', async (t) => {
  const granted = `scores.${fresh('ok')}`;
  const tv = await connected(t, fresh('a'), 'tv1', ['scores.*']);
  assert.deepEqual(await tv.subscribe('news.sports', granted, 'scores'), [
    { topic: 'news.sports', status: 'forbidden' },
    { topic: granted, status: 'subscribed' },
    { topic: 'scores', status: 'forbidden' },
  ]);
  const res = await score('news.sports', 'not for you');
  assert.equal(res.devices, 0);

  // A token without a topics claim may subscribe to nothing.
  const bare = await connected(t, fresh('a'), 'tv1', undefined);
  assert.deepEqual(await bare.subscribe(granted), [{ topic: granted, status: 'forbidden' }]);
  assert.equal(bare.state, 'open', 'a forbidden topic does not close the connection');
});

test('after a reconnect the client subscribes again, and publishes arrive', async (t) => {
  const proxy = await startProxy(herald.base.slice('http://'.length));
  t.after(() => proxy.close());
  const topic = `scores.${fresh('again')}`;
  const account = fresh('a');
  const tv = new HeraldClient({ url: proxy.ws, token: () => mintToken(account, 'tv1', { topics: ['scores.*'] }), reconnect: fast });
  t.after(() => tv.close());
  const first = await tv.connect();
  await tv.subscribe(topic);

  const again = nextEvent(tv, 'subs', (s) => s.results.some((r) => r.topic === topic));
  const back = nextEvent(tv, 'welcome', (w) => w.session !== first.session);
  proxy.cut();
  await back;
  const subs = await again;
  assert.deepEqual(subs.results, [{ topic, status: 'subscribed' }], 'the remembered topics, in one sub frame');
  assert.match(subs.id, /^[0-9A-Z]{26}$/);

  const got = nextEvent(tv, 'message', (m) => m.topic === topic);
  const res = await score(topic, 'after the cut');
  assert.equal(res.devices, 1);
  assert.equal((await got).payload.title, 'after the cut');
});

test('after a reconnect the client catches up on what was published meanwhile, from its cursor', async (t) => {
  const proxy = await startProxy(herald.base.slice('http://'.length));
  t.after(() => proxy.close());
  const topic = `scores.${fresh('catch')}`;
  const account = fresh('a');
  // The token of every connection after the first waits for release: the
  // publishes below happen while the client is away.
  let calls = 0;
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const tv = new HeraldClient({
    url: proxy.ws,
    token: async () => {
      if (++calls > 1) await gate;
      return mintToken(account, 'tv1', { topics: ['scores.*'] });
    },
    reconnect: fast,
  });
  t.after(() => tv.close());
  const first = await tv.connect();
  await tv.subscribe(topic);
  const seen = [];
  tv.on('message', (m) => {
    if (m.topic === topic) seen.push(m.payload.title);
  });
  const one = nextEvent(tv, 'message', (m) => m.topic === topic);
  const p1 = await score(topic, 'p1');
  assert.ok(p1.seq > 0, 'the publish answer has the seq of the log');
  await one;

  proxy.cut();
  await score(topic, 'p2');
  await score(topic, 'p3');
  const back = nextEvent(tv, 'welcome', (w) => w.session !== first.session);
  release();
  await back;
  for (let i = 0; i < 200 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  const four = nextEvent(tv, 'message', (m) => m.topic === topic && m.payload.title === 'p4');
  await score(topic, 'p4');
  await four;
  assert.deepEqual(seen, ['p1', 'p2', 'p3', 'p4'], 'what was published while away, once each, in order, then the live one');
  assert.equal(tv.cursor, 0, "a topic message's seq does not move the inbox's resume cursor");
});

test('subscribe before connect: not_connected, and the topic is subscribed after the welcome', async (t) => {
  const topic = `scores.${fresh('early')}`;
  const tv = new HeraldClient({ url: herald.base, token: await mintToken(fresh('a'), 'tv1', { topics: [topic] }) });
  t.after(() => tv.close());
  await assert.rejects(tv.subscribe(topic), isHerald('not_connected'));
  assert.deepEqual(tv.topics, [topic]);
  const subs = nextEvent(tv, 'subs');
  await tv.connect();
  assert.deepEqual((await subs).results, [{ topic, status: 'subscribed' }]);
  const got = nextEvent(tv, 'message');
  await score(topic, 'early bird');
  assert.equal((await got).topic, topic);
});

test('names that break the rule are refused before anything is sent', async (t) => {
  const tv = await connected(t, fresh('a'), 'tv1', ['*']);
  const errors = [];
  tv.on('error', (e) => errors.push(e));
  for (const bad of ['', 'a..b', '.a', 'a.', 'news.*', '*', 'a b', 'é', 'a'.repeat(129), 42, null]) {
    await assert.rejects(tv.subscribe('ok.topic', bad), isHerald('invalid_argument'), `subscribe ${JSON.stringify(bad)}`);
    await assert.rejects(tv.unsubscribe(bad), isHerald('invalid_argument'), `unsubscribe ${JSON.stringify(bad)}`);
  }
  await assert.rejects(tv.subscribe(), isHerald('invalid_argument'));
  assert.throws(() => tv.onTopic('news.*', () => {}), isHerald('invalid_argument'));
  assert.deepEqual(tv.topics, [], 'nothing was remembered');
  // The longest name is allowed, and the connection saw no bad frame.
  const longest = 'a'.repeat(128);
  assert.deepEqual(await tv.subscribe(longest), [{ topic: longest, status: 'subscribed' }]);
  assert.deepEqual(errors, []);
});

test('SSE cannot subscribe: receive_only, and nothing is remembered', async (t) => {
  const topic = `scores.${fresh('sse')}`;
  const client = new HeraldClient({
    url: herald.base,
    token: await mintToken(fresh('a'), 'tv1', { topics: ['*'] }),
    transport: 'sse',
    EventSource: TestEventSource,
  });
  t.after(() => client.close());
  await client.connect();
  await assert.rejects(client.subscribe(topic), (e) => {
    assert.ok(isHerald('receive_only')(e));
    assert.match(e.message, /SSE/);
    return true;
  });
  await assert.rejects(client.unsubscribe(topic), isHerald('receive_only'));
  assert.deepEqual(client.topics, []);
});
