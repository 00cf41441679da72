// The app's state in one plain object (easy to inspect: window.__marauder.state), the
// session kept in localStorage, and the rules that fold server messages into a map's state.

import { forgetHappenings } from './happenings.js';

const SESSION_KEY = 'marauder.session';
const PAUSED_KEY = 'marauder.sharingPaused';
export const TRAIL_KEEP = 200;

export const state = {
  config: { tiles: null, attribution: null },
  /** {id, name, token} while signed in. */
  player: null,
  /** 'connected' | 'reconnecting' | 'offline' */
  conn: 'offline',
  sharing: {
    paused: false,
    /** 'idle' | 'watching' | 'click' | 'paused' | 'off' */
    mode: 'idle',
    error: null,
    last: null,
  },
  /** The map open on screen, or null. */
  currentMap: null,
  /** mapId -> MapState (see newMapState) */
  maps: {},
};

// ---- session -------------------------------------------------------------------------

function readJson(key) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function writeJson(key, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // private mode or full storage: the app still works for this visit
  }
}

export function loadSession() {
  const s = readJson(SESSION_KEY);
  if (s && typeof s.id === 'string' && typeof s.token === 'string' && typeof s.name === 'string') {
    state.player = { id: s.id, name: s.name, token: s.token };
  }
  state.sharing.paused = readJson(PAUSED_KEY) === true;
  return state.player;
}

export function saveSession(player) {
  state.player = { id: player.id, name: player.name, token: player.token };
  writeJson(SESSION_KEY, state.player);
}

export function clearSession() {
  state.player = null;
  state.maps = {};
  state.currentMap = null;
  forgetHappenings();
  writeJson(SESSION_KEY, null);
}

export function savePaused(paused) {
  state.sharing.paused = paused;
  writeJson(PAUSED_KEY, paused);
}

// ---- maps ----------------------------------------------------------------------------

function newMapState(id) {
  return {
    id,
    name: '',
    owner: null,
    visibility: null,
    invite_code: null,
    /** playerId -> {id, name} */
    members: {},
    /** last seq applied (snapshot or event), null before the first snapshot */
    lastSeq: null,
    /** playerId -> latest location {player, name, lat, lon, ..., ts} (greatest ts wins) */
    positions: {},
    /** playerId -> points oldest first (at most TRAIL_KEEP) */
    trails: {},
    /** placeId -> {id, name, lat, lon, radius, created_by, created_at} */
    places: {},
  };
}

export function resetMap(id) {
  state.maps[id] = newMapState(id);
  return state.maps[id];
}

export function getMapState(id) {
  return state.maps[id] || null;
}

export function dropMap(id) {
  delete state.maps[id];
}

/** Folds a GET /maps/{id} (or join) answer into the map's state. */
export function applyMapDetail(ms, detail) {
  ms.name = detail.name;
  ms.owner = detail.owner ?? null;
  ms.visibility = detail.visibility ?? null;
  ms.invite_code = detail.invite_code ?? null;
  const members = {};
  for (const m of detail.members || []) members[m.id] = { id: m.id, name: m.name };
  ms.members = members;
}

/** Replaces the positions with a snapshot's. Returns the players whose marker must go. */
export function applySnapshot(ms, msg) {
  const before = new Set(Object.keys(ms.positions));
  ms.positions = {};
  for (const loc of msg.locations || []) {
    ms.positions[loc.player] = { ...loc };
    before.delete(loc.player);
    if (!ms.members[loc.player]) ms.members[loc.player] = { id: loc.player, name: loc.name };
  }
  ms.lastSeq = msg.seq;
  return [...before];
}

function pointOf(loc) {
  const p = { lat: loc.lat, lon: loc.lon, ts: loc.ts };
  for (const k of ['accuracy', 'altitude', 'speed', 'heading']) if (loc[k] !== undefined && loc[k] !== null) p[k] = loc[k];
  return p;
}

/** A location event. Returns {moved} (false for a late point older than the latest). */
export function applyLocation(ms, ev) {
  if (!ms.members[ev.player]) ms.members[ev.player] = { id: ev.player, name: ev.name };
  else if (ev.name) ms.members[ev.player].name = ev.name;
  const cur = ms.positions[ev.player];
  const moved = !cur || !(cur.ts > ev.ts);
  if (moved) {
    const { seq: _seq, kind: _kind, ...loc } = ev;
    ms.positions[ev.player] = loc;
  }
  addTrailPoint(ms, ev.player, pointOf(ev));
  return { moved };
}

