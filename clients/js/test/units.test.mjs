// Unit tests of the SDK's pure parts: backoff and jitter bounds, the dedup
// ring, message ids, endpoint URLs, frame decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Backoff, jitterAfter } from '../dist/backoff.js';
import { Dedup } from '../dist/dedup.js';
import { decodeFrame, receiptFinal, subscriptionFrame } from '../dist/frames.js';
import { topicProblem, validTopic } from '../dist/topics.js';
import { endpoints } from '../dist/url.js';
import { classify } from '../dist/classify.js';
import { newMessageId, HeraldError } from '../dist/index.js';
import { outgoing, validMessageId, validDeviceId } from '../dist/send.js';

// A random source that returns the values given, then repeats the last.
const seq = (...v) => {
  let i = 0;
  return () => v[Math.min(i++, v.length - 1)];
};
const almostOne = 1 - Number.EPSILON;

test('backoff: the n-th delay lies in [ceil/2, ceil], ceil = min(max, min·2^(n+1))', () => {
  for (const [min, max] of [
    [500, 30_000],
    [100, 100],
    [10, 15],
    [0, 1000],
    [1, 2 ** 40],
  ]) {
    for (const r of [0, 0.5, almostOne]) {
      const b = new Backoff(min, max, () => r);
      for (let n = 0; n < 60; n++) {
        const d = b.next();
        const ceil = min < max ? Math.min(max, Math.max(min, 1) * 2 ** (n + 1)) : max;
        const lo = Math.max(min, Math.floor(ceil / 2));
        assert.ok(Number.isInteger(d), `delay ${d} is not whole ms`);
        assert.ok(d >= lo && d <= Math.min(ceil, max), `min ${min} max ${max} n ${n} r ${r}: ${d} not in [${lo}, ${ceil}]`);
      }
    }
  }
});

test('backoff: the extremes of the random source reach both ends of the window', () => {
  const lo = new Backoff(500, 30_000, () => 0);
  const hi = new Backoff(500, 30_000, () => almostOne);
  assert.deepEqual([lo.next(), lo.next(), lo.next()], [500, 1000, 2000]);
  assert.deepEqual([hi.next(), hi.next(), hi.next()], [1000, 2000, 4000]);
  for (let i = 0; i < 10; i++) {
    hi.next();
    lo.next();
  }
  assert.equal(hi.next(), 30_000, 'capped at max');
  assert.equal(lo.next(), 15_000, 'half of max at the cap, with r = 0');
});

test('backoff: grows, and reset starts over', () => {
  const b = new Backoff(100, 10_000, () => 0.5);
  const first = [b.next(), b.next(), b.next()];
  assert.ok(first[0] < first[1] && first[1] < first[2], `not growing: ${first}`);
  b.reset();
  assert.equal(b.next(), first[0]);
});

test('backoff: Math.random keeps within the bounds', () => {
  const b = new Backoff(500, 30_000);
  for (let n = 0; n < 1000; n++) {
    if (n % 20 === 0) b.reset();
    const d = b.next();
    assert.ok(d >= 500 && d <= 30_000, `${d}`);
  }
});

test('jitterAfter: after_ms plus up to max(20% of it, 250 ms)', () => {
  for (const after of [0, 100, 1000, 1250, 2500, 60_000]) {
    const span = Math.max(Math.floor(after / 5), 250);
    assert.equal(jitterAfter(after, () => 0), after);
    assert.equal(jitterAfter(after, () => almostOne), after + span);
    for (let i = 0; i < 200; i++) {
      const d = jitterAfter(after);
      assert.ok(Number.isInteger(d) && d >= after && d <= after + span, `after ${after}: ${d}`);
    }
  }
  assert.equal(jitterAfter(-5, seq(0)), 0, 'a negative after_ms counts as 0');
});

test('dedup: remembers the last size ids, forgets the oldest first', () => {
  const d = new Dedup(3);
  assert.equal(d.add('a'), true);
  assert.equal(d.add('a'), false);
  assert.equal(d.add('b'), true);
  assert.equal(d.add('c'), true);
  assert.equal(d.add('d'), true); // forgets a
  assert.equal(d.add('b'), false);
  assert.equal(d.add('a'), true); // forgets b
  assert.equal(d.add('b'), true);
  assert.equal(d.add('d'), false);
  const none = new Dedup(0);
  assert.equal(none.add('x'), true);
  assert.equal(none.add('x'), true, 'size 0 remembers nothing');
});

