// The live map (#/map/<id>): markers from the WebSocket snapshot and events, trails from
// REST then extended live, the member panel (a bottom sheet on phones), the owner's settings
// (mapadmin.js), the map's places (places.js) and its happenings (happenings.js), replay
// (replay.js: live messages held meanwhile, applied on leaving it), and a view that keeps
// oneself and newcomers in sight until the user moves the map. Leaves the map, saying why,
// when one is removed or the map is deleted.

import { h } from './dom.js';
import { MapView } from '../map.js';
import { STALE_MS } from './time.js';
import { inviteBlock } from './maps.js';
import { createMemberList, displayName } from './members.js';
import { createMapAdmin } from './mapadmin.js';
import { createTrailLoader } from './trails.js';
import { createPlaces } from './places.js';
import { createHappenings } from './happenings.js';
import { createReplay } from './replay.js';
import { hrefs } from '../router.js';
import * as store from '../store.js';

/** How long the page's farewell ("X removed you from Y") stays on the map list. */
const FAREWELL_MS = 15_000;

export function mountLiveMap(root, ctx, { mapId }) {
  const { state } = ctx;
  const me = state.player.id;
  let disposed = false;
  let gone = false; // the map was left for good: the first reason said wins
  let deleting = false;
  let view = null;
  let ms = null;
  let fitted = false;
  let tick = null;
  let raf = 0;
  let hintDismissed = false;
  let resetNext = false; // the next snapshot follows a dropped replay buffer: treat it as a reset
  const dirtyTrails = new Set();

  // ---- DOM -------------------------------------------------------------------------
  const mapEl = h('div', { class: 'live-map', role: 'region', 'aria-label': 'Map' });
  const coarse = window.matchMedia?.('(pointer: coarse)').matches;
  const hintReason = h('span', { class: 'place-reason' });
  const hintHow = h('span', {});
  const hintText = h('span', { class: 'place-text' }, hintReason, hintHow);
  const placeHint = h(
    'div',
    { class: 'place-hint', hidden: true, 'data-testid': 'place-hint' },
    hintText,
    h('button', { type: 'button', class: 'btn btn-small', onclick: placeAtCentre }, 'Use the centre'),
    h('button', { type: 'button', class: 'place-close', 'aria-label': 'Hide this notice', onclick: dismissHint }, '×'),
  );
  const followBtn = h('button', { type: 'button', class: 'btn follow-btn', hidden: true, 'data-testid': 'follow', onclick: follow }, 'Follow');
  const title = h('h1', { class: 'map-title', tabindex: '-1', 'data-testid': 'map-title' }, 'Opening the map…');
  const badge = h('span', { class: 'vis-badge', 'data-testid': 'map-visibility' });
  const count = h('span', { class: 'map-count' });
  const meta = h('p', { class: 'map-meta' }, badge, count);
  const loadError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const retry = h('button', { type: 'button', class: 'btn', hidden: true, onclick: () => open() }, 'Try again');
  const joinBtn = h('button', { type: 'button', class: 'btn btn-primary', hidden: true, 'data-testid': 'join-this-map', onclick: joinHere }, 'Join this map');
  const inviteSlot = h('div', { class: 'invite-slot' });
  const members = createMemberList({ me, onFocus: focusPlayer, onRemove: (pid) => admin.confirmRemove(pid, memberName(pid)) });
  const admin = createMapAdmin(ctx, {
    mapId,
    getMap: () => ms,
    onDetail: (detail) => {
      store.applyMapDetail(ms, detail);
      renderInfo();
    },
    onInviteCode: (code) => {
      ms.invite_code = code;
      renderInfo();
    },
    onDeleting: (on) => (deleting = on),
    onDeleted: (name) => leave(`You deleted ${name}.`),
  });
  admin.button.hidden = true;
  const trails = createTrailLoader(ctx, mapId, {
    getMap: () => (disposed ? null : ms),
    onTrail: markTrail,
    onPosition: (pid) => {
      drawPlayer(pid);
      renderMembers();
      keepNewcomerInSight(pid);
      maybeFit();
    },
  });
  const places = createPlaces(ctx, {
    mapId,
    me,
    getMap: () => (disposed ? null : ms),
    getView: () => view,
    memberName: (pid) => memberName(pid),
    onAdding: (on) => {
      if (on && window.matchMedia('(max-width: 700px)').matches) setPanelOpen(false);
      onSharingChange();
      view?.scheduleLayout();
    },
    onFocus: () => window.matchMedia('(max-width: 700px)').matches && setPanelOpen(false),
  });
  const happenings = createHappenings(ctx, { mapId, me, mapName: () => ms?.name ?? 'The map' });
  const replay = createReplay(ctx, {
    mapId,
    me,
    getMap: () => (disposed ? null : ms),
    getView: () => view,
    label: (pid) => ({ name: ms?.members[pid]?.name ?? '?', tag: members.tags.get(pid) }),
    onEnter: enterReplay,
    onLeave: backToLive,
  });
  const fitBtn = h('button', { type: 'button', class: 'btn', onclick: fitEveryone }, 'Show everyone');
  const leaveBtn = h('button', { type: 'button', class: 'btn btn-danger', onclick: onLeave }, 'Leave map');
  // In tab order the map's own actions come before a long member list.
  const actions = h('div', { class: 'actions' }, fitBtn, h('a', { class: 'btn btn-quiet', href: hrefs.maps() }, 'All maps'), leaveBtn, admin.button);
  const panelBody = h('div', { class: 'panel-body', id: 'panel-body' }, title, meta, loadError, retry, joinBtn, actions, admin.section, inviteSlot, happenings.section, places.section, members.el);
  const toggle = h('button', { type: 'button', class: 'panel-toggle', 'aria-expanded': 'false', 'aria-controls': 'panel-body', onclick: () => setPanelOpen(!panel.classList.contains('open')) }, 'Members');
  const panel = h('aside', { class: 'panel', 'aria-label': 'Map and members' }, toggle, panelBody);
  const mapWrap = h('div', { class: 'map-wrap' }, mapEl, placeHint, places.card, followBtn, replay.button, replay.bar);
  root.replaceChildren(h('div', { class: 'screen-live' }, mapWrap, panel));

  // Toasts go just under the header (styles.css), whose height varies with its contents.
  const topbar = document.getElementById('topbar');
  const placeToasts = () => document.body.style.setProperty('--map-top', `${Math.round(topbar?.getBoundingClientRect().bottom ?? 64)}px`);
  const headerWatch = typeof ResizeObserver === 'function' && topbar ? new ResizeObserver(placeToasts) : null;
  headerWatch?.observe(topbar);
  placeToasts();

  function setPanelOpen(open) {
    panel.classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
    view?.scheduleLayout();
  }

  const isOwner = () => !!ms && ms.owner === me;
  const memberName = (pid) => displayName(ms?.members[pid]?.name ?? 'Someone', members.tags.get(pid));
  const ownerName = () => (ms?.owner && ms.members[ms.owner] && ms.owner !== me ? ms.members[ms.owner].name : 'The owner');

  // ---- loading ---------------------------------------------------------------------
  async function open() {
    loadError.hidden = true;
    retry.hidden = true;
    joinBtn.hidden = true;
    let detail;
    try {
      detail = await ctx.api.getMap(mapId);
    } catch (err) {
      if (disposed) return;
      if (err.status === 404) return leave('That map does not exist any more: its owner may have deleted it.');
      if (err.status === 403) {
        title.textContent = 'You are not on this map';
        loadError.textContent = 'Join it to see who is about. A private map needs an invite link from one of its members.';
        loadError.hidden = false;
        joinBtn.hidden = false;
        return;
      }
      loadError.textContent = err.status === 0 ? err.message : 'The map would not open: try again in a moment.';
      loadError.hidden = false;
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
          if (replay.active || places.onMapClick(lat, lon)) return;
          if (state.sharing.mode === 'click') ctx.sharing.place(lat, lon);
        },
        onTileError: () => ctx.toast('Map tiles could not be loaded: showing plain parchment.', { kind: 'info' }),
        onFollowChange: (on) => (followBtn.hidden = on),
        obstacles: () => [panel, placeHint, places.card, replay.bar],
      });
      places.attach(view);
    }
    replay.button.hidden = replay.active;
    onSharingChange();
    renderMembers();
    ctx.live.follow(mapId);
    trails.loadAll();
    clearInterval(tick);
    tick = setInterval(updateSeen, 5000);
    title.focus({ preventScroll: true });
  }

  async function joinHere() {
    joinBtn.disabled = true;
    try {
      await ctx.api.joinMap(mapId);
      if (!disposed) open();
    } catch (err) {
      if (disposed) return;
      loadError.textContent =
        err.status === 403 ? 'This map is private: only an invite link from one of its members lets you in.' : err.status === 404 ? 'That map does not exist any more.' : err.message;
      loadError.hidden = false;
    } finally {
      joinBtn.disabled = false;
    }
  }

  function toastOwnership() {
    ctx.toast(`You are now the owner of ${ms.name}: its settings are yours.`);
  }

  async function reloadDetail() {
    try {
      const detail = await ctx.api.getMap(mapId);
      if (disposed || !ms) return;
      const [wasOwner, ownerKnown] = [isOwner(), ms.owner !== null];
      store.applyMapDetail(ms, detail);
      // The owner's `left` reloads this; the reload can land before the `map_updated` that
      // names the heir, and then that event changes nothing: whichever comes first tells.
      if (ownerKnown && !wasOwner && isOwner()) toastOwnership();
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

  // ---- drawing ---------------------------------------------------------------------
  function renderInfo() {
    title.textContent = ms.name;
    document.title = `${ms.name} · The Marauder's Map`;
    badge.textContent = ms.visibility === 'private' ? 'Private' : 'Public';
    badge.dataset.visibility = ms.visibility ?? '';
    const n = Object.keys(ms.members).length;
    count.textContent = ` map · ${n} ${n === 1 ? 'member' : 'members'}`;
    const code = ms.visibility === 'private' && ms.invite_code;
    if (!code) inviteSlot.replaceChildren();
    else if (inviteSlot.dataset.code !== code) {
      inviteSlot.replaceChildren(h('details', { class: 'invite-details' }, h('summary', {}, 'Invite someone'), inviteBlock(mapId, code, ctx.toast)));
    }
    inviteSlot.dataset.code = code || '';
    admin.button.hidden = !isOwner();
    if (!isOwner()) admin.close();
    admin.update();
    places.render(); // "Remove" buttons follow the owner
  }

  function drawPlayer(pid) {
    const pos = ms.positions[pid];
    if (!pos || !view || replay.active) return;
    const name = ms.members[pid]?.name ?? pos.name ?? '?';
    view.upsertPlayer(pid, { name, tag: members.tags.get(pid), lat: pos.lat, lon: pos.lon, self: pid === me, ts: pos.ts });
    view.setStale(pid, Date.now() - pos.ts > STALE_MS);
  }

  function markTrail(pid) {
    dirtyTrails.add(pid);
    if (!raf) raf = requestAnimationFrame(flushTrails);
  }

  function flushTrails() {
    raf = 0;
    if (disposed || !view || replay.active) return; // drawn on leaving replay
    for (const pid of dirtyTrails) view.setTrail(pid, ms.trails[pid] || [], pid === me);
    dirtyTrails.clear();
  }

  const everyone = () => Object.values(ms.positions).map((p) => [p.lat, p.lon]);

  function maybeFit() {
    if (fitted || !view || replay.active) return;
    const pts = everyone();
    if (!pts.length) return;
    view.fitTo(pts);
    fitted = true;
  }

  function fitEveryone() {
    if (!ms || !view) return;
    const pts = everyone();
    if (!pts.length) ctx.toast('Nobody has been seen on this map yet.');
    view.setFollowing(true);
    view.fitTo(pts);
    fitted = true;
  }

  /** Follow again: back to oneself (or everyone), and keep following. */
  function follow() {
    if (!view) return;
    view.setFollowing(true);
    const mine = ms?.positions[me];
    if (mine) view.map.setView([mine.lat, mine.lon], Math.max(view.map.getZoom(), 15));
    else fitEveryone();
  }

  /** A member seen for the first time while the view is the app's: bring everyone in. */
  function keepNewcomerInSight(pid) {
    const pos = ms.positions[pid];
    if (!fitted || !view || !pos || pid === me || !view.following || replay.active) return;
    if (!view.inSight([pos.lat, pos.lon])) view.fitTo(everyone());
  }

  /** Draws every marker again when tags changed (a name now shared, or no longer). */
  function renderMembers() {
    if (!ms) return;
    const before = members.tags;
    members.render(ms, isOwner());
    const after = members.tags;
    const changed = new Set([...before.keys(), ...after.keys()].filter((pid) => before.get(pid) !== after.get(pid)));
    for (const pid of changed) drawPlayer(pid);
    toggle.textContent = `Members (${Object.keys(ms.members).length}) · Happenings`;
    renderInfo();
  }

  function updateSeen() {
    if (!ms) return;
    members.render(ms, isOwner());
    const now = Date.now();
    if (replay.active) return;
    for (const [pid, pos] of Object.entries(ms.positions)) view?.setStale(pid, now - pos.ts > STALE_MS);
  }

  function focusPlayer(pid) {
    if (!view) return;
    if (view.panTo(pid)) {
      view.setFollowing(false); // the user chose what to look at
      if (window.matchMedia('(max-width: 700px)').matches) setPanelOpen(false);
    } else {
      ctx.toast(`${memberName(pid)} has not been seen on this map yet.`);
    }
  }

  // ---- sharing ---------------------------------------------------------------------
  function onSharingChange() {
    const click = state.sharing.mode === 'click';
    placeHint.hidden = !click || hintDismissed || places.adding;
    hintReason.textContent = state.sharing.error ? `${state.sharing.error} ` : '';
    hintHow.textContent = `${coarse ? 'Tap' : 'Click'} the map to place yourself.`;
    hintText.title = hintText.textContent;
    view?.setClickMode(click || places.adding);
  }

  function dismissHint() {
    hintDismissed = true;
    placeHint.hidden = true;
    view?.scheduleLayout();
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
      if (!disposed) leave(`You left ${ms.name}.`, 6000);
    } catch (err) {
      if (disposed) return;
      leaveBtn.disabled = false;
      ctx.toast(err.status === 404 ? 'That map does not exist any more.' : err.message, { kind: 'error' });
    }
  }

  /** Back to the map list, saying why (once). */
  function leave(message, timeout = FAREWELL_MS) {
    if (gone || disposed) return;
    gone = true;
    ctx.toast(message, { timeout });
    ctx.navigate(hrefs.maps(), { replace: true });
  }

  // ---- live messages -------------------------------------------------------------
  function onSnapshot(msg) {
    if (!ms || !view || msg.map !== mapId || replay.holdSnapshot(msg)) return;
    if (resetNext) {
      resetNext = false;
      msg = { ...msg, reset: true };
    }
    const removed = store.applySnapshot(ms, msg);
    // Read after the snapshot: a place added before it has no event to come, and the
    // events after it apply on top of whatever the read saw (places.js).
    places.load();
    for (const pid of removed) view.removePlayer(pid);
    renderMembers();
    for (const pid of Object.keys(ms.positions)) drawPlayer(pid);
    if (msg.reset) {
      // events were missed: members and trails may have changed too
      for (const pid of Object.keys(ms.trails)) view.setTrail(pid, []);
      ms.trails = {};
      reloadDetail().then(() => !disposed && trails.loadAll());
    }
    maybeFit();
  }

  /** One event; answers whether the member list must be drawn again. */
  function applyEvent(ev) {
    switch (ev.kind) {
      case 'location': {
        const known = !!ms.members[ev.player];
        const first = !ms.positions[ev.player];
        const { moved } = store.applyLocation(ms, ev);
        if (moved) drawPlayer(ev.player);
        markTrail(ev.player);
        if (moved && ev.player === me && fitted) view.keepInSight([ev.lat, ev.lon]);
        else if (first) keepNewcomerInSight(ev.player);
        return !known || first;
      }
      case 'joined':
        store.applyJoined(ms, ev);
        trails.loadJoiner(ev.player);
        return true;
      case 'left':
        if (ev.player === me) {
          if (ev.removed) leave(`${ownerName()} removed you from ${ms.name}.`);
          else leave(`You are no longer on ${ms.name}.`);
          return false;
        }
        if (ev.removed) ctx.toast(`${memberName(ev.player)} was removed from ${ms.name}.`);
        store.applyLeft(ms, ev);
        view.removePlayer(ev.player);
        if (ev.player === ms.owner) reloadDetail(); // ownership passed on
        return true;
      case 'renamed':
        store.applyRenamed(ms, ev);
        drawPlayer(ev.player);
        if (ev.player === me) ctx.updatePlayerName?.(ev.name);
        return true;
      case 'map_updated': {
        const wasPrivate = ms.visibility === 'private';
        const wasOwner = isOwner();
        store.applyMapUpdated(ms, ev);
        renderInfo();
        if (ms.visibility === 'private' && !wasPrivate) reloadDetail(); // its new invite code
        if (isOwner() && !wasOwner) toastOwnership();
        return isOwner() !== wasOwner; // "Remove" buttons come or go
      }
      case 'place_added':
      case 'place_removed':
        places.onEvent(ev);
        return false;
      case 'arrived':
      case 'departed':
        happenings.onEvent(ev);
        return false;
      case 'map_deleted':
        if (!deleting) leave(`${ownerName()} deleted ${ms.name}: it is gone for everyone.`);
        return false;
      default:
        return false; // kinds this page does not know
    }
  }

  function onEvents(map, events) {
    if (!ms || !view || map !== mapId || replay.holdEvents(events)) return;
    let membersChanged = false;
    for (const ev of events) {
      if (gone) return;
      ms.lastSeq = ev.seq;
      if (applyEvent(ev)) membersChanged = true;
    }
    if (gone) return;
    if (membersChanged) renderMembers();
    else updateSeen();
    maybeFit();
  }

  // ---- replay ----------------------------------------------------------------------
  function enterReplay() {
    places.stop();
    mapWrap.classList.add('replaying');
    view.clearAll();
    if (window.matchMedia('(max-width: 700px)').matches) setPanelOpen(false);
  }

  /** Live again, exactly where the socket is: what it sent meanwhile applied in seq order. */
  function backToLive({ snapshot, events, overflowed }) {
    mapWrap.classList.remove('replaying');
    if (disposed || !ms || !view) return;
    for (const pid of Object.keys(ms.positions)) drawPlayer(pid);
    for (const pid of Object.keys(ms.trails)) markTrail(pid);
    if (snapshot) onSnapshot(snapshot);
    if (events.length) onEvents(mapId, events);
    if (overflowed) {
      // too much came to hold: a fresh snapshot instead, with everything read again
      resetNext = true;
      ctx.live.follow(mapId);
    }
    updateSeen();
    // the replay's view was the app's choice, not the user's: show everyone where they are now
    if (view.following && Object.keys(ms.positions).length) view.fitTo(everyone());
    view.scheduleLayout();
  }

  function onUnsubscribed(map, reason) {
    if (map !== mapId) return;
    const name = ms?.name || 'this map';
    if (reason === 'removed') leave(`${ownerName()} removed you from ${name}.`);
    else if (reason === 'deleted') {
      if (!deleting) leave(`${ownerName()} deleted ${name}: it is gone for everyone.`);
    } else if (reason === 'left') leave(`You are no longer on ${name}.`);
    else leave(`This page stopped following ${name}: open it again from your maps.`);
  }

  function onServerError(msg) {
    if (msg.map !== mapId) return;
    if (msg.code === 'not_found') leave('That map does not exist any more.');
    else if (msg.code === 'forbidden') leave(`You are no longer on ${ms?.name || 'that map'}.`);
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
      replay.destroy();
      headerWatch?.disconnect();
      places.destroy();
      document.body.style.removeProperty('--map-top');
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
