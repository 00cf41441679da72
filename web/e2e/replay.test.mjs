// Replay in a real browser (issue #14): Bob and Carol walk over the last hour (points posted
// through the API with explicit times). Alice opens the map, enters replay, and moves the time
// bar to chosen moments (typed, dragged, played): each marker stands exactly at its owner's
// latest point at that moment. Live locations that arrive meanwhile are held, not drawn;
// "Back to live" applies them (each once, the page's seq caught up with the server's). The
// same on a phone, with a chosen day. The player's menu offers the trail as GPX or GeoJSON.
// Screenshots on a laptop and a phone under target/e2e/replay-*.png.
//
// Run by scripts/test.sh: MARAUDER_BIN=target/debug/marauder node --test web/e2e/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHOTS, PATIENCE, freePort, serve, stop, launchBrowser, openMap, connected, restCall, markerAt, markerPosition, dataDirectory } from './helpers.mjs';

const HOME = { lat: 55.9486, lon: -3.1999 };
const LAPTOP = { viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, timezoneId: 'UTC' };
const METRES_PER_DEGREE = 111_320;
const STEP_MS = 4 * 60_000;
const POINTS = 12;

let browser;
let server;
let port;
let dataDir;
let base;

before(async () => {
  port = await freePort();
  dataDir = dataDirectory('replay');
  server = await serve(port, dataDir);
  base = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) await stop(server);
});

const api = (method, path, token, body) => restCall(base, method, path, token, body);
const round = (x) => Math.round(x * 1e7) / 1e7;

/** A walk of POINTS points, STEP_MS apart from `start`, `metres` further each step. */
function walk(from, start, { north = 0, east = 0 }) {
  const perLon = METRES_PER_DEGREE * Math.cos((from.lat * Math.PI) / 180);
  return Array.from({ length: POINTS }, (_, i) => ({
    lat: round(from.lat + (i * north) / METRES_PER_DEGREE),
    lon: round(from.lon + (i * east) / perLon),
    accuracy: 5,
    ts: start + i * STEP_MS,
  }));
}

/** The point of `points` at `t`: the latest with ts <= t. */
const at = (points, t) => points.filter((p) => p.ts <= t).at(-1);