test('dedup: acks are remembered with their ids, for the window only', () => {
  const d = new Dedup(2);
  d.add('a');
  assert.equal(d.acked('a'), false);
  d.ack('a');
  assert.equal(d.acked('a'), true);
  assert.equal(d.add('a'), false, 'an acked id is still a duplicate');
  assert.equal(d.acked('a'), true);
  d.ack('x'); // never received: takes no place
  assert.equal(d.acked('x'), false);
  assert.equal(d.add('x'), true);
  assert.equal(d.acked('x'), false, 'an ack before the message is not remembered');
  d.add('y'); // forgets a, with its ack
  assert.equal(d.acked('a'), false);
  assert.equal(d.add('a'), true);
  const none = new Dedup(0);
  none.add('z');
  none.ack('z');
  assert.equal(none.acked('z'), false, 'size 0 remembers no acks');
});

test('dedup: memory stays bounded', () => {
  const d = new Dedup(100);
  for (let i = 0; i < 10_000; i++) d.add('id' + i);
  assert.equal(d.add('id9999'), false);
  assert.equal(d.add('id9899'), true);
});

test('newMessageId: ULIDs, time-ordered, unique', async () => {
  const ids = [];
  for (let i = 0; i < 2000; i++) ids.push(newMessageId());
  for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids, 'ids of one process sort in the order they were made');
  // The first 10 characters are the time in ms.
  await new Promise((r) => setTimeout(r, 2));
  const before = Date.now();
  const id = newMessageId();
  const after = Date.now();
  const t = [...id.slice(0, 10)].reduce((n, c) => n * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c), 0);
  assert.ok(t >= before && t <= after, `time ${t} not in [${before}, ${after}]`);
});

test('endpoints: from http(s) and ws(s) base URLs', () => {
  assert.deepEqual(endpoints('http://localhost:8080'), {
    connect: 'ws://localhost:8080/v1/connect',
    events: 'http://localhost:8080/v1/events',
    acks: 'http://localhost:8080/v1/acks',
    refresh: 'http://localhost:8080/v1/refresh',
  });
  assert.equal(endpoints('wss://edge.example.com/herald/').events, 'https://edge.example.com/herald/v1/events');
  assert.equal(endpoints('https://edge.example.com/v1/connect').connect, 'wss://edge.example.com/v1/connect');
  assert.equal(endpoints('ws://h/v1/events').acks, 'http://h/v1/acks');
  for (const bad of ['', 'localhost:8080', 'ftp://x', 'not a url']) {
    assert.throws(() => endpoints(bad), (e) => e instanceof HeraldError && e.code === 'invalid_argument', bad);
  }
});

test('decodeFrame: the frames of the contract, unknown ones ignored', () => {
  assert.equal(decodeFrame('not json'), undefined);
  assert.equal(decodeFrame('[1]'), undefined);
  assert.equal(decodeFrame('{"t":"future","x":1}'), undefined);
  assert.equal(decodeFrame('{"t":"msg","id":"x"}'), undefined, 'msg without type and payload');
  const r = decodeFrame('{"t":"receipt","id":"m1","results":[{"device":"tv1","status":"rejected","error":"unknown_device"},{"device":"tab1","status":"offline"}],"extra":true}');
  assert.deepEqual(r, {
    t: 'receipt',
    receipt: {
      id: 'm1',
      results: [
        { device: 'tv1', status: 'rejected', error: { code: 'unknown_device', message: 'unknown_device' } },
        { device: 'tab1', status: 'offline' },
      ],
    },
  });
  assert.equal(receiptFinal(r.receipt), true);
  assert.equal(receiptFinal({ id: 'x', results: [{ device: 'a', status: 'acked' }, { device: 'b', status: 'delivered' }] }), false);
  const m = decodeFrame('{"t":"msg","id":"01J","type":"notification.v1","from":{"service":"dev"},"ts":5,"ack":true,"payload":{"title":"x"}}');
  assert.deepEqual(m.msg, { id: '01J', type: 'notification.v1', from: { service: 'dev' }, ts: 5, ack: true, payload: { title: 'x' } });
  assert.deepEqual(decodeFrame('{"t":"reconnect","after_ms":1200,"reason":"drain"}'), { t: 'reconnect', reconnect: { after_ms: 1200, reason: 'drain' } });
});

