// End-to-end tests of the demo web app in headless Chromium against a real
// `herald dev`: the pages use the SDK exactly as an app would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devAPIKey } from '../helpers/herald.mjs';
import { logLine, pane, push, skipReason, startDemo, uniqueAccount, waitOpen, WAIT } from './browser.mjs';

const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-results');
const skip = skipReason();

test('two pages are two devices: the remote plays the player, and sees the receipts', { skip, timeout: 180_000 }, async (t) => {
  const demo = await startDemo(t);
  const account = uniqueAccount();

  const player = await demo.open(`/demo/?account=${account}&device=tv&role=player`);
  await waitOpen(player, 'tv');
  assert.equal(await pane(player, 'tv').locator('.player-state').textContent(), 'stopped');

  const remote = await demo.open(`/demo/?account=${account}&device=phone&role=remote`);
  await waitOpen(remote, 'phone');
  // Both pages list both devices online: the device list, then presence.
  await remote.locator('#device-list li[data-device="tv"][data-online="true"]').waitFor();
  await player.locator('#device-list li[data-device="phone"][data-online="true"]').waitFor();

  const controls = pane(remote, 'phone');
  await controls.locator('button[data-action="play"]').click();
  await pane(player, 'tv').locator('.player-state:text-is("playing")').waitFor();
  assert.equal(await pane(player, 'tv').locator('.player-state').textContent(), 'playing');
  await logLine(player, 'msg', 'play from phone').waitFor();
  await logLine(player, 'ack').first().waitFor();
  // The remote gets the receipt of the delivery, then the one of the ack.
  await logLine(remote, 'receipt', 'tv delivered').waitFor();
  await logLine(remote, 'receipt', 'tv acked').waitFor();
  await controls.locator('.last', { hasText: 'tv acked' }).waitFor();

  // To one chosen device: pause, then the volume slider.
  await controls.locator('select.target').selectOption('tv');
  await controls.locator('button[data-action="pause"]').click();
  await pane(player, 'tv').locator('.player-state:text-is("paused")').waitFor();
  await controls.locator('input[data-action="volume"]').evaluate((el) => {
    el.value = '30';
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
  await player.locator('.pane[data-device="tv"][data-volume="30"]').waitFor();
  await logLine(remote, 'receipt', 'tv acked').nth(2).waitFor();

  // The same account in a third tab, with a player and a remote on one page:
  // the screenshot of the demo.
  const both = await demo.open(`/demo/?account=${account}`);
  const panes = both.locator('.pane');
  assert.equal(await panes.count(), 2, 'a fresh tab opens a player and a remote');
  const [playerID, remoteID] = await Promise.all([
    both.locator('.pane.player').getAttribute('data-device'),
    both.locator('.pane.remote').getAttribute('data-device'),
  ]);
  await waitOpen(both, playerID);
  await waitOpen(both, remoteID);
  for (const id of ['tv', 'phone', playerID, remoteID]) {
    await both.locator(`#device-list li[data-device="${id}"][data-online="true"]`).waitFor();
  }
  await pane(both, remoteID).locator('button[data-action="play"]').click();
  await pane(both, playerID).locator('.player-state:text-is("playing")').waitFor();
  await pane(player, 'tv').locator('.player-state:text-is("playing")').waitFor();
  await logLine(both, 'receipt', `${playerID} acked`).waitFor();
  await both.locator('#push-to').selectOption(playerID);
  await both.locator('#push-form button[type="submit"]').click();
  await logLine(both, 'push', `${playerID} delivered`).waitFor();
  await pane(both, playerID).locator('.toast', { hasText: 'Dinner is ready' }).waitFor();
  // A guest's TV, and a live score that reaches it and both panes.
  await both.locator('#add-guest').click();
  await both.locator('.pane.guest .score[data-status="subscribed"]').waitFor();
  await both.locator('.pane .score[data-status="subscribed"]').nth(2).waitFor();
  await both.locator('#score-form button[type="submit"]').click();
  await logLine(both, 'publish', 'score 1 – 0').waitFor();
  await both.locator('.pane .score[data-score="1 – 0"]').nth(2).waitFor();
  await mkdir(resultsDir, { recursive: true });
  await both.screenshot({ path: path.join(resultsDir, 'demo.png'), fullPage: true });
});

test('a REST push reaches a page', { skip, timeout: 120_000 }, async (t) => {
  const demo = await startDemo(t);
  const account = uniqueAccount();
  const page = await demo.open(`/demo/?account=${account}&device=tv&role=player`);
  await waitOpen(page, 'tv');

  const res = await push(demo.base, devAPIKey, {
    to: { account, device: 'tv' },
    type: 'notification.v1',
    payload: { title: 'From the test', body: 'through POST /v1/push' },
  });
  assert.deepEqual(res.results.map((r) => [r.device, r.status]), [['tv', 'delivered']]);
  await pane(page, 'tv').locator('.toast', { hasText: 'From the test' }).waitFor();
  await logLine(page, 'msg', 'notification "From the test" from service dev').waitFor();

  // The page's own server panel goes through herald dev's /demo/api/push.
  await page.locator('#push-title').fill('From the panel');
  await page.locator('#push-form button[type="submit"]').click();
  await logLine(page, 'push', 'tv delivered').waitFor();
  await pane(page, 'tv').locator('.toast', { hasText: 'From the panel' }).waitFor();

  // A bad push is shown as the problem the API answered, not swallowed.
  await page.locator('#push-title').evaluate((el) => { el.removeAttribute('required'); el.value = ''; });
  await page.locator('#push-form button[type="submit"]').click();
  await logLine(page, 'error', 'schema_invalid').waitFor();
});

test('a page reconnects when the edge sends reconnect, and still receives pushes', { skip, timeout: 120_000 }, async (t) => {
  // Short connection lifetimes make the edge send reconnect (lifetime) soon.
  const demo = await startDemo(t, ['--min-lifetime', '2s', '--max-lifetime', '3s']);
  const account = uniqueAccount();
  const page = await demo.open(`/demo/?account=${account}&device=tv&role=player`);
  await waitOpen(page, 'tv');
  await logLine(page, 'reconnect').first().waitFor();
  await page.locator('.pane[data-device="tv"]:not([data-welcomes="0"]):not([data-welcomes="1"])').waitFor();

  // Lifetimes keep ending, so a push may fall between two connections: retry
  // until one is delivered, then the page must show it.
  const deadline = Date.now() + WAIT;
  let delivered = false;
  for (let i = 0; !delivered; i++) {
    assert.ok(Date.now() < deadline, 'no push was delivered after the reconnects\n' + demo.logs());
    await waitOpen(page, 'tv');
    const res = await push(demo.base, devAPIKey, {
      to: { account, device: 'tv' }, type: 'notification.v1', payload: { title: `After reconnect ${i}` },
    });
    if (res.results[0]?.status === 'delivered') {
      delivered = true;
      await pane(page, 'tv').locator('.toast', { hasText: `After reconnect ${i}` }).waitFor();
    }
  }
  assert.equal(await logLine(page, 'error').count(), 0, 'the page logged errors: ' +
    (await page.locator('#log li[data-kind="error"]').allTextContents()).join('\n'));
});

test('the page fits a phone screen', { skip, timeout: 120_000 }, async (t) => {
  const demo = await startDemo(t);
  const page = await demo.open(`/demo/?account=${uniqueAccount()}&role=remote`, { viewport: { width: 390, height: 844 } });
  const remote = page.locator('.pane.remote');
  await remote.waitFor();
  await page.locator('.pane.remote[data-state="open"]').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 390 px screen`);
  const box = await remote.locator('button[data-action="play"]').boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the play button is off screen: ${JSON.stringify(box)}`);
});

test('a bad account in the URL is refused with a clear message', { skip, timeout: 120_000 }, async (t) => {
  const demo = await startDemo(t);
  const page = await demo.open('/demo/?account=' + encodeURIComponent('no spaces/allowed'));
  await page.locator('#fatal', { hasText: 'not a valid account id' }).waitFor();
  const account = await page.locator('#account').inputValue();
  assert.match(account, /^demo-[a-z0-9]+$/);
});

test('the same device in a second tab takes over, and the first says so', { skip, timeout: 120_000 }, async (t) => {
  const demo = await startDemo(t);
  const account = uniqueAccount();
  const first = await demo.open(`/demo/?account=${account}&device=tv&role=player`);
  await waitOpen(first, 'tv');
  const second = await demo.open(`/demo/?account=${account}&device=tv&role=player`);
  await waitOpen(second, 'tv');
  await first.locator('.pane[data-device="tv"][data-state="closed"]').waitFor();
  await logLine(first, 'error', 'newer connection').waitFor();
  // Only the newest connection receives.
  const res = await push(demo.base, devAPIKey, { to: { account, device: 'tv' }, type: 'notification.v1', payload: { title: 'To the newest' } });
  assert.equal(res.results[0]?.status, 'delivered');
  await pane(second, 'tv').locator('.toast', { hasText: 'To the newest' }).waitFor();
  assert.equal(await pane(first, 'tv').locator('.toast', { hasText: 'To the newest' }).count(), 0);
});

test('a notification sent to a closed tab is queued, and arrives when the tab reopens', { skip, timeout: 120_000 }, async (t) => {
  const demo = await startDemo(t);
  const account = uniqueAccount();
  // The URLs the pages connect with, to see the cursor a reopened tab sends.
  const sockets = [];
  demo.context.on('page', (page) => page.on('websocket', (ws) => sockets.push({ page, url: new URL(ws.url()) })));
  const playerURL = `/demo/?account=${account}&device=tv&role=player`;

  let player = await demo.open(playerURL);
  await waitOpen(player, 'tv');
  const remote = await demo.open(`/demo/?account=${account}&device=phone&role=remote`);
  await waitOpen(remote, 'phone');
  await remote.locator('#device-list li[data-device="tv"][data-online="true"]').waitFor();

  // The player's tab closes: its device goes offline, and the server panel's
  // notification to it is queued.
  await player.close();
  await remote.locator('#device-list li[data-device="tv"][data-online="false"]').waitFor();
  await remote.locator('#push-to').selectOption('tv');
  await remote.locator('#push-title').fill('While the tab was closed');
  await remote.locator('#push-form button[type="submit"]').click();
  await logLine(remote, 'push', 'tv queued').waitFor();

  // The tab reopens: the stored notification arrives, and the device keeps its
  // cursor in localStorage.
  player = await demo.open(playerURL);
  await pane(player, 'tv').locator('.toast', { hasText: 'While the tab was closed' }).waitFor();
  await logLine(player, 'msg', 'While the tab was closed').filter({ hasText: 'stored while offline' }).waitFor();
  const cursor = Number(await pane(player, 'tv').getAttribute('data-cursor'));
  assert.ok(cursor > 0, 'the stored message moved the cursor');
  assert.equal(await player.evaluate((k) => localStorage.getItem(k), `herald-demo-cursor:${account}:tv`), String(cursor));

  // Reopened once more, the tab resumes from that cursor (?after=), and a live
  // push comes first: the stored one is not written again.
  await player.close();
  await remote.locator('#device-list li[data-device="tv"][data-online="false"]').waitFor();
  player = await demo.open(playerURL);
  await waitOpen(player, 'tv');
  const connects = sockets.filter((s) => s.page === player && s.url.pathname === '/v1/connect');
  assert.ok(connects.length > 0, 'the reopened tab opened a WebSocket');
  assert.equal(connects.at(-1).url.searchParams.get('after'), String(cursor), 'the reopened tab connects with its cursor');
  const res = await push(demo.base, devAPIKey, { to: { account, device: 'tv' }, type: 'notification.v1', payload: { title: 'Live again' } });
  assert.equal(res.results[0]?.status, 'delivered');
  await pane(player, 'tv').locator('.toast', { hasText: 'Live again' }).waitFor();
  assert.equal(await logLine(player, 'msg', 'While the tab was closed').count(), 0, 'the stored notification came once');
});

test('a score published to a topic reaches the devices of two accounts at once', { skip, timeout: 180_000 }, async (t) => {
  const demo = await startDemo(t);
  const account = uniqueAccount();
  const other = uniqueAccount('e2e-b');
  const page = await demo.open(`/demo/?account=${account}&device=tv&role=player`);
  const away = await demo.open(`/demo/?account=${other}&device=tv&role=player`);
  const subscribed = '.score[data-topic="scores.live"][data-status="subscribed"]';
  // The page account's tv: the guest's TV below has the same device id.
  const home = page.locator('.pane:not(.guest)[data-device="tv"]');
  await home.locator(subscribed).waitFor();
  await pane(away, 'tv').locator(subscribed).waitFor();
  await logLine(away, 'subs', 'subscribed to topic scores.live').waitFor();

  // A guest's TV on the first page: a device of a second account, with its own token.
  await page.locator('#add-guest').click();
  const guest = page.locator(`.pane.guest[data-account="${account}-guest"][data-device="tv"]`);
  await guest.locator(subscribed).waitFor();
  assert.equal(await guest.locator('.acct').textContent(), `${account}-guest`);

  await page.locator('#score-home').fill('3');
  await page.locator('#score-away').fill('2');
  await page.locator('#score-form button[type="submit"]').click();
  const published = logLine(page, 'publish', 'score 3 – 2 to scores.live');
  await published.waitFor();
  assert.equal(await published.getAttribute('data-devices'), '3', 'the publish reached the three subscribed devices: ' + (await published.textContent()));
  assert.match(await published.textContent(), /3 devices on 1 edge/);
  const id = await published.getAttribute('data-id');
  assert.ok(id, 'the log names the message');

  // The same message, with its topic, on the devices of both accounts.
  for (const p of [home, guest, pane(away, 'tv')]) {
    const score = p.locator('.score[data-score="3 – 2"]');
    await score.waitFor();
    assert.equal(await score.getAttribute('data-id'), id);
  }
  await logLine(away, 'msg', 'on topic scores.live from service dev').waitFor();
  await logLine(page, 'msg', `tv@${account}-guest notification.v1`).waitFor();
  // A topic message is not a notification to the device: no toast.
  assert.equal(await pane(away, 'tv').locator('.toast:not([hidden])').count(), 0);
  // The guest's device stays out of the page account's device list.
  await page.locator('#device-list li[data-device="tv"][data-online="true"]').waitFor();
  assert.equal(await page.locator('#device-list li[data-device]').count(), 1);

  // The next score replaces the shown one everywhere.
  await page.locator('#score-home').fill('4');
  await page.locator('#score-form button[type="submit"]').click();
  await logLine(page, 'publish', 'score 4 – 2').waitFor();
  await pane(away, 'tv').locator('.score[data-score="4 – 2"]').waitFor();
  await guest.locator('.score[data-score="4 – 2"]').waitFor();
});
