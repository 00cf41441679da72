// A map's owner in charge, in a real browser: Minerva (laptop) owns a private map that
// Neville (phone) is on. She renames it, makes it public and private again, replaces its
// invite link, removes Neville and, once he is back, deletes the map; his page follows each
// step, says what happened in plain words and leaves the map when he is no longer on it.
// Neville sees none of the owner's controls. Screenshots under target/e2e/.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, signIn, openMap, dataDirectory } from './helpers.mjs';

const LAPTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let browser;
let server;
let base;

before(async () => {
  const port = await freePort();
  server = await serve(port, dataDirectory('admin'));
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

async function call(method, path, token, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function api(method, path, token, body) {
  const res = await call(method, path, token, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const toast = (page, text) => page.getByTestId('toast').filter({ hasText: text }).waitFor({ timeout: PATIENCE });
const onMapList = (page) => page.waitForFunction(() => location.hash === '#/' || location.hash === '', null, { timeout: PATIENCE });
const title = (page, text) => page.getByTestId('map-title').filter({ hasText: text }).waitFor({ state: 'attached', timeout: PATIENCE });

/** Answers the page's confirmation dialog with the button `testid`; returns its text. */
async function confirm(page, testid) {
  const dialog = page.getByTestId('dialog');
  await dialog.waitFor({ timeout: PATIENCE });
  const text = await dialog.textContent();
  await dialog.getByTestId(testid).click();
  await dialog.waitFor({ state: 'detached', timeout: PATIENCE });
  return text;
}

test('the owner renames, opens and closes, re-keys, removes from and deletes a map; the member follows', async () => {
  const owner = await signIn(browser, base, 'Minerva', { ...LAPTOP, permissions: ['geolocation'], geolocation: { latitude: 55.9486, longitude: -3.1999, accuracy: 5 } });
  const member = await signIn(browser, base, 'Neville', { ...PHONE, permissions: ['geolocation'], geolocation: { latitude: 55.9490, longitude: -3.1990, accuracy: 5 } });
  const map = await api('POST', '/maps', owner.token, { name: 'Room of Requirement', visibility: 'private' });
  await api('POST', `/maps/${map.id}/join`, member.token, { invite_code: map.invite_code });
  await openMap(owner.page, base, map.id);
  await openMap(member.page, base, map.id);
  await title(member.page, 'Room of Requirement');

  // Neville is not the owner: no settings, no "Remove" beside anyone.
  await member.page.locator('.panel-toggle').click();
  assert.equal(await member.page.getByTestId('map-settings').isVisible(), false);
  assert.equal(await member.page.getByTestId('member-remove').filter({ visible: true }).count(), 0);
  await member.page.locator('.panel-toggle').click();

  // Rename: Neville's page shows the new name.
  await owner.page.getByTestId('map-settings').click();
  await owner.page.getByTestId('admin-name').fill('Room of Hidden Things');
  await owner.page.getByTestId('admin-rename').click();
  await title(member.page, 'Room of Hidden Things');
  await title(owner.page, 'Room of Hidden Things');
  await owner.page.screenshot({ path: join(SHOTS, 'admin-1-owner-settings-laptop.png') });

  // Public, then private again: the badge follows on Neville's page.
  await owner.page.getByTestId('admin-public').check();
  await confirm(owner.page, 'confirm-visibility');
  await member.page.locator('[data-testid="map-visibility"][data-visibility="public"]').waitFor({ state: 'attached', timeout: PATIENCE });
  await owner.page.getByTestId('admin-private').check();
  await confirm(owner.page, 'confirm-visibility');
  await member.page.locator('[data-testid="map-visibility"][data-visibility="private"]').waitFor({ state: 'attached', timeout: PATIENCE });
  const before = (await api('GET', `/maps/${map.id}`, owner.token)).invite_code;
  assert.ok(before && before !== map.invite_code, 'made private again: a new code');

  // A new invite link: the page says the old one stops working, and it does.
  await owner.page.getByTestId('admin-new-invite').click();
  const asked = await confirm(owner.page, 'confirm-invite');
  assert.match(asked, /stops working/);
  await toast(owner.page, 'the old one no longer works');
  const after = (await api('GET', `/maps/${map.id}`, owner.token)).invite_code;
  assert.notEqual(after, before);
  const luna = await api('POST', '/players', null, { name: 'Luna' });
  assert.equal((await call('POST', `/maps/${map.id}/join`, luna.token, { invite_code: before })).status, 403);
  await owner.page.screenshot({ path: join(SHOTS, 'admin-2-owner-new-invite-laptop.png') });

  // Remove Neville: his page is told who removed him from what, and leaves the map.
  const remove = owner.page.locator(`[data-testid="member"][data-player="${member.id}"] [data-testid="member-remove"]`);
  await remove.scrollIntoViewIfNeeded();
  await owner.page.locator('.panel').screenshot({ path: join(SHOTS, 'admin-2b-owner-members-laptop.png') });
  await remove.click();
  const removal = await confirm(owner.page, 'confirm-remove');
  assert.match(removal, /Remove Neville from Room of Hidden Things\?/);
  await toast(member.page, 'Minerva removed you from Room of Hidden Things.');
  await onMapList(member.page);
  await member.page.screenshot({ path: join(SHOTS, 'admin-3-member-removed-phone.png') });
  await owner.page.locator(`[data-testid="member"][data-player="${member.id}"]`).waitFor({ state: 'detached', timeout: PATIENCE });
  assert.equal(await owner.page.locator('[data-testid="member"]').count(), 1);

  // Neville comes back with the new link; Minerva deletes the map, confirming its name.
  await api('POST', `/maps/${map.id}/join`, member.token, { invite_code: after });
  await openMap(member.page, base, map.id);
  await title(member.page, 'Room of Hidden Things');
  await owner.page.locator(`[data-testid="member"][data-player="${member.id}"]`).waitFor({ timeout: PATIENCE });

  // Neville renames himself (from another device): Minerva's page shows the new name on
  // the list and on his marker.
  await api('PATCH', '/players/me', member.token, { name: 'Neville Longbottom' });
  await owner.page.locator(`[data-testid="member"][data-player="${member.id}"] .member-name`).filter({ hasText: /^Neville Longbottom$/ }).waitFor({ timeout: PATIENCE });
  await owner.page.locator(`[data-testid="marker"][data-player="${member.id}"][title="Neville Longbottom"]`).waitFor({ state: 'attached', timeout: PATIENCE });

  await owner.page.getByTestId('admin-delete').click();
  const deletion = await confirm(owner.page, 'confirm-delete');
  assert.match(deletion, /Delete Room of Hidden Things\?/);
  await toast(owner.page, 'You deleted Room of Hidden Things.');
  await onMapList(owner.page);
  await toast(member.page, 'Minerva deleted Room of Hidden Things');
  await onMapList(member.page);
  await member.page.screenshot({ path: join(SHOTS, 'admin-4-member-map-deleted-phone.png') });
  assert.equal((await call('GET', `/maps/${map.id}`, owner.token)).status, 404);

  await owner.context.close();
  await member.context.close();
});

test('when the owner leaves, the member who joined first gets the settings', async () => {
  const heir = await signIn(browser, base, 'Ginny', { ...LAPTOP });
  const owner = await api('POST', '/players', null, { name: 'Molly' });
  const map = await api('POST', '/maps', owner.token, { name: 'The Burrow' });
  await api('POST', `/maps/${map.id}/join`, heir.token);
  await openMap(heir.page, base, map.id);
  await title(heir.page, 'The Burrow');
  assert.equal(await heir.page.getByTestId('map-settings').isVisible(), false);

  await api('POST', `/maps/${map.id}/leave`, owner.token);
  await heir.page.getByTestId('map-settings').waitFor({ timeout: PATIENCE });
  await toast(heir.page, 'You are now the owner of The Burrow');
  assert.equal(await heir.page.locator('[data-testid="member"]').count(), 1);
  await heir.context.close();
});
