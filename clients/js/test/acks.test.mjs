// Acks of duplicates against a real `herald dev`: a stored message with ack
// whose ack is lost (a proxy cuts the connection between the write and the
// ack) is written again on the next connection. The client drops the
// duplicate, and acks it again with autoAck or when the app had acked it;
// otherwise the duplicate waits for the app's own ack, on the new connection.
// A third connection then gets nothing stored: the ack reached the edge.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { HeraldClient } from '../dist/index.js';
import { until } from './helpers/fakes.mjs';
import { devAPIKey, mintToken, push, startHerald, startProxy } from './helpers/herald.mjs';

let herald;
before(async () => {
  herald = await startHerald();
});
after(async () => {
  await herald?.stop();
});

/**
 * spyWebSocket returns a WebSocket class that records, per connection (from
 * 1), the ids of the ack frames the client writes.
 */
function spyWebSocket() {
  const acks = []; // acks[n-1]: the ack ids written on connection n
  class SpyWebSocket extends globalThis.WebSocket {
    constructor(...args) {
      super(...args);
      this.conn = acks.push([]);
    }
    send(data) {
      const f = JSON.parse(data);
      if (f.t === 'ack') acks[this.conn - 1].push(f.id);
      super.send(data);
    }
  }
  SpyWebSocket.acks = acks;
  return SpyWebSocket;
}

/** waitOffline waits until the edge has let the device's connection go. */
async function waitOffline(account, device) {
  for (const end = Date.now() + 10_000; ; ) {
    const res = await fetch(`${herald.base}/v1/accounts/${account}/devices`, { headers: { Authorization: `Bearer ${devAPIKey}` } });
    const body = await res.json();
    if (body.devices?.some((d) => d.id === device && d.online === false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${device} to be offline`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** livePush pushes a notification now or never (ttl 0) and checks it was delivered. */
async function livePush(account, device, title) {
  const res = await push(herald.base, { to: { account, device }, type: 'notification.v1', payload: { title }, ttl: 0 });
  assert.equal(res.body.results?.[0]?.status, 'delivered', `the live push ${title}: ${JSON.stringify(res.body)}`);
  return res.body.id;
}

const cases = [
  { name: 'autoAck acks the duplicate again', autoAck: true, appAck: false, ackedAgain: true },
  { name: 'a duplicate of a message the app acked is acked again', autoAck: false, appAck: true, ackedAgain: true },
  { name: 'a duplicate the app has not acked waits for its ack', autoAck: false, appAck: false, ackedAgain: false },
];

for (const c of cases) {
  test(`herald dev: ${c.name}`, async (t) => {
    const account = `acc-acks-${cases.indexOf(c)}-${Date.now().toString(36)}`;
    const stored = await push(herald.base, { to: { account, device: 'tv1' }, type: 'notification.v1', payload: { title: 'm1' }, ack: true });
    assert.equal(stored.body.results?.[0]?.status, 'queued', 'a notification with ack to an offline device is stored');
    const m1 = stored.body.id;

    const proxy = await startProxy(herald.ws.slice('ws://'.length));
    t.after(() => proxy.close());
    const WS = spyWebSocket();
    const token = await mintToken(account, 'tv1');
    const client = new HeraldClient({ url: proxy.ws, token, WebSocket: WS, autoAck: c.autoAck, reconnect: { minDelayMs: 5, maxDelayMs: 50 } });
    t.after(() => client.close());
    const got = [];
    let welcomes = 0;
    client.on('welcome', () => welcomes++);
    client.on('message', (m) => {
      got.push(m.id);
      if (m.id !== m1) return;
      // Cut between the write and the ack: the proxy drops what the client
      // writes from now on, autoAck's ack and the app's alike.
      proxy.cut();
      if (c.appAck) m.acknowledge();
    });
    await client.connect();
    await until(() => welcomes === 2 && client.state === 'open', 'the second connection');
    // The edge writes stored messages before live ones: once the live one is
    // here, the duplicate of m1 was handled.
    const marker = await livePush(account, 'tv1', 'marker');
    await until(() => got.includes(marker), 'the live push on the second connection');
    assert.deepEqual(got, [m1, marker], 'the duplicate of m1 is dropped');
    assert.deepEqual(WS.acks[1], c.ackedAgain ? [m1] : [], 'acks written on the second connection');
    if (!c.ackedAgain) {
      assert.equal(client.ack(m1), true);
      assert.deepEqual(WS.acks[1], [m1], "the app's ack goes out on the second connection");
    }
    client.close();
    await waitOffline(account, 'tv1');

    // A third connection: the stored m1 is gone, only a live push arrives.
    const third = new HeraldClient({ url: herald.ws, token });
    t.after(() => third.close());
    const got3 = [];
    third.on('message', (m) => got3.push(m.id));
    await third.connect();
    const marker3 = await livePush(account, 'tv1', 'marker3');
    await until(() => got3.includes(marker3), 'the live push on the third connection');
    assert.deepEqual(got3, [marker3], 'nothing stored is left');
  });
}
