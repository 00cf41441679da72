// One person on two devices, in a real browser: Alice signs in on a laptop (1280x800), makes
// a sign-in link, and her phone (390x844, Chrome on Android) opens it and becomes the same
// player. Both share a position and an observer sees ONE marker of hers, at whichever came
// last. From the laptop she lists her two sessions, renames herself, and signs the phone out: the phone's page
// returns to sign-in, and the spent link says so in plain words. Signing out of her last
// session warns first. Screenshots under target/e2e/.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, signIn, markerAt, connected, dataDirectory } from './helpers.mjs';

const LAPTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
};
// Kilometres apart: no two markers are ever grouped into one cluster.
const AT_LAPTOP = { latitude: 55.9486, longitude: -3.1999 };
const AT_PHONE = { latitude: 55.9620, longitude: -3.1700 };
const AT_BOB = { latitude: 55.9400, longitude: -3.2200 };
const USED = 'This sign-in link has already been used or has expired: a link works once, for 10 minutes.';
const REVOKED = 'This browser was signed out from another device.';

let browser;
let server;
let base;

before(async () => {
  const port = await freePort();
  server = await serve(port, dataDirectory('sessions'));
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

const shot = (page, name, opts = {}) => page.screenshot({ path: join(SHOTS, `sessions-${name}.png`), ...opts });

async function storedSession(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('marauder.session') ?? 'null'));
}

/** The markers of `who` on `page` (a cluster would hide one: none is expected here). */
async function markersOf(page, who) {
  return page.locator(`[data-testid="marker"][data-player="${who.id}"]`).count();
}

async function openAccount(page) {
  await page.getByTestId('menu-button').click();
  await page.getByTestId('nav-account').click();
  await page.getByTestId('account-id').waitFor({ timeout: PATIENCE });
}

