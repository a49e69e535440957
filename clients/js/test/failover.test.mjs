// Endpoint lists (options.fallbackUrls): the policy of which endpoint the
// next attempt dials, the validation of the list, and failover between two
// real `herald dev` processes, over WebSocket and over SSE: the preferred one
// (A, behind a proxy) goes down as a lost region would, the client moves to
// the fallback (B) and receives there, and returns to A once A answers again
// after fallbackRetryMs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient, HeraldError } from '../dist/index.js';
import { jitterRetry } from '../dist/backoff.js';
import { endpointList, nextEndpoint } from '../dist/failover.js';
import { TestEventSource } from './helpers/eventsource.mjs';
import { mintToken, push, startHerald, startProxy } from './helpers/herald.mjs';
import { nextEvent } from './helpers/fakes.mjs';

test('nextEndpoint: which endpoint the next attempt dials', () => {
  const reconnect = { kind: 'reconnect', request: { after_ms: 1000, reason: 'drain' } };
  const cases = [
    // [name, cur, n, welcomed, cause, want]
    ['one endpoint: a failed dial stays', 0, 1, false, { kind: 'handshake', status: 0 }, 0],
    ['preferred unreachable: the first fallback', 0, 3, false, { kind: 'handshake', status: 0 }, 1],
    ['fallback unreachable: the next', 1, 3, false, { kind: 'handshake', status: 0 }, 2],
    ['last unreachable: wrap to the preferred', 2, 3, false, { kind: 'handshake', status: 0 }, 0],
    ['5xx from the check moves', 0, 2, false, { kind: 'handshake', status: 503 }, 1],
    ['the endpoint answers 400 (token good): stays', 0, 2, false, { kind: 'handshake', status: 400 }, 0],
    ['401 stays', 1, 2, false, { kind: 'handshake', status: 401 }, 1],
    ['no welcome moves', 0, 2, false, { kind: 'protocol', message: 'no welcome' }, 1],
    ['closed before the welcome moves', 0, 2, false, { kind: 'close', code: 1006 }, 1],
    ['token function failed stays', 1, 3, false, { kind: 'token', error: new Error('offline') }, 1],
    ['lost on the preferred: the preferred again', 0, 3, true, { kind: 'close', code: 1006 }, 0],
    ['lost on a fallback: back to the preferred', 2, 3, true, { kind: 'close', code: 1001 }, 0],
    ['SSE stream ended on a fallback: back to the preferred', 1, 2, true, { kind: 'close' }, 0],
    ['drain on a fallback stays', 1, 2, true, reconnect, 1],
    ['token expired on a fallback stays', 1, 2, true, { kind: 'close', code: 4001 }, 1],
    ['preferred back', 2, 3, true, { kind: 'preferred' }, 0],
  ];
  for (const [name, cur, n, welcomed, cause, want] of cases) {
    assert.equal(nextEndpoint(cur, n, welcomed, cause), want, name);
  }
});

test('jitterRetry: fallbackRetryMs plus up to 20% of it', () => {
  assert.equal(jitterRetry(600_000, () => 0), 600_000);
  assert.equal(jitterRetry(600_000, () => 0.999999999), 720_000);
  assert.equal(jitterRetry(200, () => 0.999999999), 240);
});

