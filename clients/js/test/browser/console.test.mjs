// End-to-end tests of the operator's console in headless Chromium: the page
// served on the admin listener, against a real `herald dev` and, when the
// environment names a Postgres and a Redis (scripts/test.sh exports them), a
// cluster of two `herald serve` edges and an API process. The devices are
// real: `herald listen` processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devAPIKey, heraldBin, repoRoot, startHerald } from '../helpers/herald.mjs';
import { skipReason, startBrowser, uniqueAccount, WAIT } from './browser.mjs';

const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-results');
const skip = skipReason();

/** The development admin key of `herald dev` (public, dev only). */
const devAdminKey = 'dev-admin-key-not-for-production';

/** screenshot writes the page to test-results/NAME and, with HERALD_DOCS_SCREENSHOTS=1, to docs/NAME. */
async function screenshot(page, name) {
  await mkdir(resultsDir, { recursive: true });
  const file = path.join(resultsDir, name);
  await page.screenshot({ path: file, fullPage: true });
  if (process.env.HERALD_DOCS_SCREENSHOTS === '1') await copyFile(file, path.join(repoRoot, 'docs', name));
}

/**
 * listen runs `herald listen` as a real device and collects the frames it
 * prints; frame(pred) resolves with the first that matches.
 */
async function listen(t, args) {
  const proc = spawn(await heraldBin(), ['listen', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  const frames = [];
  const waiters = new Set();
  let stderr = '';
  proc.stderr.on('data', (b) => (stderr += b));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    let f;
    try {
      f = JSON.parse(line);
    } catch {
      return;
    }
    frames.push(f);
    for (const w of waiters) if (w.pred(f)) w.resolve(f);
  });
  t.after(() => {
    process.removeListener('exit', killOnExit);
    proc.kill('SIGTERM');
  });
  return {
    frame(pred, what) {
      const found = frames.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (f) => { clearTimeout(w.timer); waiters.delete(w); resolve(f); } };
        w.timer = setTimeout(() => { waiters.delete(w); reject(new Error(`herald listen: no ${what} within ${WAIT} ms; stderr: ${stderr}`)); }, WAIT);
        waiters.add(w);
      });
    },
  };
}

/** login fills the console's key form. */
async function login(page, key) {
  await page.locator('#login').waitFor();
  await page.locator('#key').fill(key);
  await page.locator('#login-form button[type="submit"]').click();
}

/** fleetRow is the fleet's row of an edge with n connections. */
const fleetRow = (page, edge, n) => page.locator(`#fleet tr[data-edge="${edge}"][data-connections="${n}"]`);

/** lookUp finds account/device in the console's device panel. */
async function lookUp(page, account, device) {
  await page.locator('#device-account').fill(account);
  await page.locator('#device-id').fill(device);
  await page.locator('#device-form button[type="submit"]').click();
}

