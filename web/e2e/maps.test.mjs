// The public map list in a real browser: more maps than one page holds, "Show more maps",
// and the search box, on a laptop and a phone viewport. Screenshots under target/e2e/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, signIn, restCall, dataDirectory } from './helpers.mjs';

/** Maps the server lists on one page when the app asks for no `limit`. */
const PAGE = 100;
const ROOMS = 104;

let browser;
let server;
let base;

const api = (method, path, token, body) => restCall(base, method, path, token, body);

before(async () => {
  const port = await freePort();
  // One address makes 105 maps here: the per-address limit on map creation is off.
  server = await serve(port, dataDirectory('maps'), ['--limits', 'off']);
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
  const owner = await api('POST', '/players', null, { name: 'Filch' });
  for (let i = 1; i <= ROOMS; i++) {
    await api('POST', '/maps', owner.token, { name: `Room ${String(i).padStart(3, '0')}` });
  }
  await api('POST', '/maps', owner.token, { name: 'Quidditch Pitch' });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

const listed = (page) => page.locator('ul[aria-label="Public maps"] > li');

for (const [device, viewport] of [['laptop', { width: 1024, height: 720 }], ['phone', { width: 390, height: 844 }]]) {
  test(`the public list pages with "Show more maps" and finds a map by name (${device})`, async () => {
    const { page, context } = await signIn(browser, base, `Luna ${device}`, { viewport });
    await listed(page).nth(PAGE - 1).waitFor({ timeout: PATIENCE });
    assert.equal(await listed(page).count(), PAGE);
    const more = page.getByTestId('public-more');
    assert.equal(await more.isVisible(), true);
    await page.screenshot({ path: join(SHOTS, `maps-1-first-page-${device}.png`), fullPage: true });

    await more.click();
    await listed(page).nth(ROOMS).waitFor({ timeout: PATIENCE });
    assert.equal(await listed(page).count(), ROOMS + 1);
    assert.equal(await more.isVisible(), false);
    const ids = await listed(page).evaluateAll((items) => items.map((li) => li.dataset.map));
    assert.equal(new Set(ids).size, ROOMS + 1, 'every map once');

    await page.getByTestId('public-search').fill('quidditch');
    await page.waitForFunction(
      () => document.querySelectorAll('ul[aria-label="Public maps"] > li').length === 1,
      null,
      { timeout: PATIENCE },
    );
    assert.equal((await listed(page).first().locator('.map-name').textContent()).trim(), 'Quidditch Pitch');
    assert.equal(await more.isVisible(), false);
    await page.getByTestId('public-search').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, `maps-2-search-${device}.png`) });

    await page.getByTestId('public-search').fill('no such room');
    await page.getByText('No public map has that in its name.').waitFor({ timeout: PATIENCE });
    assert.equal(await listed(page).count(), 0);
    await context.close();
  });
}
