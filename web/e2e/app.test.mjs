// The web app in a real browser: Debian's Chromium driven by playwright-core, against the
// `marauder serve` binary this build made (MARAUDER_BIN). Two players in two browser
// contexts with geolocation granted. Each step saves a screenshot under target/e2e/.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = join(ROOT, 'target/e2e');
const BIN = process.env.MARAUDER_BIN ?? join(ROOT, 'target/debug/marauder');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** A bound against hangs, not a timing assertion. */
const PATIENCE = 15_000;

mkdirSync(SHOTS, { recursive: true });

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** `marauder serve` on `port` with its data in `dir`; resolves once it listens. */
function serve(port, dir) {
  const child = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--tiles', 'none',
    '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] });
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

function stop(child) {
  return new Promise((done) => {
    child.once('exit', (code) => done(code));
    child.kill('SIGTERM');
  });
}

let browser;
let server;
let port;
let dataDir;
let base;

before(async () => {
  port = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'marauder-e2e-'));
  server = await serve(port, dataDir);
  base = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

async function player(name, latitude, longitude) {
  const context = await browser.newContext({
    permissions: ['geolocation'],
    geolocation: { latitude, longitude, accuracy: 5 },
    viewport: { width: 1024, height: 720 },
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err));
  await page.goto(base + '/');
  await page.getByTestId('signin-name').fill(name);
  await page.getByTestId('signin-submit').click();
  const id = await page.waitForFunction(() => JSON.parse(localStorage.getItem('marauder.session') ?? 'null')?.id,
    null, { timeout: PATIENCE }).then((h) => h.jsonValue());
  return { context, page, id, name };
}

/** Waits until `page` shows `who`'s marker at (lat, lon). */
async function markerAt(page, who, lat, lon) {
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

async function markerPosition(page, who) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="marker"][data-player="${id}"]`);
    return el ? [Number(el.dataset.lat), Number(el.dataset.lon)] : null;
  }, who.id);
}

async function connected(page) {
  await page.getByTestId('conn-state').filter({ hasText: /^connected$/ }).waitFor({ timeout: PATIENCE });
}

test('two players share a private map live, pause, and survive a server restart', async () => {
  const alice = await player('Alice', 55.9486, -3.1999);
  const bob = await player('Bob', 55.9500, -3.1900);

  // Alice creates a private map; Bob joins it through the invite link, in one click.
  await alice.page.getByTestId('create-map-name').fill('Hideout');
  await alice.page.getByTestId('create-map-visibility').selectOption('private');
  await alice.page.getByTestId('create-map-submit').click();
  const invite = (await alice.page.getByTestId('invite-link').first().textContent()).trim();
  assert.match(invite, /#\/join\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+$/);
  await alice.page.getByTestId('open-created-map').click();
  await connected(alice.page);
  await alice.page.screenshot({ path: join(SHOTS, '1-alice-created-map.png') });

  await bob.page.goto(invite);
  await bob.page.getByTestId('join-confirm').click();
  await connected(bob.page);
  await markerAt(bob.page, bob, 55.9500, -3.1900);
  await markerAt(alice.page, bob, 55.9500, -3.1900);
  await bob.page.screenshot({ path: join(SHOTS, '2-bob-joined.png') });

  // Alice moves: Bob's page shows her marker at the new place.
  await alice.context.setGeolocation({ latitude: 55.9490, longitude: -3.1950, accuracy: 5 });
  const moved = Date.now();
  await markerAt(bob.page, alice, 55.9490, -3.1950);
  console.log(`Alice's move reached Bob's page in ${Date.now() - moved} ms`);
  await bob.page.screenshot({ path: join(SHOTS, '3-bob-sees-alice-move.png') });

  // Bob pauses sharing: his next position never reaches Alice.
  const before = await markerPosition(alice.page, bob);
  await bob.page.getByTestId('pause-sharing').click();
  assert.equal(await bob.page.getByTestId('pause-sharing').getAttribute('aria-checked'), 'true');
  await bob.context.setGeolocation({ latitude: 55.9600, longitude: -3.1800, accuracy: 5 });
  // A later move of Alice's, seen on both pages, passes through the same server after
  // anything Bob's page would have sent.
  await alice.context.setGeolocation({ latitude: 55.9495, longitude: -3.1940, accuracy: 5 });
  await markerAt(bob.page, alice, 55.9495, -3.1940);
  await markerAt(alice.page, alice, 55.9495, -3.1940);
  assert.deepEqual(await markerPosition(alice.page, bob), before, "Bob's marker stayed where it was");
  await alice.page.screenshot({ path: join(SHOTS, '4-alice-bob-paused.png') });

  // The server restarts mid-session: both pages reconnect by themselves and go on.
  assert.equal(await stop(server), 0);
  await alice.page.getByTestId('conn-state').filter({ hasText: /^(reconnecting|offline)$/ })
    .waitFor({ timeout: PATIENCE });
  await alice.page.screenshot({ path: join(SHOTS, '5-alice-reconnecting.png') });
  server = await serve(port, dataDir);
  await connected(alice.page);
  await connected(bob.page);
  await alice.context.setGeolocation({ latitude: 55.9480, longitude: -3.1960, accuracy: 5 });
  await markerAt(bob.page, alice, 55.9480, -3.1960);
  await bob.page.screenshot({ path: join(SHOTS, '6-bob-after-restart.png') });

  await alice.context.close();
  await bob.context.close();
});
