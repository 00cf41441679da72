// The Phones page in a real browser, on a phone-sized screen: Alice adds a phone, reads the
// once-shown configuration (URLs, credentials, QR payloads), fake OwnTracks, OsmAnd and
// Traccar Client apps (Node's fetch) send positions with what the page showed and her marker
// moves there; she revokes the phone and the same requests are refused. Screenshots under
// target/e2e/.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, signIn, markerAt, dataDirectory } from './helpers.mjs';

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const ID = /^[0-9a-z]{26}$/;

let browser;
let server;
let base;

before(async () => {
  const port = await freePort();
  server = await serve(port, dataDirectory('phones'));
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

async function api(path, token) {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

/** What the OwnTracks app sends in HTTP mode. */
function owntracksPost(username, password, body) {
  return fetch(`${base}/api/v1/owntracks`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
}

const text = async (page, testid) => page.getByTestId(testid).textContent();

test('a phone added on the Phones page shares through OwnTracks, OsmAnd and Traccar Client until revoked', async () => {
  // No geolocation permission: the only position of Alice's is the phone's.
  const alice = await signIn(browser, base, 'Alice', PHONE);
  const { page } = alice;

  await page.getByTestId('create-map-name').fill('Royal Mile');
  await page.getByTestId('create-map-submit').click();
  const mapHref = await page.getByTestId('open-created-map').getAttribute('href', { timeout: PATIENCE });
  assert.match(mapHref, /^#\/map\/[A-Za-z0-9_-]+$/);

  // Without a position from the browser, placing oneself by a click is offered on the map
  // page, and only there.
  await page.waitForFunction(() => window.__marauder.state.sharing.mode === 'click', null, { timeout: PATIENCE });
  assert.equal(await page.getByTestId('share-status').textContent(), '');
  await page.getByTestId('open-created-map').click();
  // (The phone layout hides the status line itself: its words are what is checked.)
  await page.waitForFunction(() => document.querySelector('[data-testid="share-status"]').textContent === 'Tap the map to place yourself',
    null, { timeout: PATIENCE });
  await page.goto(`${base}/#/`);
  await page.getByTestId('nav-phones').waitFor({ timeout: PATIENCE });

  // The Phones page, from the maps screen.
  await page.getByTestId('nav-phones').click();
  await page.getByRole('heading', { level: 1, name: 'Your phones' }).waitFor({ timeout: PATIENCE });
  assert.equal(new URL(page.url()).hash, '#/phones');

  await page.getByTestId('device-name').fill('Alice phone');
  await page.getByTestId('device-create').click();
  const panel = page.getByTestId('device-secret-panel');
  await panel.waitFor({ state: 'visible', timeout: PATIENCE });
  // The phone is now the source of Alice's position: this browser stops sharing its own,
  // and says so inside the panel: nothing floats over the once-shown password.
  assert.equal(await page.getByTestId('pause-sharing').getAttribute('aria-checked'), 'true');
  assert.equal(await page.getByTestId('paused-note').isVisible(), true);
  assert.equal(await page.getByTestId('toast').count(), 0);
  await page.getByRole('button', { name: 'Copy Password' }).click();
  await page.getByRole('button', { name: /^(Password copied|Could not copy Password)/ }).waitFor({ timeout: PATIENCE });
  assert.equal(await page.getByTestId('toast').count(), 0, 'a copy says so on its button, not in a toast');

  // The server lists the phone (without its secret); its id is the OwnTracks username.
  const { devices } = await api('/api/v1/players/me/devices', alice.token);
  assert.equal(devices.length, 1);
  const [device] = devices;
  assert.equal(device.name, 'Alice phone');
  assert.match(device.id, ID);
  assert.equal(typeof device.created_at, 'number');
  assert.equal('secret' in device, false, 'the list never has the secret');

  const id = await text(page, 'owntracks-username');
  const secret = await text(page, 'owntracks-password');
  assert.equal(id, device.id);
  assert.match(secret, ID);
  assert.equal(await text(page, 'owntracks-url'), `${base}/api/v1/owntracks`);
  const traccarUrlShown = await text(page, 'traccar-url');
  assert.equal(traccarUrlShown, `${base}/api/v1/osmand`);
  const traccarIdShown = await text(page, 'traccar-id');
  assert.equal(traccarIdShown, `${id}.${secret}`);
  const osmandUrlShown = await text(page, 'osmand-url');
  assert.equal(osmandUrlShown,
    `${base}/api/v1/osmand?id=${id}.${secret}&lat={0}&lon={1}&timestamp={2}&accuracy={3}&altitude={4}&speed_mps={5}&bearing={6}`);

  // The QR codes: their exact payloads, and drawn as PNG images.
  const PREFIX = 'owntracks:///config?inline=';
  const otPayload = await page.getByTestId('owntracks-qr').getAttribute('data-payload');
  assert.ok(otPayload.startsWith(PREFIX), otPayload);
  const config = JSON.parse(Buffer.from(decodeURIComponent(otPayload.slice(PREFIX.length)), 'base64').toString('utf8'));
  assert.deepEqual(config, {
    _type: 'configuration',
    mode: 3,
    url: `${base}/api/v1/owntracks`,
    auth: true,
    username: id,
    password: secret,
    deviceId: 'alice-phone',
    tid: 'AL',
    cmd: true,
  });
  assert.equal(await page.getByTestId('traccar-qr').getAttribute('data-payload'), `${base}/api/v1/osmand?id=${id}.${secret}&accuracy=high`);
  for (const testid of ['owntracks-qr', 'traccar-qr']) {
    await page.waitForFunction((t) => {
      const img = document.querySelector(`[data-testid="${t}"]`);
      return img?.complete && img.naturalWidth > 0 && img.src.startsWith('data:image/png;base64,');
    }, testid, { timeout: PATIENCE });
    assert.match(await page.getByTestId(testid).getAttribute('alt'), /^QR code: /);
  }
  await panel.screenshot({ path: join(SHOTS, 'phones.png') });
  await page.screenshot({ path: join(SHOTS, 'phones-page.png'), fullPage: true });

  // The listed phone.
  const item = page.locator(`[data-testid="device"][data-device-id="${id}"]`);
  await item.waitFor({ timeout: PATIENCE });
  assert.equal(await page.getByTestId('device').count(), 1);

  // A fake OwnTracks app posts a position with the phone's credentials.
  const location = { _type: 'location', lat: 55.9486, lon: -3.1999, tst: Math.floor(Date.now() / 1000), acc: 10, tid: 'AL' };
  const res = await owntracksPost(id, secret, location);
  assert.equal(res.status, 200, await res.clone().text());
  assert.ok(Array.isArray(await res.json()), 'OwnTracks expects a JSON array');

  // Alice's marker is where the phone said, on her map.
  await page.getByTestId('nav-maps').click();
  await page.locator(`a[href="${mapHref}"]`).first().click();
  await markerAt(page, alice, 55.9486, -3.1999);
  await page.screenshot({ path: join(SHOTS, 'phones-marker.png') });

  // The OsmAnd web address, filled in the way OsmAnd does ({2}: milliseconds), moves her too.
  const filled = [55.949, -3.1985, Date.now(), 8, 70, 1.5, 90].reduce((url, v, i) => url.replace(`{${i}}`, String(v)), osmandUrlShown);
  assert.equal((await fetch(filled)).status, 200);
  await markerAt(page, alice, 55.949, -3.1985);

  // So does Traccar Client (version 9 posts JSON) with the server URL and identifier shown.
  const traccar = await fetch(traccarUrlShown, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      device_id: traccarIdShown,
      location: { timestamp: new Date().toISOString(), coords: { latitude: 55.9492, longitude: -3.198, accuracy: 5, speed: 1, heading: 10, altitude: 70 } },
    }),
  });
  assert.equal(traccar.status, 200, await traccar.text());
  await markerAt(page, alice, 55.9492, -3.198);

  // Back on the Phones page the secret is gone for good; the phone is listed.
  await page.goto(`${base}/#/phones`);
  await item.waitFor({ timeout: PATIENCE });
  assert.equal(await panel.isVisible(), false);
  assert.equal((await page.content()).includes(secret), false, 'the secret is shown only once');
  // It says when the phone was last heard from: the server's time of its first report.
  const seen = item.getByTestId('device-seen');
  const { devices: [listed] } = await api('/api/v1/players/me/devices', alice.token);
  assert.equal(typeof listed.last_seen, 'number');
  assert.equal(await seen.getAttribute('data-seen'), String(listed.last_seen));
  assert.match(await seen.textContent(), /^last heard from (just now|\d+ s ago|1 min ago)$/);

  // Revoke it (after the confirmation dialog).
  const dialog = new Promise((done) => page.once('dialog', async (d) => {
    const message = d.message();
    await d.accept();
    done(message);
  }));
  await item.getByTestId('device-revoke').click();
  assert.match(await dialog, /Alice phone/);
  await item.waitFor({ state: 'detached', timeout: PATIENCE });
  assert.equal(await page.getByTestId('device').count(), 0);
  assert.equal(await page.getByTestId('device-status').textContent(), '“Alice phone” is revoked.');

  // No phone is left and this browser is Hidden: the page offers to share from it again.
  const offer = page.getByTestId('share-again');
  await offer.waitFor({ timeout: PATIENCE });
  await page.screenshot({ path: join(SHOTS, 'phones-share-again.png') });
  await page.getByTestId('share-again-button').click();
  assert.equal(await page.getByTestId('pause-sharing').getAttribute('aria-checked'), 'false');
  assert.equal(await offer.isVisible(), false);
  assert.equal(await page.getByTestId('device-status').textContent(), 'This browser shares your position again.');
  assert.deepEqual((await api('/api/v1/players/me/devices', alice.token)).devices, []);

  const refused = await owntracksPost(id, secret, { ...location, tst: location.tst + 1 });
  assert.equal(refused.status, 401);
  assert.equal((await fetch(filled)).status, 401, 'OsmAnd is refused too');

  await alice.context.close();
});