/** Inserts a point in ts order, ignoring exact duplicates; keeps the newest TRAIL_KEEP. */
export function addTrailPoint(ms, playerId, point) {
  const trail = (ms.trails[playerId] ||= []);
  let i = trail.length;
  while (i > 0 && trail[i - 1].ts > point.ts) i--;
  const dup = (q) => q && q.ts === point.ts && q.lat === point.lat && q.lon === point.lon;
  if (dup(trail[i - 1]) || dup(trail[i])) return false;
  trail.splice(i, 0, point);
  if (trail.length > TRAIL_KEEP) trail.splice(0, trail.length - TRAIL_KEEP);
  return true;
}

/** Merges a loaded trail with the points already received live. */
export function mergeTrail(ms, playerId, points) {
  const live = ms.trails[playerId] || [];
  ms.trails[playerId] = [];
  for (const p of points) addTrailPoint(ms, playerId, pointOf(p));
  for (const p of live) addTrailPoint(ms, playerId, p);
}

export function applyJoined(ms, ev) {
  ms.members[ev.player] = { id: ev.player, name: ev.name };
}

export function applyLeft(ms, ev) {
  delete ms.members[ev.player];
  delete ms.positions[ev.player];
  delete ms.trails[ev.player];
}

/** A member changed their name: members, positions and later labels all carry the new one. */
export function applyRenamed(ms, ev) {
  if (ms.members[ev.player]) ms.members[ev.player].name = ev.name;
  if (ms.positions[ev.player]) ms.positions[ev.player].name = ev.name;
}

/** The owner renamed the map or changed who may join, or ownership passed on (`owner`). A
 *  public map has no invite code; a map made private has a new one, which only a fresh read
 *  of the map tells. */
export function applyMapUpdated(ms, ev) {
  if (typeof ev.name === 'string') ms.name = ev.name;
  if (typeof ev.owner === 'string') ms.owner = ev.owner;
  if (ev.visibility === 'public' || ev.visibility === 'private') {
    if (ev.visibility !== ms.visibility) ms.invite_code = null;
    ms.visibility = ev.visibility;
  }
}

/** Replaces the places with a GET /maps/{id}/places answer's. */
export function applyPlaces(ms, places) {
  ms.places = {};
  for (const p of places || []) ms.places[p.id] = { ...p };
}

/** A `place_added` event's place (or a create answer's: the event may come second). */
export function applyPlaceAdded(ms, place) {
  if (place && typeof place.id === 'string') ms.places[place.id] = { ...place };
}

export function applyPlaceRemoved(ms, id) {
  delete ms.places[id];
}

/** The places oldest first, as the server lists them. */
export function placesInOrder(ms) {
  return Object.values(ms.places).sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
}

/** Members who share a name are told apart by the end of their id (at least 3 characters,
 *  more when even those agree): playerId -> tag, for those who need one. */
export function memberTags(members) {
  const byName = new Map();
  for (const m of Object.values(members)) {
    const key = m.name.trim().toLocaleLowerCase();
    if (!byName.has(key)) byName.set(key, []);
    byName.get(key).push(m.id);
  }
  const tags = new Map();
  for (const ids of byName.values()) {
    if (ids.length < 2) continue;
    let n = 3;
    const longest = Math.max(...ids.map((id) => id.length));
    while (n < longest && new Set(ids.map((id) => id.slice(-n))).size < ids.length) n++;
    for (const id of ids) tags.set(id, id.slice(-n));
  }
  return tags;
}

/** Exposes a read-only debug handle for tests and the curious. */
export function exposeDebugHandle() {
  const handle = Object.freeze({
    get state() {
      return state;
    },
    /** A deep copy, safe to serialise. */
    snapshot() {
      return JSON.parse(JSON.stringify(state, (k, v) => (k === 'token' ? undefined : v)));
    },
  });
  try {
    Object.defineProperty(window, '__marauder', { value: handle, writable: false, configurable: false });
  } catch {
    // already defined (hot reload)
  }
}
