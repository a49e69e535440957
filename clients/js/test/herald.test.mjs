// The client against a real `herald dev`: connect, messages between two
// devices of an account with their receipts and acks, REST pushes, duplicates,
// error frames, presence, a refused token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient, HeraldError } from '../dist/index.js';
import { mintToken, push, startHerald } from './helpers/herald.mjs';
import { nextEvent, sleep, until } from './helpers/fakes.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

let accounts = 0;
/** account returns a fresh account name, so that tests do not see each other's devices. */
const account = () => `js-a${++accounts}-${process.pid}`;

/** connected returns an open client for account/device, closed after the test. */
async function connected(t, acct, device, opts = {}) {
  const token = await mintToken(acct, device);
  const client = new HeraldClient({ url: herald.base, token, ...opts });
  t.after(() => client.close());
  await client.connect();
  return client;
}

const isHerald = (code) => (e) => e instanceof HeraldError && e.code === code;

test('connect: the welcome names the device', async (t) => {
  const acct = account();
  const client = new HeraldClient({ url: herald.ws, token: await mintToken(acct, 'tv1') });
  t.after(() => client.close());
  const states = [];
  client.on('state', (s) => states.push(s));
  const w = await client.connect();
  assert.equal(w.account, acct);
  assert.equal(w.device, 'tv1');
  assert.match(w.session, /.+/);
  assert.ok(w.edge);
  assert.ok(w.ping_ms > 0);
  assert.ok(Math.abs(w.server_time - Date.now()) < 60_000);
  assert.equal(client.state, 'open');
  assert.equal(client.transport, 'websocket');
  assert.deepEqual(states, ['connecting', 'open']);
});

test('two devices of an account: a msg, its receipt, the sender in from', async (t) => {
  const acct = account();
  const tv = await connected(t, acct, 'tv1');
  const phone = await connected(t, acct, 'phone1');
  const got = nextEvent(tv, 'message');
  const r = await phone.sendToDevice('tv1', 'playback.control.v1', { action: 'seek', position_ms: 1200 });
  assert.deepEqual(r.results, [{ device: 'tv1', status: 'delivered' }]);
  const m = await got;
  assert.equal(m.id, r.id);
  assert.equal(m.type, 'playback.control.v1');
  assert.deepEqual(m.from, { device: 'phone1' });
  assert.deepEqual(m.payload, { action: 'seek', position_ms: 1200 });
  assert.ok(m.ts > 0);

  // Several targets, one offline, one unknown; and every sibling.
  const many = await phone.sendToDevices(['tv1', 'tab1'], 'playback.control.v1', { action: 'play' });
  assert.deepEqual(
    many.results.sort((a, b) => a.device.localeCompare(b.device)),
    [
      { device: 'tab1', status: 'rejected', error: { code: 'unknown_device', message: 'unknown_device' } },
      { device: 'tv1', status: 'delivered' },
    ],
  );
  const all = await phone.sendToSiblings('playback.control.v1', { action: 'stop' });
  assert.deepEqual(all.results, [{ device: 'tv1', status: 'delivered' }]);
});

test('ack: waitAcked resolves with acked once the target acknowledged', async (t) => {
  const acct = account();
  const tv = await connected(t, acct, 'tv1');
  const phone = await connected(t, acct, 'phone1');
  const seen = [];
  tv.on('message', (m) => {
    seen.push(m.ack);
    setTimeout(() => m.acknowledge(), 50);
  });
  const receipts = [];
  phone.on('receipt', (r) => receipts.push(r.results[0].status));
  const r = await phone.sendToDevice('tv1', 'playback.control.v1', { action: 'pause' }, { waitAcked: true });
  assert.deepEqual(r.results, [{ device: 'tv1', status: 'acked' }]);
  assert.deepEqual(seen, [true]);
  assert.deepEqual(receipts, ['delivered', 'acked'], 'the first receipt, then the second');

  // Without waitAcked, send resolves with the first receipt; the second comes as an event.
  const second = nextEvent(phone, 'receipt', (x) => x.results[0].status === 'acked');
  const first = await phone.sendToDevice('tv1', 'playback.control.v1', { action: 'play' }, { ack: true });
  assert.equal(first.results[0].status, 'delivered');
  assert.equal((await second).id, first.id);
});