test('a laptop brings a phone in as the same player, sees one marker, and signs the phone out', async () => {
  const geo = (at) => ({ permissions: ['geolocation'], geolocation: { ...at, accuracy: 5 } });
  const alice = await signIn(browser, base, 'Alice', { ...LAPTOP, ...geo(AT_LAPTOP) });
  const laptop = alice.page;

  // A public map of hers.
  await laptop.getByTestId('create-map-name').fill('Meadows');
  await laptop.getByTestId('create-map-submit').click();
  const mapHref = await laptop.getByTestId('open-created-map').getAttribute('href', { timeout: PATIENCE });
  const mapId = decodeURIComponent(mapHref.replace('#/map/', ''));

  // "Add a device": a link and its QR code, good once for 10 minutes.
  await openAccount(laptop);
  assert.equal(await laptop.getByTestId('account-id').textContent(), alice.id);
  await laptop.getByTestId('link-create').click();
  const link = (await laptop.getByTestId('signin-link').textContent({ timeout: PATIENCE })).trim();
  assert.match(link, new RegExp(`^${base.replace(/\./g, '\\.')}/#/link/[A-Za-z0-9_-]{11,}$`));
  assert.match(await laptop.getByTestId('link-expiry').textContent(), /^Works once, for 10 minutes: until \d/);
  assert.equal(await laptop.getByTestId('signin-qr').getAttribute('data-payload'), link);
  await laptop.waitForFunction(() => {
    const img = document.querySelector('[data-testid="signin-qr"]');
    return img?.complete && img.naturalWidth > 0;
  }, null, { timeout: PATIENCE });
  await shot(laptop, '1-link-laptop');

  // The phone opens the link and is Alice: same id, same name, no sign-in form.
  const phoneContext = await browser.newContext({ ...PHONE, ...geo(AT_PHONE) });
  const phone = await phoneContext.newPage();
  phone.on('pageerror', (err) => console.error('[phone] page error:', err));
  await phone.goto(link);
  const mine = await phone.waitForFunction(() => {
    const s = JSON.parse(localStorage.getItem('marauder.session') ?? 'null');
    return s?.id ? s : null;
  }, null, { timeout: PATIENCE }).then((h) => h.jsonValue());
  assert.equal(mine.id, alice.id);
  assert.equal(mine.name, 'Alice');
  assert.notEqual(mine.token, alice.token, 'a session of its own');
  assert.equal(new URL(phone.url()).hash, '#/', 'the spent code leaves the address bar');
  await phone.getByTestId('menu-button').click();
  await shot(phone, '2-phone-signed-in-menu');
  await phone.getByTestId('nav-account').click();
  assert.equal(await phone.getByTestId('account-id').textContent({ timeout: PATIENCE }), alice.id);
  assert.equal(await phone.getByTestId('account-name').textContent(), 'Alice');
  await shot(phone, '3-phone-account', { fullPage: true });

  // The laptop's link box notices the new device (it polls the session list).
  await laptop.getByTestId('link-ended').filter({ hasText: /^Chrome on Android signed in with the link, as Alice\./ })
    .waitFor({ timeout: PATIENCE });

  // An observer opens the map's link: not a member yet, he is offered to join it by name.
  const bob = await signIn(browser, base, 'Bob', { ...LAPTOP, ...geo(AT_BOB) });
  await bob.page.goto(`${base}/${mapHref}`);
  await bob.page.getByTestId('join-title').filter({ hasText: 'Join Meadows?' }).waitFor({ timeout: PATIENCE });
  assert.equal(await bob.page.getByTestId('join-who').textContent(), 'Alice’s public map · 1 person is on it.');
  await shot(bob.page, '4-observer-join-offer');
  await bob.page.getByTestId('join-confirm').click();
  await connected(bob.page);
  assert.equal(new URL(bob.page.url()).hash, mapHref);

  // Both of Alice's devices share; the observer sees one marker of hers, at the latest.
  await phone.goto(`${base}/${mapHref}`);
  await connected(phone);
  await alice.context.setGeolocation({ latitude: 55.9500, longitude: -3.1900, accuracy: 5 });
  await markerAt(bob.page, alice, 55.9500, -3.1900);
  assert.equal(await markersOf(bob.page, alice), 1);
  await phoneContext.setGeolocation({ latitude: 55.9600, longitude: -3.1750, accuracy: 5 });
  await markerAt(bob.page, alice, 55.9600, -3.1750);
  assert.equal(await markersOf(bob.page, alice), 1);
  await markerAt(bob.page, bob, AT_BOB.latitude, AT_BOB.longitude);
  assert.equal(await bob.page.locator('[data-testid="marker"]').count(), 2, 'Alice and Bob, once each');
  const members = await bob.page.getByTestId('member').evaluateAll((els) => els.map((el) => el.dataset.player).sort());
  assert.deepEqual(members, [alice.id, bob.id].sort());
  await shot(bob.page, '5-observer-one-marker');

  // The laptop lists two sessions: itself ("This device") and the phone, by browser.
  await laptop.reload();
  await laptop.getByTestId('session').nth(1).waitFor({ timeout: PATIENCE });
  assert.equal(await laptop.getByTestId('session').count(), 2);
  const current = laptop.locator('[data-testid="session"][data-current="true"]');
  const other = laptop.locator('[data-testid="session"][data-current="false"]');
  assert.equal(await current.getByTestId('session-current').textContent(), 'This device');
  assert.equal(await current.getByTestId('session-label').textContent(), 'Chrome on Linux');
  assert.equal(await other.getByTestId('session-label').textContent(), 'Chrome on Android');
  await shot(laptop, '6-laptop-two-sessions', { fullPage: true });

  // She renames herself there: the server, her header and the observer's member list agree.
  await laptop.getByTestId('rename-input').fill('  Alice Moony ');
  await laptop.getByTestId('rename-submit').click();
  await laptop.getByTestId('rename-status').filter({ hasText: 'Done: everyone on your maps now sees you as Alice Moony.' })
    .waitFor({ timeout: PATIENCE });
  assert.equal(await laptop.getByTestId('account-name').textContent(), 'Alice Moony');
  assert.equal(await laptop.getByTestId('header-name').textContent(), 'Alice Moony');
  const meNow = await fetch(`${base}/api/v1/players/me`, { headers: { authorization: `Bearer ${alice.token}` } });
  assert.equal((await meNow.json()).name, 'Alice Moony');
  await bob.page.locator(`[data-testid="member"][data-player="${alice.id}"]`).filter({ hasText: 'Alice Moony' })
    .waitFor({ timeout: PATIENCE });

  // It signs the phone out (after a question): the phone's page is back at sign-in.
  await other.getByTestId('session-signout').click();
  await laptop.getByTestId('session-signout-dialog').waitFor({ timeout: PATIENCE });
  await shot(laptop, '7-laptop-signout-other');
  await laptop.getByTestId('session-signout-confirm').click();
  await laptop.getByTestId('session-status').filter({ hasText: 'Chrome on Android is signed out.' }).waitFor({ timeout: PATIENCE });
  assert.equal(await laptop.getByTestId('session').count(), 1);

  await phone.getByTestId('signin-name').waitFor({ timeout: PATIENCE });
  await phone.getByTestId('toast').filter({ hasText: REVOKED }).waitFor({ timeout: PATIENCE });
  assert.equal(await storedSession(phone), null);
  await shot(phone, '8-phone-signed-out');
  const refused = await fetch(`${base}/api/v1/players/me`, { headers: { authorization: `Bearer ${mine.token}` } });
  assert.equal(refused.status, 401);

  // The spent link, opened again, says so in plain words and offers a normal sign-in.
  await phone.goto(link);
  const error = phone.getByTestId('link-error');
  await error.waitFor({ timeout: PATIENCE });
  assert.equal(await error.textContent(), USED);
  assert.equal(await phone.getByTestId('link-signin-instead').isVisible(), true);
  assert.equal(await storedSession(phone), null);
  await shot(phone, '9-phone-used-link');
  await phone.getByTestId('link-signin-instead').click();
  await phone.getByTestId('signin-name').waitFor({ timeout: PATIENCE });

  // Signing out of the last session warns, and offers a sign-in link first.
  await laptop.getByTestId('menu-button').click();
  await laptop.getByTestId('sign-out').click();
  await laptop.getByTestId('signout-last-warning').waitFor({ timeout: PATIENCE });
  assert.match(await laptop.getByTestId('signout-last-warning').textContent(), /^No other device is signed in as Alice Moony\. After signing out nobody can be Alice Moony again/);
  await shot(laptop, '10-laptop-last-session-warning');
  await laptop.getByTestId('signout-make-link').click();
  await laptop.getByTestId('signin-link').waitFor({ timeout: PATIENCE });
  assert.notEqual((await laptop.getByTestId('signin-link').textContent()).trim(), link, 'a new link');
  assert.equal((await storedSession(laptop))?.id, alice.id, 'still signed in');

  // Then out for real: the token stops working.
  await laptop.getByTestId('menu-button').click();
  await laptop.getByTestId('sign-out').click();
  await laptop.getByTestId('signout-confirm').click();
  await laptop.getByTestId('signin-name').waitFor({ timeout: PATIENCE });
  assert.equal(await storedSession(laptop), null);
  const gone = await fetch(`${base}/api/v1/players/me`, { headers: { authorization: `Bearer ${alice.token}` } });
  assert.equal(gone.status, 401);

  await phoneContext.close();
  await alice.context.close();
  await bob.context.close();
});
