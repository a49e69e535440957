// Helpers of the browser tests: Debian's Chromium driven by playwright-core
// against a real `herald dev` (see ../helpers/herald.mjs). Not a test itself.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startHerald } from '../helpers/herald.mjs';

/** The Chromium the tests drive: $CHROMIUM_BIN, or Debian's package. */
export const chromiumPath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/** A bound on every wait: a failure bound only, nothing asserts speed. */
export const WAIT = 30_000;

const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * skipReason says why the browser tests cannot run here, or false when they can.
 * Under CI=true a missing browser fails instead (scripts/jstest.sh installs it).
 */
export function skipReason() {
  if (!existsSync(chromiumPath)) {
    const why = `no Chromium at ${chromiumPath}: apt-get install chromium, or set CHROMIUM_BIN`;
    if (process.env.CI === 'true') throw new Error(why);
    return why;
  }
  return false;
}

/**
 * startBrowser starts a headless Chromium with a fresh profile, closed when the
 * test ends. The returned open(url) opens a page that fails the test on an
 * uncaught error and waits for body[data-ready="true"].
 */
export async function startBrowser(t) {
  const profile = await mkdtemp(path.join(tmpdir(), 'herald-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: chromiumArgs,
      viewport: { width: 1280, height: 900 },
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  context.setDefaultTimeout(WAIT);
  const pageErrors = [];
  const stop = async () => {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
    if (pageErrors.length) {
      throw new Error('uncaught errors in the page:\n' + pageErrors.join('\n'));
    }
  };
  t.after(stop);
  return {
    context,
    pageErrors,
    /** open loads url in a new tab. */
    async open(url, { viewport } = {}) {
      const page = await context.newPage();
      if (viewport) await page.setViewportSize(viewport);
      page.on('pageerror', (err) => pageErrors.push(`${url}: ${err.stack || err}`));
      await page.goto(url);
      await page.locator('body[data-ready="true"]').waitFor();
      return page;
    },
  };
}

/**
 * startDemo starts herald dev (with extra flags) and a headless Chromium with a
 * fresh profile. The returned open(url, opts) opens a page that fails the test on
 * an uncaught error; stop() closes everything.
 */
export async function startDemo(t, heraldArgs = []) {
  const herald = await startHerald(heraldArgs);
  let browser;
  try {
    browser = await startBrowser(t);
  } catch (err) {
    await herald.stop();
    throw err;
  }
  t.after(() => herald.stop()); // after the browser's own, registered first
  return {
    herald,
    context: browser.context,
    base: herald.base,
    /** open loads a demo URL (relative to herald's base) in a new tab. */
    open: (rel, opts) => browser.open(herald.base + rel, opts),
    pageErrors: browser.pageErrors,
    /** logs are herald's log lines, for a failure message. */
    logs: () => herald.logs.join('\n'),
  };
}

/** pane returns the locator of a device's pane. */
export function pane(page, device) {
  return page.locator(`.pane[data-device="${device}"]`);
}

/** waitOpen waits until the device's connection is open. */
export async function waitOpen(page, device) {
  await page.locator(`.pane[data-device="${device}"][data-state="open"]`).waitFor();
}

/** logLine returns the locator of log lines of a kind that contain text. */
export function logLine(page, kind, text) {
  return page.locator(`#log li[data-kind="${kind}"]`, text ? { hasText: text } : {});
}

/** uniqueAccount returns a fresh account id. */
export function uniqueAccount(prefix = 'e2e') {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** push sends a REST push with the dev API key and returns the JSON answer. */
export async function push(base, key, body) {
  const r = await fetch(base + '/v1/push', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new Error(`POST /v1/push: HTTP ${r.status}: ${JSON.stringify(data)}`);
  return data;
}