test('classify: what follows each way a connection ends, as in the Go SDK', () => {
  const cases = [
    [{ kind: 'reconnect', request: { after_ms: 1, reason: 'lifetime' } }, false, 'scheduled', undefined],
    [{ kind: 'close', code: 4000 }, true, 'final', 'replaced'],
    [{ kind: 'close', code: 4003 }, true, 'final', 'removed'],
    [{ kind: 'close', code: 4001 }, true, 'now', 'token_expired'],
    [{ kind: 'close', code: 4001 }, false, 'final', 'token_expired'],
    [{ kind: 'close', code: 4002 }, false, 'backoff', 'disconnected'],
    [{ kind: 'close', code: 1008 }, false, 'backoff', 'disconnected'],
    [{ kind: 'close', code: 1001 }, false, 'backoff', 'disconnected'],
    [{ kind: 'close', code: 1006 }, false, 'backoff', 'disconnected'],
    [{ kind: 'close' }, false, 'backoff', 'disconnected'],
    [{ kind: 'handshake', status: 401 }, false, 'final', 'unauthorized'],
    [{ kind: 'handshake', status: 401 }, true, 'backoff', 'unauthorized'],
    [{ kind: 'handshake', status: 403 }, true, 'final', 'forbidden'],
    [{ kind: 'handshake', status: 400 }, false, 'backoff', 'disconnected'],
    [{ kind: 'handshake', status: 0 }, false, 'backoff', 'disconnected'],
    [{ kind: 'token', error: new Error('offline') }, true, 'backoff', 'token'],
    [{ kind: 'token', error: new HeraldError('unauthorized', 'logged out') }, true, 'final', 'unauthorized'],
    [{ kind: 'protocol', message: 'no welcome' }, false, 'backoff', 'protocol'],
  ];
  for (const [cause, fn, action, code] of cases) {
    const got = classify(cause, fn);
    assert.equal(got.action, action, JSON.stringify(cause));
    assert.equal(got.error?.code, code, JSON.stringify(cause));
  }
  assert.equal(classify({ kind: 'close', code: 1008 }, false).error.closeCode, 1008);
});

test('outgoing: ids and target ids follow the wire contract, or the send throws before anything is sent', () => {
  const ok = outgoing({ device: 'tv-1' }, 'a.b.v1', {}, { id: 'm!~1' }, 1000);
  assert.equal(ok.id, 'm!~1');
  for (const id of ['', 'a b', 'x\n\ndata: y', 'é', 'i'.repeat(129)]) {
    assert.throws(() => outgoing({ device: 'tv1' }, 'a.b.v1', {}, { id }, 1000), HeraldError, JSON.stringify(id));
  }
  for (const to of [{ device: 'a b' }, { device: 'x\ny' }, { devices: ['tv1', ''] }, { devices: ['d'.repeat(129)] }]) {
    assert.throws(() => outgoing(to, 'a.b.v1', {}, {}, 1000), HeraldError, JSON.stringify(to));
  }
  assert.ok(validMessageId('01JTESTID') && !validMessageId('a\tb'));
  assert.ok(validDeviceId('a.b_c:d@e-f') && !validDeviceId('a/b'));
});

test('topics: the rule of topic names, as docs/protocol.md states it', () => {
  for (const ok of ['a', 'news.sports', 'scores.match-42', 'A_b-9.c', 'a'.repeat(128), 'x.'.repeat(63) + 'yz']) {
    assert.equal(topicProblem(ok), '', ok);
    assert.ok(validTopic(ok));
  }
  for (const [bad, why] of [
    ['', /empty/],
    ['a'.repeat(129), /this one has 129/],
    ['a..b', /not empty/],
    ['.a', /not empty/],
    ['a.', /not empty/],
    ['news.*', /character 5/],
    ['*', /character 0/],
    ['a b', /character 1/],
    ['é', /character 0/],
    ['a/b', /character 1/],
    [7, /a string, not number/],
    [null, /not null/],
  ]) {
    assert.match(topicProblem(bad), why, JSON.stringify(bad));
    assert.equal(validTopic(bad), false);
  }
});

test('frames: subs, a msg with a topic, and the sub and unsub frames written', () => {
  assert.deepEqual(decodeFrame('{"t":"subs","id":"s1","results":[{"topic":"news.sports","status":"subscribed"},{"topic":"","status":"invalid"},7]}'), {
    t: 'subs',
    subs: { id: 's1', results: [{ topic: 'news.sports', status: 'subscribed' }, { topic: '', status: 'invalid' }] },
  });
  assert.equal(decodeFrame('{"t":"subs","id":"s1"}'), undefined, 'no results');
  const m = decodeFrame('{"t":"msg","id":"m1","type":"notification.v1","from":{"service":"dev"},"ts":1,"topic":"news.sports","payload":{}}');
  assert.equal(m.msg.topic, 'news.sports');
  assert.equal(decodeFrame('{"t":"msg","id":"m1","type":"x.v1","from":{},"ts":1,"payload":{}}').msg.topic, undefined);
  assert.deepEqual(JSON.parse(subscriptionFrame('sub', 's1', ['a', 'b.c'])), { t: 'sub', id: 's1', topics: ['a', 'b.c'] });
  assert.deepEqual(JSON.parse(subscriptionFrame('unsub', 's2', ['a'])), { t: 'unsub', id: 's2', topics: ['a'] });
});
