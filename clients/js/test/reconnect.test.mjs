// Reconnects against a real `herald dev`: a connection cut by the network, a
// newer connection of the same device (4000), and the server's reconnect
// frame at the end of a connection's lifetime.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient, HeraldError } from '../dist/index.js';
import { mintToken, push, startHerald, startProxy } from './helpers/herald.mjs';
import { nextEvent, sleep } from './helpers/fakes.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

const acct = (name) => `js-${name}-${process.pid}`;
const fast = { minDelayMs: 20, maxDelayMs: 100 };

test('a connection cut by the network: reconnect with backoff, a fresh token, messages again', async (t) => {
  const proxy = await startProxy(herald.base.slice('http://'.length));
  t.after(() => proxy.close());
  const account = acct('cut');
  let tokens = 0;
  const client = new HeraldClient({
    url: proxy.ws,
    token: async () => {
      tokens++;
      return mintToken(account, 'tv1');
    },
    reconnect: fast,
  });
  t.after(() => client.close());
  const first = await client.connect();
  assert.equal(tokens, 1);

  const dropped = nextEvent(client, 'state', (s) => s === 'reconnecting');
  const reopened = nextEvent(client, 'welcome', (w) => w.session !== first.session);
  proxy.cut();
  const [, err] = await dropped;
  assert.ok(err instanceof HeraldError);
  assert.equal(err.code, 'disconnected');
  assert.equal(err.closeCode, 1006);
  await reopened;
  assert.equal(client.state, 'open');
  assert.equal(tokens, 2, 'the token function is called before every connection');
  assert.equal(proxy.accepted, 2);

  const got = nextEvent(client, 'message');
  const res = await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'after the cut' } });
  assert.equal(res.body.results[0].status, 'delivered');
  assert.equal((await got).payload.title, 'after the cut');
});

test('pending sends reject when the connection drops', async (t) => {
  const proxy = await startProxy(herald.base.slice('http://'.length));
  t.after(() => proxy.close());
  const account = acct('pending');
  const client = new HeraldClient({ url: proxy.base, token: await mintToken(account, 'phone1'), reconnect: fast });
  t.after(() => client.close());
  await client.connect();
  // A target that never acknowledges: the send waits for its second receipt.
  const tv = new HeraldClient({ url: herald.base, token: await mintToken(account, 'tv1') });
  t.after(() => tv.close());
  await tv.connect();
  const sent = client.sendToDevice('tv1', 'playback.control.v1', { action: 'play' }, { waitAcked: true });
  await nextEvent(client, 'receipt');
  proxy.cut();
  await assert.rejects(sent, (e) => {
    assert.equal(e.code, 'not_connected');
    assert.deepEqual(e.receipt?.results, [{ device: 'tv1', status: 'delivered' }], 'with the first receipt');
    return true;
  });
});

test('a newer connection of the same device closes the older with 4000, which is final', async (t) => {
  const account = acct('replaced');
  const token = await mintToken(account, 'tv1');
  const older = new HeraldClient({ url: herald.base, token, reconnect: fast });
  t.after(() => older.close());
  await older.connect();
  const closed = nextEvent(older, 'state', (s) => s === 'closed');
  const newer = new HeraldClient({ url: herald.base, token, reconnect: fast });
  t.after(() => newer.close());
  await newer.connect();
  const [, err] = await closed;
  assert.equal(err.code, 'replaced');
  assert.equal(err.closeCode, 4000);
  await sleep(300); // several backoff delays: the older must not take the device back
  assert.equal(older.state, 'closed');
  assert.equal(newer.state, 'open');
  const got = nextEvent(newer, 'message');
  await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'to the newer' } });
  assert.equal((await got).payload.title, 'to the newer');
});

test('a reconnect frame at the end of the lifetime: the client closes, waits, and comes back with a fresh token', async (t) => {
  const short = await startHerald(['--min-lifetime', '1s', '--max-lifetime', '1s', '--reconnect-grace', '5s']);
  t.after(() => short.stop());
  const account = acct('lifetime');
  let tokens = 0;
  const client = new HeraldClient({
    url: short.base,
    token: () => {
      tokens++;
      return mintToken(account, 'tv1');
    },
    reconnect: fast,
  });
  t.after(() => client.close());
  const states = [];
  client.on('state', (s, e) => states.push(e ? `${s}:${e.code}` : s));
  const first = await client.connect();
  assert.ok(first.lifetime_ms > 0 && first.lifetime_ms <= 1000, `lifetime_ms ${first.lifetime_ms}`);
  const asked = nextEvent(client, 'reconnect');
  const back = nextEvent(client, 'welcome', (w) => w.session !== first.session);
  const r = await asked;
  const at = Date.now();
  assert.equal(r.reason, 'lifetime');
  assert.ok(r.after_ms >= 0 && r.after_ms < 1000, `after_ms ${r.after_ms}`);
  await back;
  const waited = Date.now() - at;
  assert.ok(waited >= r.after_ms - 5, `came back after ${waited} ms, before after_ms ${r.after_ms}`);
  assert.deepEqual(states.slice(0, 3), ['connecting', 'open', 'reconnecting'], 'no error: the server asked for it');
  assert.equal(states[3], 'open');
  assert.equal(tokens, 2);
  // The client closed first: the server counts the lifetime with the client's 1000, not its own 4002.
  await sleep(100);
  const metrics = await (await fetch(short.admin + '/metrics')).text();
  const line = metrics.split('\n').find((l) => l.startsWith('herald_edge_disconnects_total') && l.includes('reason="lifetime"'));
  assert.ok(line, 'a lifetime disconnect is counted:\n' + metrics.split('\n').filter((l) => l.includes('disconnects')).join('\n'));
  assert.match(line, /code="1000"/);
});
