// The web app in a real browser: Debian's Chromium driven by playwright-core, against the
// `marauder serve` binary this build made (MARAUDER_BIN). Two players in two browser
// contexts with geolocation granted. Each step saves a screenshot under target/e2e/.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, signIn, markerAt, markerPosition, connected, dataDirectory } from './helpers.mjs';

let browser;
let server;
let port;
let dataDir;
let base;

before(async () => {
  port = await freePort();
  dataDir = dataDirectory('app');
  server = await serve(port, dataDir);
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

test('the sign-in screen says nothing of a connection before there is one', async () => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
  const page = await context.newPage();
  await page.goto(base + '/');
  await page.getByTestId('signin-name').waitFor({ timeout: PATIENCE });
  assert.equal(await page.getByTestId('conn-state').isVisible(), false);
  assert.doesNotMatch(await page.locator('body').innerText(), /offline|connect/i);
  await page.screenshot({ path: join(SHOTS, '0-signin.png') });
  await context.close();
});

function player(name, latitude, longitude) {
  return signIn(browser, base, name, {
    permissions: ['geolocation'],
    geolocation: { latitude, longitude, accuracy: 5 },
    viewport: { width: 1024, height: 720 },
  });
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

  // A wrong code is refused in plain words, before anything is joined.
  await bob.page.goto(invite.replace(/\/[A-Za-z0-9_-]+$/, '/not-the-code'));
  await bob.page.getByTestId('join-error').waitFor({ timeout: PATIENCE });
  assert.equal(await bob.page.getByTestId('join-error').textContent(),
    'This invite link is wrong or out of date: ask a member of the map for a new one.');
  await bob.page.screenshot({ path: join(SHOTS, '2-bob-wrong-invite.png') });

  // The invite names the map and who owns it.
  await bob.page.goto(invite);
  await bob.page.getByTestId('join-title').filter({ hasText: 'Join Hideout?' }).waitFor({ timeout: PATIENCE });
  assert.equal(await bob.page.getByTestId('join-who').textContent(), 'Alice’s private map · 1 person is on it.');
  await bob.page.screenshot({ path: join(SHOTS, '2-bob-invite.png') });
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
