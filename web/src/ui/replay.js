// Replay on the live map: the "Replay" button, and the time bar that plays every member's
// movements in a window (the last 1, 6 or 24 hours, or a chosen day) from their trails: play,
// pause, speed ×10 to ×600, a slider to drag to any moment. Each member's marker stands at
// their latest point at the replay's moment, their trail drawn up to it. While it is open the
// socket's messages are held (replay.js LiveBuffer), not drawn; leaving hands them to the page
// to apply in seq order, and the page draws live again.

import { h } from './dom.js';
import { STALE_MS, formatDate } from './time.js';
import { LAST_HOURS, LiveBuffer, createTrailWindowReader, dayOf, indexAt, windowOf } from '../replay.js';
import './replay.css';

export const SPEEDS = [10, 30, 60, 120, 300, 600];
const DEFAULT_SPEED = 60;
/** Points of a trail drawn behind a replayed marker (its newest, up to the moment). */
const TRAIL_DRAWN = 500;
const READERS = 4;
const MEMBERS_MAX = 200;
/** Each window's words, and the short ones a phone shows. */
const RANGE_WORDS = { '1h': ['Last hour', '1 h'], '6h': ['6 hours', '6 h'], '24h': ['24 hours', '24 h'] };

/** The moment shown: "30 Nov, 00:25:48" (a day's replay, or the last 24 hours, spans two). */
function moment(ms) {
  const options = { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' };
  try {
    return new Date(ms).toLocaleString(undefined, options);
  } catch {
    return new Date(ms).toLocaleString();
  }
}

/**
 * getMap(), getView(): the page's map state and MapView; label(pid): {name, tag} of a member;
 * onEnter(): the page stops drawing live (and clears the view for the replay); onLeave(held):
 * the page draws live again and applies `held` ({snapshot, events, overflowed}).
 */
export function createReplay(ctx, { mapId, me, getMap, getView, label, onEnter, onLeave }) {
  const reader = createTrailWindowReader(ctx.api.getTrail);
  const held = new LiveBuffer();
  let active = false;
  let gen = 0;
  let win = null;
  let t = 0;
  let speed = DEFAULT_SPEED;
  let playing = false;
  let raf = 0;
  let lastFrame = 0;
  /** pid -> points in the window, oldest first */
  let trails = new Map();
  /** pid -> index of the point drawn (-1: no marker) */
  const shown = new Map();

  // ---- DOM -------------------------------------------------------------------------
  // shown by the page once the map is open
  const button = h('button', { type: 'button', class: 'btn replay-open', hidden: true, 'data-testid': 'replay-open', onclick: enter }, 'Replay');
  const ranges = Object.keys(LAST_HOURS).map((key) =>
    h(
      'button',
      { type: 'button', class: 'replay-range', 'aria-pressed': 'false', 'aria-label': `The last ${key === '1h' ? 'hour' : RANGE_WORDS[key][0]}`, 'data-range': key, 'data-testid': `replay-range-${key}`, onclick: () => choose(key) },
      h('span', { class: 'replay-long' }, RANGE_WORDS[key][0]),
      h('span', { class: 'replay-short' }, RANGE_WORDS[key][1]),
    ),
  );
  const dayInput = h('input', { type: 'date', class: 'replay-day', 'aria-label': 'A day to replay', 'data-testid': 'replay-day', onchange: () => dayInput.value && choose(dayInput.value) });
  const exit = h('button', { type: 'button', class: 'btn btn-small replay-exit', 'data-testid': 'replay-exit', onclick: leave }, 'Back to live');
  const play = h('button', { type: 'button', class: 'replay-play', 'aria-label': 'Play', 'data-testid': 'replay-play', disabled: true, onclick: () => setPlaying(!playing) });
  const slider = h('input', { type: 'range', class: 'replay-slider', min: '0', max: '0', step: '1', value: '0', disabled: true, 'aria-label': 'Moment of the replay', 'data-testid': 'replay-slider', oninput: onSlide });
  const speedSelect = h(
    'select',
    { class: 'replay-speed', 'aria-label': 'Replay speed', 'data-testid': 'replay-speed', onchange: () => (speed = Number(speedSelect.value)) },
    SPEEDS.map((s) => h('option', { value: String(s), selected: s === DEFAULT_SPEED }, `×${s}`)),
  );
  const now = h('time', { class: 'replay-now', 'data-testid': 'replay-time' });
  const ends = h('span', { class: 'replay-ends' });
  const status = h('span', { class: 'replay-status', role: 'status', 'data-testid': 'replay-status' });
  const bar = h(
    'section',
    { class: 'replay-bar', hidden: true, 'aria-label': 'Replay', 'data-testid': 'replay-bar' },
    h('div', { class: 'replay-row' }, h('strong', { class: 'replay-title' }, 'Replay'), h('div', { class: 'replay-ranges', role: 'group', 'aria-label': 'What to replay' }, ranges, dayInput), exit),
    h('div', { class: 'replay-row replay-controls' }, play, slider, speedSelect),
    h('div', { class: 'replay-row replay-info' }, now, status, ends),
  );

  bar.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') leave();
  });

  // ---- entering and leaving --------------------------------------------------------
  function enter() {
    if (active || !getMap() || !getView()) return;
    active = true;
    held.clear();
    showHeld();
    onEnter();
    button.hidden = true;
    bar.hidden = false;
    dayInput.max = dayOf(Date.now());
    choose('1h');
    play.focus();
  }

  /** Back to live: the page applies what the socket sent meanwhile. */
  function leave() {
    if (!active) return;
    setPlaying(false);
    gen++; // trails still being read are dropped
    active = false;
    bar.hidden = true;
    button.hidden = false;
    trails = new Map();
    shown.clear();
    getView()?.clearAll();
    onLeave(held.drain());
    button.focus({ preventScroll: true });
  }

  // ---- reading a window ------------------------------------------------------------
  async function choose(choice) {
    const w = windowOf(choice);
    if (!w) return setStatus('That day has not begun yet.');
    for (const b of ranges) b.setAttribute('aria-pressed', String(b.dataset.range === choice));
    if (!LAST_HOURS[choice]) dayInput.value = choice;
    setPlaying(false);
    const mine = ++gen;
    win = w;
    t = w.from;
    trails = new Map();
    shown.clear();
    getView()?.clearAll();
    bar.dataset.from = String(w.from);
    bar.dataset.to = String(w.to);
    delete bar.dataset.ready;
    slider.max = String(Math.ceil((w.to - w.from) / 1000));
    slider.value = '0';
    slider.disabled = play.disabled = true;
    ends.textContent = `${formatDate(w.from)} – ${formatDate(w.to)}`;
    showMoment();
    setStatus('Reading the trails…');
    const ms = getMap();
    const queue = Object.keys(ms?.members ?? {}).slice(0, MEMBERS_MAX);
    let failed = 0;
    const worker = async () => {
      while (queue.length && mine === gen) {
        const pid = queue.shift();
        try {
          const points = await reader.read(mapId, pid, w);
          if (mine === gen && points.length) trails.set(pid, points);
        } catch {
          failed++; // 404: no longer a member; 403: nor are we (the socket says so)
        }
      }
    };
    await Promise.all(Array.from({ length: READERS }, worker));
    if (mine !== gen) return;
    slider.disabled = play.disabled = trails.size === 0;
    bar.dataset.ready = 'true';
    const moved = trails.size;
    if (!moved) setStatus(failed ? 'The trails could not be read: try again in a moment.' : 'Nobody moved in this time.');
    else setStatus(`${moved} ${moved === 1 ? 'member' : 'members'} moved`);
    fitWindow();
    draw();
  }

  function fitWindow() {
    const all = [];
    for (const points of trails.values()) for (const p of points) all.push([p.lat, p.lon]);
    if (all.length) getView()?.fitTo(all);
  }

  // ---- drawing the moment ----------------------------------------------------------
  function draw() {
    const view = getView();
    if (!view || !active) return;
    bar.dataset.t = String(Math.round(t));
    for (const [pid, points] of trails) {
      const i = indexAt(points, t);
      if (shown.get(pid) === i) continue;
      shown.set(pid, i);
      if (i < 0) {
        view.removePlayer(pid);
        continue;
      }
      const p = points[i];
      view.upsertPlayer(pid, { ...label(pid), lat: p.lat, lon: p.lon, self: pid === me, ts: p.ts });
      view.setStale(pid, t - p.ts > STALE_MS);
      view.setTrail(pid, points.slice(Math.max(0, i + 1 - TRAIL_DRAWN), i + 1), pid === me);
    }
  }

  function showMoment() {
    if (!win) return;
    now.dateTime = new Date(t).toISOString();
    now.textContent = moment(t);
    now.title = formatDate(t);
    slider.setAttribute('aria-valuetext', formatDate(t));
  }

  function setTime(ms) {
    t = Math.min(Math.max(ms, win.from), win.to);
    slider.value = String(Math.round((t - win.from) / 1000));
    showMoment();
    draw();
  }

  function onSlide() {
    if (!win) return;
    t = Math.min(win.from + Number(slider.value) * 1000, win.to);
    showMoment();
    draw();
  }

  // ---- playing ---------------------------------------------------------------------
  function setPlaying(on) {
    if (on && !win) return;
    if (on && t >= win.to) setTime(win.from); // again from the start
    playing = on;
    play.classList.toggle('playing', on);
    play.setAttribute('aria-label', on ? 'Pause' : 'Play');
    cancelAnimationFrame(raf);
    raf = 0;
    if (on) {
      lastFrame = performance.now();
      raf = requestAnimationFrame(frame);
    }
  }

  function frame(stamp) {
    raf = 0;
    if (!playing || !active) return;
    const dt = Math.min(stamp - lastFrame, 250); // a hidden tab's pause is not replayed
    lastFrame = stamp;
    setTime(t + dt * speed);
    if (t >= win.to) return setPlaying(false);
    raf = requestAnimationFrame(frame);
  }

  /** What waits for live, on the bar (tests read it). */
  function showHeld() {
    bar.dataset.held = String(held.size);
    bar.dataset.heldSeq = String(held.lastSeq ?? '');
  }

  function setStatus(text) {
    status.textContent = text;
  }

  /** The socket's messages while replaying: held, unless one ends the page (the map is
   *  deleted, or one is no longer on it), which leaves replay first. Answers whether they
   *  were held. */
  function holdEvents(events) {
    if (!active) return false;
    if (events.some((ev) => ev.kind === 'map_deleted' || (ev.kind === 'left' && ev.player === me))) {
      leave();
      return false;
    }
    held.onEvents(events);
    showHeld();
    return true;
  }

  function holdSnapshot(msg) {
    if (!active) return false;
    held.onSnapshot(msg);
    showHeld();
    return true;
  }

  return {
    button,
    bar,
    get active() {
      return active;
    },
    holdEvents,
    holdSnapshot,
    leave,
    destroy() {
      setPlaying(false);
      gen++;
      active = false;
    },
  };
}