test('the console of herald dev: no access without the key, the fleet, a device, a message to acked, a test push', { skip, timeout: 180_000 }, async (t) => {
  const herald = await startHerald();
  t.after(() => herald.stop());
  assert.ok(herald.admin, 'herald dev has an admin listener');
  const browser = await startBrowser(t);
  const account = uniqueAccount('console');

  // No key, no data: the API refuses, and the page asks for the key.
  const bare = await fetch(herald.admin + '/admin/v1/fleet');
  assert.equal(bare.status, 401);
  assert.equal((await fetch(herald.base + '/console/')).status, 404, 'the public listener has no console');
  const page = await browser.open(herald.admin + '/console/');
  await login(page, 'not-the-admin-key-at-all');
  await page.locator('#login-error', { hasText: 'Refused' }).waitFor();
  assert.equal(await page.locator('#app').isVisible(), false);
  assert.equal(await page.locator('#fleet tbody tr').count(), 0);

  await login(page, devAdminKey);
  const edge = JSON.parse(herald.logs.find((l) => l.includes('"herald listening"'))).edge;
  await fleetRow(page, edge, 0).waitFor();

  // A real device, as a new user would run it.
  const dev = await listen(t, ['--url', herald.base, '--account', account, '--device', 'tv']);
  await dev.frame((f) => f.t === 'welcome', 'welcome');
  await fleetRow(page, edge, 1).waitFor();

  await lookUp(page, account, 'tv');
  const panel = page.locator(`#device [data-device="tv"][data-connected="true"][data-edge="${edge}"]`);
  await panel.waitFor();
  await panel.locator('dd', { hasText: 'WebSocket' }).waitFor();
  await panel.locator('dd', { hasText: 'yes, created' }).waitFor();

  // A test push from the device panel reaches the device.
  await panel.locator('button[data-action="test-push"]').click();
  const pushed = await page.locator('#device [data-push-id]').getAttribute('data-push-id');
  await page.locator('#device', { hasText: 'tv delivered' }).waitFor();
  const msg = await dev.frame((f) => f.t === 'msg' && f.id === pushed, `message ${pushed}`);
  assert.equal(msg.from.service, 'admin');
  await screenshot(page, 'console-device.png');

  // An asynchronous message, acked by herald listen, followed by its id.
  const res = await fetch(herald.base + '/v1/messages', {
    method: 'POST',
    headers: { Authorization: `Bearer ${devAPIKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ to: { account, device: 'tv' }, type: 'notification.v1', payload: { title: 'Later' }, ack: true }),
  });
  assert.equal(res.status, 202);
  const { id } = await res.json();
  await dev.frame((f) => f.t === 'msg' && f.id === id, `message ${id}`);
  await page.locator('#message-id').fill(id);
  for (let i = 0; ; i++) {
    await page.locator('#message-form button[type="submit"]').click();
    await page.locator(`#message [data-message="${id}"]`).waitFor();
    if ((await page.locator('#message tr[data-device="tv"][data-status="acked"]').count()) === 1) break;
    assert.ok(i < 50, 'the message was not acked in time');
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.locator('#message .message-status', { hasText: 'acked' }).waitFor();
  await screenshot(page, 'console-message.png');

  // Forgetting the key returns to the form; the data calls stop.
  await page.locator('#logout').click();
  await page.locator('#login').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('herald.adminKey')), null);
});

const pg = process.env.HERALD_TEST_POSTGRES_URL;
const redis = process.env.HERALD_TEST_REDIS_ADDR;
const clusterSkip = skip || (!pg || !redis ? 'HERALD_TEST_POSTGRES_URL and HERALD_TEST_REDIS_ADDR are not set (scripts/test.sh sets them)' : false);

test('the console of a two-edge cluster: both edges and their connections, a device on the right edge, a test push', { skip: clusterSkip, timeout: 180_000 }, async (t) => {
  const secret = 'console-test-token-secret-32-bytes-long';
  const adminKey = 'console-test-admin-key-0123';
  const prefix = `console-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}:`;
  const common = ['--postgres-url', pg, '--redis-addr', redis, '--redis-prefix', prefix, '--cluster-key', 'console-test-cluster-key-0123',
    '--edge-ttl', '2s', '--heartbeat-interval', '200ms'];
  const edges = [];
  for (const id of ['edge-1', 'edge-2']) {
    const e = await startHerald(['--roles=edge', '--edge-id', id, '--internal-addr', '127.0.0.1:0', '--token-secret', secret, ...common], { command: 'serve' });
    t.after(() => e.stop());
    edges.push(e);
  }
  const api = await startHerald(['--roles=api', '--api-keys', 'backend:console-test-api-key-0123', '--console', '--admin-key', adminKey, ...common], { command: 'serve' });
  t.after(() => api.stop());
  const browser = await startBrowser(t);
  const account = uniqueAccount('cluster');

  const devices = [];
  for (const [e, device] of [[edges[0], 'tv'], [edges[1], 'phone'], [edges[1], 'tablet']]) {
    const d = await listen(t, ['--url', e.base, '--token-secret', secret, '--account', account, '--device', device]);
    await d.frame((f) => f.t === 'welcome', `welcome of ${device}`);
    devices.push(d);
  }

  const page = await browser.open(api.admin + '/console/');
  await login(page, adminKey);
  await fleetRow(page, 'edge-1', 1).waitFor();
  await fleetRow(page, 'edge-2', 2).waitFor();
  await lookUp(page, account, 'phone');
  const panel = page.locator('#device [data-device="phone"][data-connected="true"][data-edge="edge-2"]');
  await panel.waitFor();
  await panel.locator('dd', { hasText: 'WebSocket' }).waitFor();
  await panel.locator('button[data-action="test-push"]').click();
  const pushed = await page.locator('#device [data-push-id]').getAttribute('data-push-id');
  await devices[1].frame((f) => f.t === 'msg' && f.id === pushed, `message ${pushed} on phone`);
  // Two refreshes give the connect and disconnect rates.
  await page.locator('#fleet tr[data-edge="edge-2"][data-connections="2"][data-rates="true"]').waitFor();
  await screenshot(page, 'console-fleet.png');
});