/** A page of `player`'s, signed in with their API token, sharing nothing itself. */
async function pageOf(player, mapId, options) {
  const context = await browser.newContext(options);
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

/** Enters replay of `range` ('1h', …, or a day) and waits for the trails: the window. */
async function enterReplay(page, range) {
  await page.getByTestId('replay-open').click();
  const bar = page.getByTestId('replay-bar');
  await bar.waitFor({ timeout: PATIENCE });
  if (range.length > 3) await page.getByTestId('replay-day').fill(range);
  else if (range !== '1h') await page.getByTestId(`replay-range-${range}`).click();
  await page.waitForFunction((r) => {
    const b = document.querySelector('[data-testid="replay-bar"]');
    return b.dataset.ready === 'true' && (r.length > 3 ? document.querySelector('[data-testid="replay-day"]').value === r : true);
  }, range, { timeout: PATIENCE });
  return { from: Number(await bar.getAttribute('data-from')), to: Number(await bar.getAttribute('data-to')) };
}

/** Moves the slider to moment `t` (the slider counts seconds from the window's start). */
async function seek(page, win, t) {
  await page.getByTestId('replay-slider').fill(String(Math.round((t - win.from) / 1000)));
  return Number(await page.getByTestId('replay-bar').getAttribute('data-t'));
}

const held = async (page) => Number(await page.getByTestId('replay-bar').getAttribute('data-held'));
const settled = (page) => page.waitForFunction(() => !document.querySelector('.live-map').dataset.labelsPending, null, { timeout: PATIENCE });

test('replay shows where everyone was at a chosen moment, and live comes back exactly', async () => {
  const alice = { name: 'Alice', ...(await api('POST', '/players', null, { name: 'Alice' })) };
  const bob = { name: 'Bob', ...(await api('POST', '/players', null, { name: 'Bob' })) };
  const carol = { name: 'Carol', ...(await api('POST', '/players', null, { name: 'Carol' })) };
  const map = await api('POST', '/maps', alice.token, { name: 'Hogwarts grounds', visibility: 'public' });
  for (const p of [bob, carol]) await api('POST', `/maps/${map.id}/join`, p.token);

  // Over the last hour: Bob walks north, Carol 800 m east of him walks south.
  const start = Date.now() - 50 * 60_000;
  const bobWalk = walk(HOME, start, { north: 50 });
  const carolWalk = walk({ lat: HOME.lat, lon: round(HOME.lon + 800 / (METRES_PER_DEGREE * Math.cos((HOME.lat * Math.PI) / 180))) }, start + 60_000, { north: -50 });
  for (let i = 0; i < POINTS; i++) {
    await api('POST', '/locations', bob.token, bobWalk[i]);
    await api('POST', '/locations', carol.token, carolWalk[i]);
  }

  const { context, page } = await pageOf(alice, map.id, LAPTOP);
  await markerAt(page, bob, bobWalk.at(-1).lat, bobWalk.at(-1).lon);
  await markerAt(page, carol, carolWalk.at(-1).lat, carolWalk.at(-1).lon);

  // Replay the last hour: it opens at its start, before anyone moved.
  const win = await enterReplay(page, '1h');
  assert.ok(win.to - win.from === 3600_000 && win.from < start && win.to > bobWalk.at(-1).ts, JSON.stringify(win));
  assert.equal(await page.getByTestId('replay-status').textContent(), '2 members moved');
  assert.equal(await page.locator('[data-testid="marker"]').count(), 0);

  // A chosen moment: 90 s after Bob's sixth point. He is there, Carol at her point then.
  const moment = bobWalk[5].ts + 90_000;
  const t = await seek(page, win, moment);
  assert.ok(Math.abs(t - moment) <= 500, `${t} vs ${moment}`);
  await markerAt(page, bob, bobWalk[5].lat, bobWalk[5].lon);
  await markerAt(page, carol, at(carolWalk, t).lat, at(carolWalk, t).lon);
  assert.equal(at(carolWalk, t), carolWalk[5]);
  await settled(page);
  await page.screenshot({ path: join(SHOTS, 'replay-1-laptop-moment.png') });

  // Dragging the slider's thumb: the markers follow the moment it lands on.
  const slider = await page.getByTestId('replay-slider').boundingBox();
  await page.mouse.move(slider.x + slider.width * 0.4, slider.y + slider.height / 2);
  await page.mouse.down();
  await page.mouse.move(slider.x + slider.width * 0.75, slider.y + slider.height / 2, { steps: 8 });
  await page.mouse.up();
  const dragged = Number(await page.getByTestId('replay-bar').getAttribute('data-t'));
  assert.ok(dragged > moment, `dragged to ${dragged}, before ${moment}`);
  await markerAt(page, bob, at(bobWalk, dragged).lat, at(bobWalk, dragged).lon);

  // Playing at ×600 moves time on; pausing stops it.
  await seek(page, win, bobWalk[2].ts);
  await page.getByTestId('replay-speed').selectOption('600');
  await page.getByTestId('replay-play').click();
  await page.waitForFunction((after) => Number(document.querySelector('[data-testid="replay-bar"]').dataset.t) > after, bobWalk[4].ts, { timeout: PATIENCE });
  await page.getByTestId('replay-play').click();
  assert.equal(await page.getByTestId('replay-play').getAttribute('aria-label'), 'Play');
  const paused = Number(await page.getByTestId('replay-bar').getAttribute('data-t'));
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  assert.equal(Number(await page.getByTestId('replay-bar').getAttribute('data-t')), paused);
  await markerAt(page, bob, at(bobWalk, paused).lat, at(bobWalk, paused).lon);

  // Back to the chosen moment; meanwhile Bob and Carol send live positions: held, not drawn.
  await seek(page, win, moment);
  await markerAt(page, bob, bobWalk[5].lat, bobWalk[5].lon);
  const bobNow = { lat: round(HOME.lat + 0.01), lon: round(HOME.lon - 0.01), accuracy: 5 };
  const carolNow = { lat: round(HOME.lat - 0.01), lon: round(HOME.lon + 0.02), accuracy: 5 };
  await api('POST', '/locations', bob.token, bobNow);
  await api('POST', '/locations', carol.token, carolNow);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="replay-bar"]').dataset.held) >= 2, null, { timeout: PATIENCE });
  assert.equal(await held(page), 2);
  assert.deepEqual(await markerPosition(page, bob), [bobWalk[5].lat, bobWalk[5].lon]);
  const kept = await page.evaluate(([m, b]) => window.__marauder.state.maps[m].positions[b], [map.id, bob.id]);
  assert.equal(kept.ts, bobWalk.at(-1).ts, 'the live state waits too');

  // The server restarts meanwhile: the page follows again, still holding; Bob moves again.
  assert.equal(await stop(server), 0);
  await page.getByTestId('conn-state').filter({ hasText: /^(reconnecting|offline)$/ }).waitFor({ timeout: PATIENCE });
  server = await serve(port, dataDir);
  await connected(page);
  const bobLater = { lat: round(bobNow.lat + 0.002), lon: bobNow.lon, accuracy: 5 };
  await api('POST', '/locations', bob.token, bobLater);
  const { seq: lastPosted } = await api('GET', `/maps/${map.id}/locations`, alice.token);
  await page.waitForFunction((s) => Number(document.querySelector('[data-testid="replay-bar"]').dataset.heldSeq) >= s, lastPosted, { timeout: PATIENCE });
  assert.deepEqual(await markerPosition(page, bob), [bobWalk[5].lat, bobWalk[5].lon]);

  // Back to live: the held positions, each once; the page's seq is the server's.
  await page.getByTestId('replay-exit').click();
  await page.getByTestId('replay-bar').waitFor({ state: 'hidden', timeout: PATIENCE });
  await markerAt(page, bob, bobLater.lat, bobLater.lon);
  await markerAt(page, carol, carolNow.lat, carolNow.lon);
  const { seq } = await api('GET', `/maps/${map.id}/locations`, alice.token);
  const live = await page.evaluate(([m, b]) => {
    const ms = window.__marauder.state.maps[m];
    return { lastSeq: ms.lastSeq, trail: ms.trails[b].map((p) => [p.lat, p.lon]) };
  }, [map.id, bob.id]);
  assert.equal(live.lastSeq, seq);
  assert.equal(seq, lastPosted);
  assert.deepEqual(live.trail.slice(-3), [[bobWalk.at(-1).lat, bobWalk.at(-1).lon], [bobNow.lat, bobNow.lon], [bobLater.lat, bobLater.lon]], 'each once, in order');
  // A later position is drawn at once, as ever.
  await api('POST', '/locations', bob.token, { ...bobLater, lat: round(bobLater.lat + 0.001) });
  await markerAt(page, bob, round(bobLater.lat + 0.001), bobLater.lon);
  await settled(page);
  await page.screenshot({ path: join(SHOTS, 'replay-2-laptop-live-again.png') });

  // The player's menu offers the trail as files.
  await page.getByTestId('menu-button').click();
  await page.getByTestId('download-trail-gpx').waitFor({ timeout: PATIENCE });
  assert.equal(await page.getByTestId('download-trail-geojson').textContent(), 'Download my trail (GeoJSON)');
  await page.screenshot({ path: join(SHOTS, 'replay-3-laptop-menu.png') });
  await context.close();
});

