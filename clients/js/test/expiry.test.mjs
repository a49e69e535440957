// Token expiry against a real `herald dev` that allows a tenth of a second of
// clock skew: the edge closes a connection with 4001 when its token expires,
// and the client reconnects at once with a token from its token function.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient } from '../dist/index.js';
import { mintToken, push, startHerald } from './helpers/herald.mjs';
import { nextEvent } from './helpers/fakes.mjs';

let herald;
before(async () => {
  herald = await startHerald(['--token-skew', '100ms']);
});
after(async () => {
  await herald?.stop();
});

const acct = (name) => `js-${name}-${process.pid}`;
const fast = { minDelayMs: 20, maxDelayMs: 100 };

test('an expired token: 4001, then at once a fresh token from the token function', async (t) => {
  const account = acct('expiry');
  let tokens = 0;
  const client = new HeraldClient({
    url: herald.base,
    token: () => {
      tokens++;
      // exp is in whole seconds: the first token lives between one and two
      // seconds; the next one outlives the test.
      return mintToken(account, 'tv1', { ttl: tokens === 1 ? '2s' : '1h' });
    },
    reconnect: fast,
    refreshBeforeMs: -1, // the reconnect at 4001 is what is tested (test/refresh.test.mjs: the refresh)
  });
  t.after(() => client.close());
  const states = [];
  client.on('state', (s, e) => states.push(e ? `${s}:${e.code}:${e.closeCode}` : s));
  const first = await client.connect();
  const back = await nextEvent(client, 'welcome', (w) => w.session !== first.session, 15_000);
  assert.ok(back.session);
  assert.deepEqual(states.slice(0, 4), ['connecting', 'open', 'reconnecting:token_expired:4001', 'open']);
  assert.equal(tokens, 2, 'one fresh token for the reconnect');

  const got = nextEvent(client, 'message');
  const res = await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'after the expiry' } });
  assert.equal(res.body.results[0].status, 'delivered');
  assert.equal((await got).payload.title, 'after the expiry');
});

test('an expired fixed token: the client cannot get another and closes with an error', async (t) => {
  const account = acct('expiry-fixed');
  const client = new HeraldClient({ url: herald.base, token: await mintToken(account, 'tv1', { ttl: '2s' }), reconnect: fast });
  t.after(() => client.close());
  const closed = nextEvent(client, 'state', (s) => s === 'closed', 15_000);
  await client.connect();
  const [, err] = await closed;
  // As the Go SDK: a fixed token cannot be renewed, so 4001 is final.
  assert.equal(err.code, 'token_expired', `closed with ${err.code}: ${err.message}`);
  assert.equal(err.closeCode, 4001);
  assert.equal(client.state, 'closed');
});