test('REST push reaches the device; with ack and autoAck the push result is acked', async (t) => {
  const acct = account();
  const tv = await connected(t, acct, 'tv1', { autoAck: true });
  const got = nextEvent(tv, 'message');
  const res = await push(herald.base, { to: { account: acct, device: 'tv1' }, type: 'notification.v1', payload: { title: 'Hello', body: 'from REST' } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.results, [{ device: 'tv1', status: 'delivered' }]);
  const m = await got;
  assert.equal(m.id, res.body.id);
  assert.equal(m.type, 'notification.v1');
  assert.equal(typeof m.from.service, 'string');
  assert.deepEqual(m.payload, { title: 'Hello', body: 'from REST' });

  const acked = await push(herald.base, { to: { account: acct, device: 'tv1' }, type: 'notification.v1', payload: { title: 'Ack me' }, ack: true, timeout_ms: 5000 });
  assert.deepEqual(acked.body.results, [{ device: 'tv1', status: 'acked' }]);
});

test('duplicates: the same id delivered twice reaches the listeners once', async (t) => {
  const acct = account();
  const tv = await connected(t, acct, 'tv1');
  const phone = await connected(t, acct, 'phone1');
  const ids = [];
  tv.on('message', (m) => ids.push(m.id));
  const id = '01JDUPL1CATE0000000000000' + String(accounts % 10);
  const r1 = await phone.sendToDevice('tv1', 'playback.control.v1', { action: 'play' }, { id });
  const r2 = await phone.sendToDevice('tv1', 'playback.control.v1', { action: 'play' }, { id });
  assert.equal(r1.results[0].status, 'delivered');
  assert.equal(r2.results[0].status, 'delivered', 'the server delivered it twice');
  await phone.sendToDevice('tv1', 'playback.control.v1', { action: 'stop' });
  await until(() => ids.length >= 2, 'the last message');
  await sleep(50);
  assert.equal(ids.length, 2);
  assert.equal(ids[0], id);
  assert.notEqual(ids[1], id);
});

test('error frames reject the send they name: unknown type, invalid payload, forbidden direction', async (t) => {
  const acct = account();
  await connected(t, acct, 'tv1');
  const phone = await connected(t, acct, 'phone1');
  await assert.rejects(phone.sendToDevice('tv1', 'nope.v1', {}), (e) => {
    assert.ok(e instanceof HeraldError);
    assert.equal(e.code, 'unknown_type');
    assert.match(e.re, /^[0-9A-Z]{26}$/);
    return true;
  });
  await assert.rejects(phone.sendToDevice('tv1', 'playback.control.v1', { action: 'dance' }, { id: 'bad-payload-1' }), (e) => {
    assert.equal(e.code, 'schema_invalid');
    assert.equal(e.re, 'bad-payload-1');
    assert.ok(Array.isArray(e.details) && e.details.length > 0, 'details point at the failure');
    return true;
  });
  await assert.rejects(phone.sendToDevice('tv1', 'notification.v1', { title: 'x' }), isHerald('forbidden'));
  // A device of another account, online, is answered as an unknown one: a device
  // cannot learn which ids exist outside its account.
  await connected(t, account(), 'stranger1');
  const r = await phone.sendToDevice('stranger1', 'playback.control.v1', { action: 'play' });
  assert.deepEqual(r.results, [{ device: 'stranger1', status: 'rejected', error: { code: 'unknown_device', message: 'unknown_device' } }]);
  assert.equal(phone.state, 'open', 'error frames never close the connection');
});

test('presence: a device that asked for it sees a sibling come and go', async (t) => {
  const acct = account();
  const tv = await connected(t, acct, 'tv1', { presence: true, hello: { platform: 'tv', name: 'Living room' } });
  await sleep(100); // the hello is read before the sibling connects
  const online = nextEvent(tv, 'presence', (p) => p.device === 'phone1' && p.online);
  const phone = new HeraldClient({ url: herald.base, token: await mintToken(acct, 'phone1'), hello: { platform: 'web' } });
  await phone.connect();
  const p = await online;
  assert.ok(p.ts > 0);
  const offline = nextEvent(tv, 'presence', (x) => x.device === 'phone1' && !x.online);
  phone.close();
  await offline;
});

test('a refused token: final without a token function, retried with one', async (t) => {
  const bad = new HeraldClient({ url: herald.base, token: 'not-a-token' });
  t.after(() => bad.close());
  const states = [];
  bad.on('state', (s, e) => states.push(e ? `${s}:${e.code}` : s));
  await assert.rejects(bad.connect(), (e) => e.code === 'unauthorized' && e.status === 401);
  assert.deepEqual(states, ['connecting', 'closed:unauthorized']);

  const acct = account();
  let calls = 0;
  const good = await mintToken(acct, 'tv1');
  const retried = new HeraldClient({ url: herald.base, token: () => (++calls === 1 ? 'expired-or-bad' : good), reconnect: { minDelayMs: 10, maxDelayMs: 50 } });
  t.after(() => retried.close());
  const w = await retried.connect();
  assert.equal(w.device, 'tv1');
  assert.equal(calls, 2);
});
