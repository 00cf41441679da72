// The live map (#/map/<id>): markers from the WebSocket snapshot and events, trails from
// REST then extended live, and the member panel (a bottom sheet on phones).

import { h, showError } from './dom.js';
import { MapView } from '../map.js';
import { relativeTime, STALE_MS } from './time.js';
import { inviteBlock } from './maps.js';
import { hrefs } from '../router.js';
import * as store from '../store.js';

const TRAIL_LOADERS = 4;
// A huge map (a benchmark's) would cost a request per member: draw the first ones' trails only.
const TRAIL_MEMBERS_MAX = 200;

export function mountLiveMap(root, ctx, { mapId }) {
  const { state } = ctx;
  const me = state.player.id;
  let disposed = false;
  let view = null;
  let ms = null;
  let fitted = false;
  let trailGen = 0;
  let tick = null;
  let raf = 0;
  const dirtyTrails = new Set();
  /** playerId -> {li, button, nameEl, seenEl} */
  const items = new Map();

  // ---- DOM -------------------------------------------------------------------------
  const mapEl = h('div', { class: 'live-map', role: 'region', 'aria-label': 'Map' });
  const hintText = h('span', {}, 'Click the map to place yourself.');
  const placeHint = h(
    'div',
    { class: 'place-hint', hidden: true },
    hintText,
    h('button', { type: 'button', class: 'btn', onclick: placeAtCentre }, 'Place me at the centre'),
  );
  const title = h('h1', { class: 'map-title', tabindex: '-1' }, 'Opening the map…');
  const meta = h('p', { class: 'map-meta' });
  const loadError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const retry = h('button', { type: 'button', class: 'btn', hidden: true, onclick: () => open() }, 'Try again');
  const inviteSlot = h('div', { class: 'invite-slot' });
  const memberList = h('ul', { class: 'members', 'aria-labelledby': 'members-h' });
  const fitBtn = h('button', { type: 'button', class: 'btn', onclick: fitEveryone }, 'Show everyone');
  const leaveBtn = h('button', { type: 'button', class: 'btn btn-danger', onclick: onLeave }, 'Leave map');
  const panelBody = h(
    'div',
    { class: 'panel-body', id: 'panel-body' },
    title,
    meta,
    loadError,
    retry,
    h('h2', { id: 'members-h', class: 'members-h' }, 'Who is about'),
    memberList,
    h('div', { class: 'actions' }, fitBtn, h('a', { class: 'btn btn-quiet', href: hrefs.maps() }, 'All maps'), leaveBtn),
    inviteSlot,
  );
  const toggle = h('button', { type: 'button', class: 'panel-toggle', 'aria-expanded': 'false', 'aria-controls': 'panel-body', onclick: () => setPanelOpen(!panel.classList.contains('open')) }, 'Members');
  const panel = h('aside', { class: 'panel', 'aria-label': 'Map and members' }, toggle, panelBody);
  root.replaceChildren(h('div', { class: 'screen-live' }, h('div', { class: 'map-wrap' }, mapEl, placeHint), panel));

  function setPanelOpen(open) {
    panel.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
  }

  // ---- loading ---------------------------------------------------------------------
  async function open() {
    showError(loadError, null);
    retry.hidden = true;
    let detail;
    try {
      detail = await ctx.api.getMap(mapId);
    } catch (err) {
      if (disposed) return;
      if (err.status === 403 || err.status === 404) {
        ctx.toast(err.status === 403 ? `You are not on this map. ${err.message}` : err.message, { kind: 'error' });
        ctx.navigate(hrefs.maps(), { replace: true });
        return;
      }
      showError(loadError, err);
      retry.hidden = false;
      title.textContent = 'The map would not open';
      return;
    }
    if (disposed) return;
    ms = store.resetMap(mapId);
    store.applyMapDetail(ms, detail);
    state.currentMap = mapId;
    renderInfo();
    const config = await ctx.config();
    if (disposed) return;
    if (!view) {
      view = new MapView(mapEl, config, {
        onClick: (lat, lon) => {
          if (state.sharing.mode === 'click') ctx.sharing.place(lat, lon);
        },
        onTileError: () => ctx.toast('Map tiles could not be loaded: showing plain parchment.', { kind: 'info' }),
      });
    }
    onSharingChange();
    renderMembers();
    ctx.live.follow(mapId);
    loadTrails();
    clearInterval(tick);
    tick = setInterval(updateSeen, 5000);
    title.focus({ preventScroll: true });
  }

  async function reloadDetail() {
    try {
      const detail = await ctx.api.getMap(mapId);
      if (disposed || !ms) return;
      store.applyMapDetail(ms, detail);
      for (const pid of Object.keys(ms.positions)) {
        if (!ms.members[pid]) {
          store.applyLeft(ms, { player: pid });
          view.removePlayer(pid);
        }
      }
      renderInfo();
      renderMembers();
    } catch {
      /* errors of the map itself come through the socket too */
    }
  }

  async function loadTrails() {
    const gen = ++trailGen;
    const queue = Object.keys(ms.members).slice(0, TRAIL_MEMBERS_MAX);
    const worker = async () => {
      while (queue.length) {
        const pid = queue.shift();
        if (disposed || gen !== trailGen) return;
        try {
          const points = await ctx.api.getRecentTrail(mapId, pid, { keep: store.TRAIL_KEEP, anchorTs: ms.positions[pid]?.ts });
          if (disposed || gen !== trailGen || !ms.members[pid]) continue;
          store.mergeTrail(ms, pid, points);
          markTrail(pid);
        } catch {
          // 404: no longer a member; 403: we are not either (the socket will say so)
        }
      }
    };
    await Promise.all(Array.from({ length: TRAIL_LOADERS }, worker));
  }

  /** A `joined` event names the member but not where they are: their trail says. */
  async function loadJoiner(pid) {
    try {
      const points = await ctx.api.getRecentTrail(mapId, pid, { keep: store.TRAIL_KEEP });
      if (disposed || !ms.members[pid]) return;
      store.mergeTrail(ms, pid, points);
      const last = points[points.length - 1];
      if (last && !(ms.positions[pid]?.ts >= last.ts)) {
        ms.positions[pid] = { player: pid, name: ms.members[pid].name, ...last };
        drawPlayer(pid);
        updateSeen();
      }
      markTrail(pid);
      maybeFit();
    } catch {
      // 404: gone again already; the socket says what happened
    }
  }

  // ---- drawing ---------------------------------------------------------------------
  function renderInfo() {
    title.textContent = ms.name;
    const n = Object.keys(ms.members).length;
    meta.textContent = `${ms.visibility === 'private' ? 'Private' : 'Public'} map · ${n} ${n === 1 ? 'member' : 'members'}`;
    inviteSlot.replaceChildren(ms.visibility === 'private' && ms.invite_code ? inviteBlock(mapId, ms.invite_code, ctx.toast) : '');
  }

  function drawPlayer(pid) {
    const pos = ms.positions[pid];
    if (!pos || !view) return;
    const name = ms.members[pid]?.name ?? pos.name ?? '?';
    view.upsertPlayer(pid, { name, lat: pos.lat, lon: pos.lon, self: pid === me });
    view.setStale(pid, Date.now() - pos.ts > STALE_MS);
  }

  function markTrail(pid) {
    dirtyTrails.add(pid);
    if (!raf) raf = requestAnimationFrame(flushTrails);
  }

  function flushTrails() {
    raf = 0;
    if (disposed || !view) return;
    for (const pid of dirtyTrails) view.setTrail(pid, ms.trails[pid] || [], pid === me);
    dirtyTrails.clear();
  }

  function maybeFit() {
    if (fitted || !view) return;
    const pts = Object.values(ms.positions).map((p) => [p.lat, p.lon]);
    if (!pts.length) return;
    view.fitTo(pts);
    fitted = true;
  }

  function fitEveryone() {
    if (!ms || !view) return;
    const pts = Object.values(ms.positions).map((p) => [p.lat, p.lon]);
    if (!pts.length) ctx.toast('Nobody has been seen on this map yet.');
    view.fitTo(pts);
    fitted = true;
  }

  function renderMembers() {
    if (!ms) return;
    const members = Object.values(ms.members).sort(
      (a, b) => (b.id === me) - (a.id === me) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id),
    );
    for (const [pid, item] of items) {
      if (!ms.members[pid]) {
        item.li.remove();
        items.delete(pid);
      }
    }
    const wanted = members.map((m) => {
      let item = items.get(m.id);
      if (!item) {
        const nameEl = h('span', { class: 'member-name' });
        const seenEl = h('span', { class: 'member-seen' });
        const button = h('button', { type: 'button', class: 'member-btn', onclick: () => focusPlayer(m.id) }, h('span', { class: 'member-dot', 'aria-hidden': 'true' }), nameEl, h('span', { class: 'sr-only' }, ', '), seenEl);
        const li = h('li', { class: 'member', 'data-testid': 'member', 'data-player': m.id }, button);
        item = { li, button, nameEl, seenEl };
        items.set(m.id, item);
      }
      item.nameEl.textContent = m.id === me ? `${m.name} (you)` : m.name;
      item.li.classList.toggle('is-self', m.id === me);
      return item.li;
    });
    const current = [...memberList.children];
    if (current.length !== wanted.length || current.some((li, i) => li !== wanted[i])) {
      const active = document.activeElement;
      memberList.replaceChildren(...wanted);
      if (active && memberList.contains(active)) active.focus();
    }
    toggle.textContent = `Members (${members.length})`;
    const n = members.length;
    meta.textContent = `${ms.visibility === 'private' ? 'Private' : 'Public'} map · ${n} ${n === 1 ? 'member' : 'members'}`;
    updateSeen();
  }

  function updateSeen() {
    if (!ms) return;
    const now = Date.now();
    for (const [pid, item] of items) {
      const pos = ms.positions[pid];
      const seen = pos ? `seen ${relativeTime(pos.ts, now)}` : 'not seen yet';
      if (item.seenEl.textContent !== seen) item.seenEl.textContent = seen;
      const stale = !pos || now - pos.ts > STALE_MS;
      item.li.classList.toggle('is-stale', stale);
      if (pos) view?.setStale(pid, stale);
    }
  }

  function focusPlayer(pid) {
    if (!view) return;
    if (view.panTo(pid)) {
      if (window.matchMedia('(max-width: 700px)').matches) setPanelOpen(false);
    } else {
      ctx.toast(`${ms.members[pid]?.name ?? 'They'} has not been seen on this map yet.`);
    }
  }

  // ---- sharing ---------------------------------------------------------------------
  function onSharingChange() {
    const click = state.sharing.mode === 'click';
    placeHint.hidden = !click;
    hintText.textContent = `${state.sharing.error ? `${state.sharing.error} ` : ''}Click the map to place yourself.`;
    view?.setClickMode(click);
  }

  function placeAtCentre() {
    if (!view) return;
    const c = view.center();
    ctx.sharing.place(c.lat, c.lon);
  }

  async function onLeave() {
    if (!ms) return;
    if (!window.confirm(`Leave ${ms.name}? The others will no longer see you there.`)) return;
    leaveBtn.disabled = true;
    try {
      await ctx.api.leaveMap(mapId);
      if (disposed) return;
      ctx.toast(`You left ${ms.name}.`);
      ctx.navigate(hrefs.maps(), { replace: true });
    } catch (err) {
      if (disposed) return;
      leaveBtn.disabled = false;
      ctx.toast(err.message, { kind: 'error' });
    }
  }

  // ---- live messages -------------------------------------------------------------
  function onSnapshot(msg) {
    if (!ms || !view || msg.map !== mapId) return;
    const removed = store.applySnapshot(ms, msg);
    for (const pid of removed) view.removePlayer(pid);
    for (const pid of Object.keys(ms.positions)) drawPlayer(pid);
    if (msg.reset) {
      // events were missed: members and trails may have changed too
      for (const pid of Object.keys(ms.trails)) view.setTrail(pid, []);
      ms.trails = {};
      reloadDetail().then(() => !disposed && loadTrails());
    }
    renderMembers();
    maybeFit();
  }

  function onEvents(map, events) {
    if (!ms || !view || map !== mapId) return;
    let membersChanged = false;
    for (const ev of events) {
      ms.lastSeq = ev.seq;
      if (ev.kind === 'location') {
        if (!ms.members[ev.player]) membersChanged = true;
        const { moved } = store.applyLocation(ms, ev);
        if (moved) drawPlayer(ev.player);
        markTrail(ev.player);
      } else if (ev.kind === 'joined') {
        store.applyJoined(ms, ev);
        membersChanged = true;
        loadJoiner(ev.player);
      } else if (ev.kind === 'left') {
        store.applyLeft(ms, ev);
        view.removePlayer(ev.player);
        membersChanged = true;
      }
    }
    if (membersChanged) renderMembers();
    else updateSeen();
    maybeFit();
  }

  function onUnsubscribed(map, reason) {
    if (map !== mapId) return;
    const name = ms?.name || 'this map';
    ctx.toast(reason === 'left' ? `You are no longer on ${name}.` : reason === 'deleted' ? `${name} was deleted.` : `Stopped following ${name}.`);
    ctx.navigate(hrefs.maps(), { replace: true });
  }

  function onServerError(msg) {
    if (msg.map === mapId && (msg.code === 'forbidden' || msg.code === 'not_found')) ctx.navigate(hrefs.maps(), { replace: true });
  }

  open();

  return {
    onSnapshot,
    onEvents,
    onUnsubscribed,
    onServerError,
    onSharingChange,
    cleanup() {
      disposed = true;
      clearInterval(tick);
      if (raf) cancelAnimationFrame(raf);
      ctx.live.unfollow(mapId);
      view?.destroy();
      view = null;
      store.dropMap(mapId);
      if (state.currentMap === mapId) state.currentMap = null;
    },
  };
}
