// Places in a real browser (issue #13): Alice, on a laptop, draws a place through the page
// (a click for the centre, the slider for the radius, a name); Bob, made through the API,
// reports his position through the API from outside the place, then inside, then outside
// again. Alice's happenings list shows each crossing in words, newest first, with a toast,
// and a browser notification while her tab is hidden, only after she turned that on. Bob's
// phone page draws a place too, and sees no "Remove" beside Alice's. The list outlives a
// server restart (a resume with `since`) without losing or repeating an entry. Screenshots
// on a laptop and a phone under target/e2e/places-*.png.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, signIn, openMap, connected, restCall, dataDirectory } from './helpers.mjs';

const HOME = { lat: 55.9486, lon: -3.1999 };
const LAPTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const METRES_PER_DEGREE = 111_320;

let browser;
let server;
let port;
let dataDir;
let base;

before(async () => {
  port = await freePort();
  dataDir = dataDirectory('places');
  server = await serve(port, dataDir);
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

const api = (method, path, token, body) => restCall(base, method, path, token, body);

/** The texts of the page's happenings, newest first. */
const happenings = (page) => page.locator('[data-testid="happening"] .happening-text').allTextContents();

/** Waits until the page's happenings are exactly `texts` (newest first). */
async function happeningsAre(page, texts) {
  try {
    await page.waitForFunction(
      (want) => JSON.stringify([...document.querySelectorAll('[data-testid="happening"] .happening-text')].map((e) => e.textContent)) === JSON.stringify(want),
      texts,
      { timeout: PATIENCE },
    );
  } catch (err) {
    throw new Error(`happenings are ${JSON.stringify(await happenings(page))}, not ${JSON.stringify(texts)}`, { cause: err });
  }
}

/** Bob's page: a phone signed in with his API token, not sharing its own position (his
 *  positions are the API's). */
async function phoneOf(player, mapId) {
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${player.name}] page error:`, err));
  await page.goto(base + '/');
  await page.evaluate(({ id, name, token }) => {
    localStorage.setItem('marauder.session', JSON.stringify({ id, name, token }));
    localStorage.setItem('marauder.sharingPaused', 'true');
  }, player);
  await openMap(page, base, mapId);
  await connected(page);
  return { context, page };
}

/** A stand-in for the Notification API that records what the page asks and shows. */
function fakeNotifications() {
  window.__notes = { asked: 0, shown: [] };
  window.Notification = class {
    static permission = 'default';
    static async requestPermission() {
      window.__notes.asked += 1;
      window.Notification.permission = 'granted';
      return 'granted';
    }
    constructor(title, options) {
      window.__notes.shown.push({ title, body: options?.body });
    }
    close() {}
  };
}

const north = (p, metres) => ({ lat: p.lat + metres / METRES_PER_DEGREE, lon: p.lon });

test('a place drawn on the map tells its members who arrives and who leaves', async () => {
  const alice = await signIn(browser, base, 'Alice', {
    ...LAPTOP,
    permissions: ['geolocation'],
    geolocation: { latitude: HOME.lat, longitude: HOME.lon, accuracy: 5 },
  });
  const { page } = alice;
  await page.getByTestId('create-map-name').fill('Hogwarts grounds');
  await page.getByTestId('create-map-submit').click();
  await page.getByTestId('open-created-map').click();
  await connected(page);
  const mapId = page.url().split('#/map/')[1];
  assert.match(mapId, /^[A-Za-z0-9_-]+$/);

  const bob = { name: 'Bob', ...(await api('POST', '/players', null, { name: 'Bob' })) };
  await api('POST', `/maps/${mapId}/join`, bob.token);
  const phone = await phoneOf(bob, mapId);

  // Notifications: nothing is asked before the switch is turned on.
  await page.evaluate(fakeNotifications);
  await page.getByTestId('happenings').waitFor({ state: 'attached', timeout: PATIENCE });
  assert.equal(await page.evaluate(() => window.__notes.asked), 0);
  await page.getByTestId('notify-switch').click();
  await page.getByTestId('notify-switch').and(page.locator('[aria-checked="true"]')).waitFor({ timeout: PATIENCE });
  assert.equal(await page.evaluate(() => window.__notes.asked), 1);

  // Alice draws Hogsmeade: the centre by a click, the radius by the slider, a name.
  await page.getByTestId('add-place').click();
  await page.getByTestId('add-place-card').waitFor({ timeout: PATIENCE });
  assert.equal(await page.getByTestId('place-radius-value').textContent(), '100 m');
  const box = await page.locator('.live-map').boundingBox();
  await page.locator('.live-map').click({ position: { x: box.width * 0.3, y: box.height * 0.3 } });
  await page.getByTestId('place-draft').waitFor({ state: 'attached', timeout: PATIENCE });
  await page.getByTestId('place-radius').fill('400');
  assert.equal(await page.getByTestId('place-radius-value').textContent(), '300 m');
  await page.getByTestId('place-name').fill('Hogsmeade');
  await page.screenshot({ path: join(SHOTS, 'places-1-laptop-drawing.png') });
  await page.getByTestId('place-save').click();
  await page.getByTestId('add-place-card').waitFor({ state: 'hidden', timeout: PATIENCE });
  const { places } = await api('GET', `/maps/${mapId}/places`, alice.token);
  assert.equal(places.length, 1);
  const hogsmeade = places[0];
  assert.equal(hogsmeade.name, 'Hogsmeade');
  assert.equal(hogsmeade.radius, 300);
  assert.equal(hogsmeade.created_by, alice.id);
  for (const p of [page, phone.page]) {
    await p.locator(`[data-testid="place-label"][data-place="${hogsmeade.id}"] .mm-place-name`).filter({ hasText: 'Hogsmeade' }).waitFor({ timeout: PATIENCE });
  }
  assert.equal(await page.locator(`path.mm-place[data-place="${hogsmeade.id}"]`).count(), 1);
  // Its entry in the list shows it, with a popup that offers Alice the removal of her place.
  await page.locator(`[data-testid="place"][data-place="${hogsmeade.id}"] .place-btn`).click();
  const popup = page.locator(`[data-testid="place-popup"][data-place="${hogsmeade.id}"]`);
  await popup.waitFor({ timeout: PATIENCE });
  assert.equal(await popup.getByTestId('place-popup-remove').count(), 1);
  await page.locator('.mm-popup .leaflet-popup-close-button').click();
  await popup.waitFor({ state: 'detached', timeout: PATIENCE });

  // Bob comes from 900 m north into Hogsmeade: one arrival, in words, with a toast.
  const outside = north(hogsmeade, 3 * hogsmeade.radius);
  await api('POST', '/locations', bob.token, { ...outside, accuracy: 5 });
  await api('POST', '/locations', bob.token, { lat: hogsmeade.lat, lon: hogsmeade.lon, accuracy: 5 });
  await happeningsAre(page, ['Bob arrived at Hogsmeade']);
  await page.getByTestId('toast').filter({ hasText: 'Bob arrived at Hogsmeade' }).waitFor({ timeout: PATIENCE });
  await happeningsAre(phone.page, ['You arrived at Hogsmeade']);
  await page.screenshot({ path: join(SHOTS, 'places-2-laptop-arrival.png') });

  // Alice's tab is hidden when Bob leaves: the departure goes on top, and a notification.
  await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }));
  await api('POST', '/locations', bob.token, { ...outside, accuracy: 5 });
  await happeningsAre(page, ['Bob left Hogsmeade', 'Bob arrived at Hogsmeade']);
  assert.deepEqual(await page.evaluate(() => window.__notes.shown.map((n) => n.title)), ['Bob left Hogsmeade']);
  await page.evaluate(() => delete document.visibilityState);
  assert.equal(await page.locator('[data-testid="happening"]').first().getAttribute('data-kind'), 'departed');
  await page.evaluate(() => document.getElementById('toasts').replaceChildren()); // a clear picture
  await page.screenshot({ path: join(SHOTS, 'places-3-laptop-happenings.png') });

  // Bob's phone: the sheet shows the happenings and the places; Alice's place has no
  // "Remove" for him.
  await phone.page.locator('.panel-toggle').click();
  await happeningsAre(phone.page, ['You left Hogsmeade', 'You arrived at Hogsmeade']);
  await phone.page.getByTestId('happenings').scrollIntoViewIfNeeded();
  await phone.page.screenshot({ path: join(SHOTS, 'places-4-phone-happenings.png') });
  const bobsHogsmeade = phone.page.locator(`[data-testid="place"][data-place="${hogsmeade.id}"]`);
  await bobsHogsmeade.waitFor({ timeout: PATIENCE });
  assert.equal(await bobsHogsmeade.getByTestId('place-remove').count(), 0);
  // Tapping it closes the sheet and shows the place, its popup without "Remove".
  await bobsHogsmeade.locator('.place-btn').click();
  const bobsPopup = phone.page.locator(`[data-testid="place-popup"][data-place="${hogsmeade.id}"]`);
  await bobsPopup.waitFor({ timeout: PATIENCE });
  assert.equal(await bobsPopup.getByTestId('place-popup-remove').count(), 0);
  assert.equal(await phone.page.locator('.panel-toggle').getAttribute('aria-expanded'), 'false');
  await phone.page.waitForFunction(() => !document.querySelector('.live-map').dataset.labelsPending && getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1', null, { timeout: PATIENCE });
  await phone.page.screenshot({ path: join(SHOTS, 'places-5-phone-place.png') });

  // Bob draws a place on his phone: the card fits the screen.
  await phone.page.locator('.panel-toggle').click();
  await phone.page.getByTestId('add-place').click();
  const card = phone.page.getByTestId('add-place-card');
  await card.waitFor({ timeout: PATIENCE });
  const cardBox = await card.boundingBox();
  assert.ok(cardBox.x >= 0 && cardBox.y >= 0 && cardBox.x + cardBox.width <= 390 && cardBox.y + cardBox.height <= 844, JSON.stringify(cardBox));
  const phoneMap = await phone.page.locator('.live-map').boundingBox();
  assert.ok(cardBox.y - phoneMap.y > 200, `the map above the card is ${cardBox.y - phoneMap.y} px high`);
  // The popup went with the card's coming, fading out: it would take the tap meanwhile.
  await phone.page.locator('.leaflet-popup').waitFor({ state: 'detached', timeout: PATIENCE });
  await phone.page.locator('.live-map').tap({ position: { x: phoneMap.width * 0.72, y: (cardBox.y - phoneMap.y) * 0.3 } });
  await phone.page.getByTestId('place-draft').waitFor({ state: 'attached', timeout: PATIENCE });
  await phone.page.getByTestId('place-name').fill('Three Broomsticks');
  await phone.page.getByTestId('place-radius').fill('200');
  await phone.page.screenshot({ path: join(SHOTS, 'places-6-phone-drawing.png') });
  await phone.page.getByTestId('place-save').click();
  await card.waitFor({ state: 'hidden', timeout: PATIENCE });
  const broomsticks = (await api('GET', `/maps/${mapId}/places`, bob.token)).places.find((p) => p.name === 'Three Broomsticks');
  assert.equal(broomsticks.created_by, bob.id);
  // In the closed sheet: there, but not shown.
  await phone.page.locator(`[data-testid="place"][data-place="${broomsticks.id}"] [data-testid="place-remove"]`).waitFor({ state: 'attached', timeout: PATIENCE });

  // The server restarts: both pages resume, and Alice's list is neither cleared nor doubled.
  assert.equal(await stop(server), 0);
  await page.getByTestId('conn-state').filter({ hasText: /^(reconnecting|offline)$/ }).waitFor({ timeout: PATIENCE });
  server = await serve(port, dataDir);
  await connected(page);
  await connected(phone.page);
  await api('POST', '/locations', bob.token, { ...outside, accuracy: 5 });
  await api('POST', '/locations', bob.token, { lat: hogsmeade.lat, lon: hogsmeade.lon, accuracy: 5 });
  await happeningsAre(page, ['Bob arrived at Hogsmeade', 'Bob left Hogsmeade', 'Bob arrived at Hogsmeade']);

  // A reload keeps the list too (the tab's session storage).
  await openMap(page, base, mapId);
  await connected(page);
  await happeningsAre(page, ['Bob arrived at Hogsmeade', 'Bob left Hogsmeade', 'Bob arrived at Hogsmeade']);

  // Alice owns the map: she removes Bob's place, and it goes from Bob's phone too.
  const aliceBroomsticks = page.locator(`[data-testid="place"][data-place="${broomsticks.id}"]`);
  await aliceBroomsticks.getByTestId('place-remove').click();
  await page.getByTestId('place-remove-confirm').click();
  await aliceBroomsticks.waitFor({ state: 'detached', timeout: PATIENCE });
  await phone.page.locator(`[data-testid="place-label"][data-place="${broomsticks.id}"]`).waitFor({ state: 'detached', timeout: PATIENCE });
  assert.deepEqual((await api('GET', `/maps/${mapId}/places`, bob.token)).places.map((p) => p.name), ['Hogsmeade']);
  await page.screenshot({ path: join(SHOTS, 'places-7-laptop-after-restart.png') });

  // A full map: the server's refusal is said in words, and the card stays for another try.
  for (let i = 2; i <= 100; i++) {
    await api('POST', `/maps/${mapId}/places`, bob.token, { name: `Shop ${i}`, ...north(hogsmeade, 2000 + 30 * i), radius: 10 });
  }
  await page.locator('[data-testid="place"]').nth(99).waitFor({ state: 'attached', timeout: PATIENCE });
  await page.getByTestId('add-place').click();
  await page.locator('.live-map').click({ position: { x: box.width * 0.6, y: box.height * 0.3 } });
  await page.getByTestId('place-name').fill('Honeydukes');
  await page.getByTestId('place-save').click();
  await page.getByTestId('place-error').filter({ hasText: 'This map has 100 places already: remove one before drawing another.' }).waitFor({ timeout: PATIENCE });
  assert.equal(await page.getByTestId('add-place-card').isVisible(), true);
  assert.equal((await api('GET', `/maps/${mapId}/places`, alice.token)).places.length, 100);
  await page.getByTestId('place-cancel').click();
  await page.getByTestId('add-place-card').waitFor({ state: 'hidden', timeout: PATIENCE });
  assert.equal(await page.getByTestId('place-draft').count(), 0);

  await phone.context.close();
  await alice.context.close();
});