test('replay of a chosen day on a phone, and the trail as a file', async () => {
  const dora = { name: 'Dora', ...(await api('POST', '/players', null, { name: 'Dora' })) };
  const ed = { name: 'Ed', ...(await api('POST', '/players', null, { name: 'Ed' })) };
  const map = await api('POST', '/maps', dora.token, { name: 'Diagon Alley', visibility: 'public' });
  await api('POST', `/maps/${map.id}/join`, ed.token);
  const edWalk = walk(HOME, Date.now() - 50 * 60_000, { east: 60 });
  for (const p of edWalk) await api('POST', '/locations', ed.token, p);
  // Dora's own walk, a few minutes of it: her marker is hers in the replay too.
  const doraWalk = walk({ lat: HOME.lat + 0.004, lon: HOME.lon }, Date.now() - 40 * 60_000, { north: -30 }).slice(0, 4);
  for (const p of doraWalk) await api('POST', '/locations', dora.token, p);

  const { context, page } = await pageOf(dora, map.id, PHONE);
  await markerAt(page, ed, edWalk.at(-1).lat, edWalk.at(-1).lon);
  // The day of Ed's eighth point (UTC, the page's time zone), a second after it.
  const moment = edWalk[7].ts + 1000;
  const day = new Date(moment).toISOString().slice(0, 10);
  const win = await enterReplay(page, day);
  assert.equal(win.from, Date.parse(`${day}T00:00:00Z`));
  const t = await seek(page, win, moment);
  assert.ok(Math.abs(t - moment) <= 500, `${t} vs ${moment}`);
  await markerAt(page, ed, edWalk[7].lat, edWalk[7].lon);
  // Her own walk is in the day too, unless the test runs just after midnight.
  const doraThen = at(doraWalk.filter((p) => p.ts >= win.from), t);
  if (doraThen) await markerAt(page, dora, doraThen.lat, doraThen.lon);
  else assert.equal(await markerPosition(page, dora), null);
  // It fits the phone, above the closed sheet, and leaves the map most of the screen.
  const box = await page.getByTestId('replay-bar').boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844, JSON.stringify(box));
  const sheet = await page.locator('.panel').boundingBox();
  assert.ok(box.y + box.height <= sheet.y, `the bar ends at ${box.y + box.height}, the sheet starts at ${sheet.y}`);
  assert.ok(box.height < 200, `the bar is ${box.height} px high`);
  await settled(page);
  await page.screenshot({ path: join(SHOTS, 'replay-4-phone-day.png') });
  await page.getByTestId('replay-exit').click();
  await markerAt(page, ed, edWalk.at(-1).lat, edWalk.at(-1).lon);
  await page.screenshot({ path: join(SHOTS, 'replay-5-phone-live.png') });

  // "Download my trail": a file named for today when the server exports trails, a sentence
  // that says it cannot when it does not (an older server answers 404).
  const res = await fetch(`${base}/api/v1/players/me/trail?format=gpx`, { headers: { authorization: `Bearer ${dora.token}` } });
  await page.getByTestId('menu-button').click();
  await page.screenshot({ path: join(SHOTS, 'replay-6-phone-menu.png') });
  if (res.status === 200) {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: PATIENCE }), page.getByTestId('download-trail-gpx').click()]);
    assert.equal(download.suggestedFilename(), `marauder-trail-${new Date().toISOString().slice(0, 10)}.gpx`);
    const file = join(SHOTS, 'replay-trail.gpx');
    await download.saveAs(file);
    assert.equal((readFileSync(file, 'utf8').match(/<trkpt /g) ?? []).length, doraWalk.length);
    await page.getByTestId('menu-button').click();
    const [json] = await Promise.all([page.waitForEvent('download', { timeout: PATIENCE }), page.getByTestId('download-trail-geojson').click()]);
    assert.match(json.suggestedFilename(), /^marauder-trail-\d{4}-\d{2}-\d{2}\.geojson$/);
    await json.saveAs(join(SHOTS, 'replay-trail.geojson'));
    const line = JSON.parse(readFileSync(join(SHOTS, 'replay-trail.geojson'), 'utf8')).features[0];
    assert.deepEqual(line.geometry.coordinates.map(([lon, lat]) => [lat, lon]), doraWalk.map((p) => [p.lat, p.lon]));
    assert.deepEqual(line.properties.times, doraWalk.map((p) => p.ts), "the contract: the points' ts");
  } else {
    assert.equal(res.status, 404);
    await page.getByTestId('download-trail-gpx').click();
    await page.getByTestId('toast').filter({ hasText: 'This server cannot export trails yet.' }).waitFor({ timeout: PATIENCE });
  }
  await context.close();
});
