// HeraldSender against a real `herald dev`: every call, typed problems, and
// retries under failures injected by a proxy in front of it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { HeraldClient, HeraldProblem, HeraldSender } from '../dist/index.js';
import { devAPIKey, mintToken, startHerald } from './helpers/herald.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

const sender = (url, opts = {}) => new HeraldSender({ url, apiKey: devAPIKey, minBackoffMs: 1, maxBackoffMs: 20, ...opts });

/** device connects a client for account/device and collects its messages. */
async function device(t, account, id, topics) {
  const token = await mintToken(account, id, topics ? { topics } : {});
  const client = new HeraldClient({ url: herald.base, token });
  const got = [];
  client.on('message', (m) => got.push(m));
  t.after(() => client.close());
  await client.connect();
  return { client, got };
}

async function until(cond, what, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('push, batch, send and status, publish, devices', async (t) => {
  const s = sender(herald.base);
  const tv = await device(t, 'a1', 'tv1', ['news.*']);

  const res = await s.push({ to: { account: 'a1', device: 'tv1' }, type: 'notification.v1', payload: { title: 'hi' }, timeoutMs: 5000 });
  assert.equal(res.results[0].status, 'delivered');
  await until(() => tv.got.some((m) => m.id === res.id), 'the push on the tv');

  const batch = await s.pushBatch([
    { to: { account: 'a1', device: 'tv1' }, type: 'notification.v1', payload: { title: 'one' } },
    { to: { account: 'a1', device: 'tv1' }, type: 'no.such.type.v1', payload: {} },
  ]);
  assert.equal(batch[0].results[0].status, 'delivered');
  assert.ok(batch[1] instanceof HeraldProblem && batch[1].code === 'unknown_type', String(batch[1]));

  const id = await s.send({ to: { account: 'a1', device: 'tv1' }, type: 'notification.v1', payload: { title: 'later' } });
  await until(() => tv.got.some((m) => m.id === id), 'the async message on the tv');
  await until(async () => (await s.status(id)).status === 'delivered', 'its status delivered');

  await tv.client.subscribe('news.sports');
  const pub = await s.publish('news.sports', { type: 'notification.v1', payload: { title: 'goal' } });
  assert.equal(pub.devices, 1);
  assert.equal((await s.topicCount('news.sports')).subscribers, 1);

  const d = await s.putDevice('a1', 'radio1', { platform: 'web', name: 'Radio' });
  assert.equal(d.name, 'Radio');
  const list = await s.devices('a1');
  assert.ok(list.find((x) => x.id === 'tv1')?.online);
  await s.deleteDevice('a1', 'radio1');
  await assert.rejects(s.deleteDevice('a1', 'radio1'), (e) => e instanceof HeraldProblem && e.code === 'not_found' && e.status === 404);
});

test('sendBatch: an id or a problem per message, in order', async (t) => {
  const s = sender(herald.base);
  const tv = await device(t, 'a4', 'tv1');
  const to = { account: 'a4', device: 'tv1' };
  const batch = [
    { to, type: 'notification.v1', payload: { title: 'one' } },
    { to, type: 'no.such.type.v1', payload: {} },
    { to, type: 'notification.v1', payload: { title: 7 } },
    { to, type: 'notification.v1', payload: { title: 'two' }, idempotencyKey: 'js-batch-two' },
  ];
  const res = await s.sendBatch(batch);
  assert.equal(res.length, 4);
  assert.ok(typeof res[0] === 'string' && res[0], String(res[0]));
  assert.ok(res[1] instanceof HeraldProblem && res[1].code === 'unknown_type', String(res[1]));
  assert.ok(res[2] instanceof HeraldProblem && res[2].code === 'schema_invalid' && res[2].status === 422 && res[2].details[0]?.pointer === '/title', String(res[2]));
  assert.ok(typeof res[3] === 'string' && res[3] && res[3] !== res[0], String(res[3]));
  await until(() => tv.got.length >= 2, 'the batch on the tv');
  assert.deepEqual(
    tv.got.map((m) => m.id),
    [res[0], res[3]],
  );
  await until(async () => (await s.status(res[3])).status === 'delivered', 'its status delivered');

  // The message with its own key again: the id it was enqueued under, not a second message.
  const again = await s.sendBatch([batch[3]]);
  assert.deepEqual(again, [res[3]]);
  const other = await s.sendBatch([{ ...batch[3], payload: { title: 'another text' } }]);
  assert.ok(other[0] instanceof HeraldProblem && other[0].code === 'conflict', String(other[0]));

  await assert.rejects(s.sendBatch([]), (e) => e instanceof HeraldProblem && e.code === 'bad_request' && e.status === 400);
  const tooMany = Array.from({ length: 501 }, () => batch[0]);
  await assert.rejects(s.sendBatch(tooMany), (e) => e instanceof HeraldProblem && e.code === 'too_large' && e.status === 413);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(tv.got.length, 2);
});

test('problems are typed', async () => {
  const s = sender(herald.base);
  await assert.rejects(
    s.push({ to: { account: 'a1', device: 'tv1' }, type: 'notification.v1', payload: { title: 7 } }),
    (e) => e instanceof HeraldProblem && e.code === 'schema_invalid' && e.status === 422 && e.details[0]?.pointer === '/title',
  );
  await assert.rejects(sender(herald.base, { apiKey: 'wrong' }).status('x'), (e) => e instanceof HeraldProblem && e.code === 'unauthorized');
  assert.throws(() => new HeraldSender({ url: 'ws://h', apiKey: 'k' }), TypeError);
  assert.throws(() => new HeraldSender({ url: 'http://h' }), TypeError);
});

/**
 * faultProxy answers requests per script ("503", "503ra", "429", "lose") before
 * forwarding, and records each request's Idempotency-Key and body.
 */
async function faultProxy(t, script) {
  const keys = [];
  const bodies = [];
  let seen = 0;
  const srv = createServer(async (req, res) => {
    seen++;
    keys.push(req.headers['idempotency-key'] ?? '');
    const step = script.shift() ?? '';
    const chunks = [];
    for await (const c of req) chunks.push(c);
    bodies.push(Buffer.concat(chunks).toString());
    const problem = (status, code, ra) => {
      const h = { 'Content-Type': 'application/problem+json' };
      if (ra) h['Retry-After'] = '1';
      res.writeHead(status, h).end(JSON.stringify({ type: 'x', title: code, status, code }));
    };
    if (step === '503') return problem(503, 'unavailable');
    if (step === '503ra') return problem(503, 'unavailable', true);
    if (step === '429') return problem(429, 'rate_limited', true);
    const fwd = await fetch(herald.base + req.url, {
      method: req.method,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')),
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    const body = await fwd.text();
    if (step === 'lose') return res.writeHead(502).end('bad gateway');
    res.writeHead(fwd.status, { 'Content-Type': fwd.headers.get('content-type') ?? 'application/json' }).end(body);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => srv.close(r)));
  return { url: `http://127.0.0.1:${srv.address().port}`, keys, bodies, seen: () => seen };
}

test('send is retried under one Idempotency-Key and enqueued once', async (t) => {
  const tv = await device(t, 'a2', 'tv1');
  const fp = await faultProxy(t, ['503', 'lose', '503']);
  const s = sender(fp.url);
  const id = await s.send({ to: { account: 'a2', device: 'tv1' }, type: 'notification.v1', payload: { title: 'once' } });
  assert.equal(fp.keys.length, 4);
  assert.ok(fp.keys[0] && fp.keys.every((k) => k === fp.keys[0]), fp.keys.join(','));
  const marker = await sender(herald.base).send({ to: { account: 'a2', device: 'tv1' }, type: 'notification.v1', payload: { title: 'marker' } });
  await until(() => tv.got.some((m) => m.id === marker), 'the marker');
  assert.deepEqual(
    tv.got.map((m) => m.id),
    [id, marker],
  );
});

test('sendBatch is retried under the same keys and enqueued once', async (t) => {
  const tv = await device(t, 'a5', 'tv1');
  const fp = await faultProxy(t, ['503', 'lose']);
  const to = { account: 'a5', device: 'tv1' };
  const res = await sender(fp.url).sendBatch([
    { to, type: 'notification.v1', payload: { title: 'one' } },
    { to, type: 'no.such.type.v1', payload: {} },
    { to, type: 'notification.v1', payload: { title: 'two' }, idempotencyKey: 'js-retried-two' },
  ]);
  assert.equal(fp.seen(), 3);
  const keys = fp.bodies.map((b) => JSON.parse(b).messages.map((m) => m.idempotency_key));
  const [first] = keys;
  assert.ok(first.length === 3 && first[0] && first[1] && first[0] !== first[1] && first[2] === 'js-retried-two', first.join(','));
  for (const k of keys) assert.deepEqual(k, first);
  assert.ok(typeof res[0] === 'string' && res[0] && typeof res[2] === 'string' && res[2], res.join(','));
  assert.ok(res[1] instanceof HeraldProblem && res[1].code === 'unknown_type', String(res[1]));
  const marker = await sender(herald.base).send({ to, type: 'notification.v1', payload: { title: 'marker' } });
  await until(() => tv.got.some((m) => m.id === marker), 'the marker');
  assert.deepEqual(
    tv.got.map((m) => m.id),
    [res[0], res[2], marker],
  );
});

test('push is retried only when the server did nothing', async (t) => {
  const fp = await faultProxy(t, ['503']);
  await assert.rejects(
    sender(fp.url).push({ to: { account: 'a3', device: 'tv1' }, type: 'notification.v1', payload: { title: 'x' }, ttl: 0 }),
    (e) => e instanceof HeraldProblem && e.code === 'unavailable',
  );
  assert.equal(fp.seen(), 1);
  const fp2 = await faultProxy(t, ['429', '503ra']);
  const res = await sender(fp2.url, { maxBackoffMs: 1000 }).push({ to: { account: 'a3', device: 'tv1' }, type: 'notification.v1', payload: { title: 'y' }, ttl: 0 });
  assert.equal(res.results[0].status, 'offline');
  assert.equal(fp2.seen(), 3);
});

test('retries stop at maxRetries', async (t) => {
  const fp = await faultProxy(t, ['503', '503', '503', '503']);
  await assert.rejects(sender(fp.url, { maxRetries: 2 }).status('01K0000000000000000000000'), (e) => e instanceof HeraldProblem && e.code === 'unavailable');
  assert.equal(fp.seen(), 3);
});