test('options.fallbackUrls: validated at construction', () => {
  const list = endpointList('https://eu.example.com', ['https://us.example.com', 'wss://ap.example.com/herald']);
  assert.deepEqual(
    list.map((e) => [e.base, e.urls.connect, e.urls.events]),
    [
      ['https://eu.example.com', 'wss://eu.example.com/v1/connect', 'https://eu.example.com/v1/events'],
      ['https://us.example.com', 'wss://us.example.com/v1/connect', 'https://us.example.com/v1/events'],
      ['wss://ap.example.com/herald', 'wss://ap.example.com/herald/v1/connect', 'https://ap.example.com/herald/v1/events'],
    ],
  );
  const bad = [
    [{ url: 'ws://a', fallbackUrls: 'ws://b' }, /options.fallbackUrls must be an array/],
    [{ url: 'ws://a', fallbackUrls: ['ws://b', ''] }, /options.fallbackUrls\[1\] must be a non-empty URL/],
    [{ url: 'ws://a', fallbackUrls: ['ftp://b'] }, /options.fallbackUrls\[0\]: .*scheme/],
    [{ url: 'ws://a', fallbackUrls: ['not a url'] }, /options.fallbackUrls\[0\]: .*not an absolute URL/],
    [{ url: 'http://a', fallbackUrls: ['ws://a/v1/connect'] }, /options.fallbackUrls\[0\] "ws:\/\/a\/v1\/connect" is the same endpoint as options.url/],
    [{ url: 'ws://a', fallbackUrls: ['ws://b', 'ws://c', 'http://b/'] }, /options.fallbackUrls\[2\] "http:\/\/b\/" is the same endpoint as options.fallbackUrls\[0\]/],
    [{ url: 'ws://a', fallbackUrls: ['ws://b'], fallbackRetryMs: 0 }, /fallbackRetryMs/],
    [{ fallbackUrls: ['ws://b'] }, /options.url is required/],
  ];
  for (const [opts, msg] of bad) {
    assert.throws(
      () => new HeraldClient({ token: 't', WebSocket: class {}, ...opts }),
      (e) => e instanceof HeraldError && e.code === 'invalid_argument' && msg.test(e.message),
      JSON.stringify(opts),
    );
  }
  const c = new HeraldClient({ url: 'ws://a', fallbackUrls: ['ws://b'], token: 't', WebSocket: class {} });
  assert.equal(c.endpoint, 'ws://a', 'the preferred endpoint before connect');
});

let a;
let b;
before(async () => {
  [a, b] = await Promise.all([startHerald(), startHerald()]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const fast = { minDelayMs: 20, maxDelayMs: 100 };

// welcomedOn waits for the client's next welcome, which must come while
// client.endpoint is want.
async function welcomedOn(client, want) {
  await nextEvent(client, 'welcome');
  assert.equal(client.state, 'open');
  assert.equal(client.endpoint, want);
}

// receives pushes a notification to the device through base and waits for it.
async function receives(client, base, account, title) {
  const got = nextEvent(client, 'message', (m) => m.payload?.title === title);
  const res = await push(base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title } });
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.results, [{ device: 'tv1', status: 'delivered' }], `push of ${title} through ${base}`);
  await got;
}

for (const transport of ['websocket', 'sse']) {
  test(`${transport}: fails over to the second URL when the first is lost, and returns after fallbackRetryMs`, async (t) => {
    const proxy = await startProxy(a.base.slice('http://'.length));
    t.after(() => proxy.close());
    const account = `js-failover-${transport}-${process.pid}`;
    const client = new HeraldClient({
      url: proxy.base,
      fallbackUrls: [b.base],
      fallbackRetryMs: 200,
      token: () => mintToken(account, 'tv1'),
      reconnect: fast,
      transport,
      ...(transport === 'sse' ? { EventSource: TestEventSource } : {}),
    });
    t.after(() => client.close());
    const endpoints = [];
    client.on('state', (s) => {
      if (s === 'open') endpoints.push(client.endpoint);
    });

    await client.connect();
    assert.equal(client.endpoint, proxy.base);
    await receives(client, a.base, account, 'on A');

    const onB = welcomedOn(client, b.base);
    proxy.down(); // region A lost
    await onB;
    await receives(client, b.base, account, 'on B');

    const backOnA = welcomedOn(client, proxy.base);
    proxy.up();
    await backOnA;
    await receives(client, a.base, account, 'on A again');
    assert.deepEqual(endpoints, [proxy.base, b.base, proxy.base]);
  });
}
