// The replay's logic without a browser (web/src/replay.js): the windows offered, where a member
// is at a moment, reading a window page by page with and without the server's `until`, and the
// buffer of live messages that leaving replay applies (each once, in seq order).
//
// Run by scripts/test.sh with the other browser tests: node --test web/e2e/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUFFER_MAX, LiveBuffer, MAX_PAGES, PAGE, createTrailWindowReader, dayOf, indexAt, windowOf } from '../src/replay.js';

const HOUR = 3600_000;

test('the last hours end now; a day is its local midnight to the next, today ending now', () => {
  const now = Date.UTC(2026, 10, 30, 0, 43, 0);
  assert.deepEqual(windowOf('1h', now), { from: now - HOUR, to: now });
  assert.deepEqual(windowOf('6h', now), { from: now - 6 * HOUR, to: now });
  assert.deepEqual(windowOf('24h', now), { from: now - 24 * HOUR, to: now });
  const day = windowOf('2026-11-28', now);
  assert.equal(day.from, new Date(2026, 10, 28).getTime());
  assert.equal(day.to, new Date(2026, 10, 29).getTime() - 1);
  const today = dayOf(now);
  assert.deepEqual(windowOf(today, now), { from: new Date(`${today}T00:00:00`).getTime(), to: now });
  assert.equal(windowOf('2026-12-25', now), null, 'a day to come');
  assert.equal(windowOf('yesterday', now), null);
  assert.equal(windowOf(undefined, now), null);
});

test('a member stands at their latest point at or before the moment', () => {
  const points = [{ ts: 10 }, { ts: 20 }, { ts: 20 }, { ts: 30 }];
  assert.equal(indexAt(points, 9), -1);
  assert.equal(indexAt(points, 10), 0);
  assert.equal(indexAt(points, 19), 0);
  assert.equal(indexAt(points, 20), 2);
  assert.equal(indexAt(points, 29), 2);
  assert.equal(indexAt(points, 30), 3);
  assert.equal(indexAt(points, 1e15), 3);
  assert.equal(indexAt([], 5), -1);
});

/** A fake trail endpoint over `all` (ts ascending) that knows `until` or answers 400 to it. */
function fakeServer(all, { until: knowsUntil }) {
  const calls = [];
  const getTrail = async (mapId, pid, { since, until, limit }) => {
    calls.push({ since, until, limit });
    if (until !== undefined && !knowsUntil) throw Object.assign(new Error('unknown parameter'), { status: 400 });
    const points = all.filter((p) => (since === undefined || p.ts > since) && (until === undefined || p.ts <= until)).slice(0, limit);
    return { player: pid, points };
  };
  return { getTrail, calls };
}

const walk = (n, step = 1000, start = 0) => Array.from({ length: n }, (_, i) => ({ lat: i, lon: -i, ts: start + i * step }));

for (const knowsUntil of [true, false]) {
  test(`a window is read in full pages, ${knowsUntil ? 'with' : 'without'} the server's until`, async () => {
    const all = walk(2600); // ts 0 .. 2 599 000
    const server = fakeServer(all, { until: knowsUntil });
    const reader = createTrailWindowReader(server.getTrail);
    const got = await reader.read('m', 'p', { from: 1000, to: 2_400_000 });
    assert.equal(reader.untilSupported, knowsUntil);
    assert.deepEqual(got, all.filter((p) => p.ts >= 1000 && p.ts <= 2_400_000), 'every point of the window once, in order');
    assert.equal(got.length, 2400);
    assert.equal(server.calls[0].since, 999, 'the window start is inclusive');
    // Pages follow the last ts of a full page; the one that refused `until` is asked again.
    const sinces = server.calls.filter((c) => knowsUntil || c.until === undefined).map((c) => c.since);
    assert.deepEqual(sinces, [999, 1_000_000, 2_000_000]);
    assert.ok(server.calls.every((c) => c.limit === PAGE));
  });
}

test('a window with nothing in it, and a member who sent too much, both end', async () => {
  const empty = createTrailWindowReader(fakeServer([], { until: true }).getTrail);
  assert.deepEqual(await empty.read('m', 'p', { from: 0, to: 10 }), []);
  const huge = walk((MAX_PAGES + 3) * PAGE, 1);
  const server = fakeServer(huge, { until: true });
  const got = await createTrailWindowReader(server.getTrail).read('m', 'p', { from: 0, to: huge.length });
  assert.equal(server.calls.length, MAX_PAGES);
  assert.equal(got.length, MAX_PAGES * PAGE);
});

test('another error is not taken for an old server', async () => {
  const reader = createTrailWindowReader(async () => {
    throw Object.assign(new Error('forbidden'), { status: 403 });
  });
  await assert.rejects(reader.read('m', 'p', { from: 0, to: 10 }), { status: 403 });
  assert.equal(reader.untilSupported, null);
});

const ev = (seq) => ({ seq, kind: 'location', player: 'p', lat: seq, lon: 0, ts: seq });

test('held events come back once each, in seq order, after the latest snapshot', () => {
  const buf = new LiveBuffer();
  buf.onEvents([ev(5), ev(6)]);
  buf.onEvents([ev(6), ev(7)]); // a repeat is dropped
  assert.equal(buf.size, 3);
  assert.equal(buf.lastSeq, 7);
  let out = buf.drain();
  assert.deepEqual(out.events.map((e) => e.seq), [5, 6, 7]);
  assert.equal(out.snapshot, null);
  assert.equal(out.overflowed, false);
  assert.equal(buf.drain().events.length, 0, 'drained once');

  buf.onEvents([ev(8)]);
  buf.onSnapshot({ type: 'snapshot', map: 'm', seq: 20, locations: [], reset: true });
  assert.equal(buf.lastSeq, 20);
  buf.onEvents([ev(19), ev(21)]); // 19 is in the snapshot already
  buf.onSnapshot({ type: 'snapshot', map: 'm', seq: 30, locations: [] });
  buf.onEvents([ev(31)]);
  out = buf.drain();
  assert.equal(out.snapshot.seq, 30);
  assert.equal(out.snapshot.reset, true, 'an earlier reset is not forgotten');
  assert.deepEqual(out.events.map((e) => e.seq), [31]);
});

test('a buffer that would grow past its bound is dropped and says so', () => {
  const buf = new LiveBuffer(3);
  buf.onEvents([ev(1), ev(2), ev(3)]);
  assert.equal(buf.overflowed, false);
  buf.onEvents([ev(4)]);
  assert.equal(buf.overflowed, true);
  assert.equal(buf.size, 0);
  buf.onEvents([ev(5)]); // nothing is kept after a gap
  assert.equal(buf.size, 0);
  let out = buf.drain();
  assert.equal(out.overflowed, true);
  // A snapshot after the overflow makes the buffer whole again, as a reset.
  buf.onEvents([ev(1), ev(2), ev(3), ev(4)]);
  buf.onSnapshot({ type: 'snapshot', map: 'm', seq: 9, locations: [] });
  buf.onEvents([ev(10)]);
  out = buf.drain();
  assert.equal(out.overflowed, false);
  assert.equal(out.snapshot.reset, true);
  assert.deepEqual(out.events.map((e) => e.seq), [10]);
  assert.equal(new LiveBuffer().max, BUFFER_MAX);
});
