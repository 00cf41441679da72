// Shared by the end-to-end tests: the `marauder serve` binary this build made (MARAUDER_BIN)
// on a free port, Debian's Chromium driven by playwright-core, and waits on the page that
// are bounded against hangs (never fixed sleeps).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SHOTS = join(ROOT, 'target/e2e');
export const BIN = process.env.MARAUDER_BIN ?? join(ROOT, 'target/debug/marauder');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** A bound against hangs, not a timing assertion. */
export const PATIENCE = 15_000;

mkdirSync(SHOTS, { recursive: true });

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** A fresh data directory for a test file's servers, removed when the test process exits
 *  (after its `after` hooks have stopped them). */
export function dataDirectory(name) {
  const dir = mkdtempSync(join(tmpdir(), `marauder-e2e-${name}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `marauder serve` on `port` with its data in `dir` (and `extra` flags); resolves once it
 *  listens. */
export function serve(port, dir, extra = []) {
  const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--tiles', 'none',
    '--log-format', 'json', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((done, fail) => {
    let buffered = '';
    const onData = (chunk) => {
      buffered += chunk;
      if (buffered.includes('"serving"')) {
        child.stdout.off('data', onData);
        child.stdout.resume(); // Keep draining so the server never blocks on its log.
        done(child);
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.once('exit', (code) => fail(new Error(`marauder serve exited with ${code}`)));
  });
}

export function stop(child) {
  return new Promise((done) => {
    child.once('exit', (code) => done(code));
    child.kill('SIGTERM');
  });
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A new browser context on `base`, signed in as `name` through the sign-in form.
 *  `contextOptions` go to browser.newContext (geolocation, viewport, …). */
export async function signIn(browser, base, name, contextOptions = {}) {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 }, ...contextOptions });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err));
  await page.goto(base + '/');
  await page.getByTestId('signin-name').fill(name);
  await page.getByTestId('signin-submit').click();
  const session = await page.waitForFunction(() => {
    const s = JSON.parse(localStorage.getItem('marauder.session') ?? 'null');
    return s?.id && s?.token ? s : null;
  }, null, { timeout: PATIENCE }).then((h) => h.jsonValue());
  return { context, page, id: session.id, token: session.token, name };
}

/** Waits until `page` shows `who`'s marker at (lat, lon). */
export async function markerAt(page, who, lat, lon) {
  try {
    await page.waitForFunction(([id, lat, lon]) => {
      const el = document.querySelector(`[data-testid="marker"][data-player="${id}"]`);
      return el && Math.abs(Number(el.dataset.lat) - lat) < 1e-7 && Math.abs(Number(el.dataset.lon) - lon) < 1e-7;
    }, [who.id, lat, lon], { timeout: PATIENCE });
  } catch (err) {
    const markers = await page.evaluate(() => [...document.querySelectorAll('[data-testid="marker"]')]
      .map((el) => `${el.dataset.player}@${el.dataset.lat},${el.dataset.lon}`));
    const debug = await page.evaluate(async (id) => {
      const token = JSON.parse(localStorage.getItem('marauder.session')).token;
      const me = await (await fetch('/api/v1/players/me', { headers: { authorization: `Bearer ${token}` } })).json();
      const map = me.maps[0]?.id;
      const locs = map && await (await fetch(`/api/v1/maps/${map}/locations`, { headers: { authorization: `Bearer ${token}` } })).text();
      const trail = map && await (await fetch(`/api/v1/maps/${map}/trails/${id}`, { headers: { authorization: `Bearer ${token}` } })).text();
      return { locs, trail, sharing: window.__marauder.state.sharing };
    }, who.id);
    throw new Error(`no marker of ${who.name} (${who.id}) at ${lat},${lon}; markers: ${markers.join(' ')} ${JSON.stringify(debug)}`, { cause: err });
  }
}

export async function markerPosition(page, who) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="marker"][data-player="${id}"]`);
    return el ? [Number(el.dataset.lat), Number(el.dataset.lon)] : null;
  }, who.id);
}

export async function connected(page) {
  await page.getByTestId('conn-state').filter({ hasText: /^connected$/ }).waitFor({ timeout: PATIENCE });
}

/** Opens a map the player joined behind the page's back (through the API) as a person
 *  would: the map list, read afresh, then the map's "Open" button. */
export async function openMap(page, base, mapId) {
  await page.goto(`${base}/#/`);
  await page.reload();
  const open = page.locator(`ul[aria-label="Your maps"] li[data-map="${mapId}"] a`);
  await open.waitFor({ timeout: PATIENCE });
  await open.click();
  await page.locator('.live-map').waitFor({ timeout: PATIENCE });
}

/** A REST call to the server at `base` that must succeed; answers the JSON body (null for
 *  204). */
export async function restCall(base, method, path, token, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.status === 204 ? null : res.json();
}
