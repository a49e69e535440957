// Token refresh against a real `herald dev`: with a token function and
// tokens that expire within seconds, one connection (WebSocket or SSE)
// outlives several tokens without a reconnect, and still receives.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient } from '../dist/index.js';
import { tokenExpiry } from '../dist/frames.js';
import { TestEventSource } from './helpers/eventsource.mjs';
import { mintToken, push, startHerald } from './helpers/herald.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

async function until(cond, what, ms = 30_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const transport of ['websocket', 'sse']) {
  test(`${transport}: one connection outlives its tokens through refreshes`, async (t) => {
    const account = `js-refresh-${transport}-${process.pid}`;
    const client = new HeraldClient({
      url: herald.base,
      token: () => mintToken(account, 'tv1', { ttl: '3s' }),
      transport,
      ...(transport === 'sse' ? { EventSource: TestEventSource } : {}),
    });
    t.after(() => client.close());
    let welcomes = 0;
    const refreshed = [];
    const errors = [];
    client.on('welcome', () => welcomes++);
    client.on('refreshed', (exp) => refreshed.push(exp));
    client.on('error', (e) => errors.push(e));
    await client.connect();
    await until(() => refreshed.length >= 2, 'two refreshes');
    assert.equal(welcomes, 1, 'the connection was kept');
    assert.ok(refreshed.every((exp) => exp > 0), String(refreshed));
    assert.deepEqual(errors, []);
    const got = new Promise((resolve) => client.on('message', resolve));
    const res = await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'still here' }, timeout_ms: 5000 });
    assert.equal(res.body.results[0].status, 'delivered');
    assert.equal((await got).payload.title, 'still here');
  });
}

test('tokenExpiry reads a JWT exp, and 0 otherwise', () => {
  const jwt = (payload) => 'eyJhbGciOiJIUzI1NiJ9.' + Buffer.from(JSON.stringify(payload)).toString('base64url') + '.c2ln';
  assert.equal(tokenExpiry(jwt({ exp: 1765000000 })), 1765000000);
  assert.equal(tokenExpiry(jwt({ sub: 'tv1' })), 0);
  assert.equal(tokenExpiry('not-a-jwt'), 0);
  assert.equal(tokenExpiry('a.!!!.c'), 0);
});
