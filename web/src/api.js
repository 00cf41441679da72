// REST client for the Marauder v1 API. Same origin: every path is `/api/v1/...`.
// Every 4xx/5xx body is {"error": {"code", "message"}}; it becomes an ApiError whose
// `message` is a sentence written here for a person, chosen by the situation (the call and
// the status). The server's own wording stays in `serverMessage`, for debugging only: it
// names ids and fields ("not a member of map pKwW…") that mean nothing to the reader.

const BASE = '/api/v1';

let token = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, code, message, serverMessage = '') {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.serverMessage = serverMessage;
  }
}

/** What any call answers, by status, when the call says nothing more precise. */
const GENERIC = {
  0: 'The server cannot be reached: check your connection, then try again.',
  400: 'That was not accepted: check what you typed, then try again.',
  401: 'This browser is no longer signed in: please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'That is no longer there.',
  409: 'That changed meanwhile: reload the page and try again.',
  413: 'That is too large to send.',
  415: 'Something in this page is out of date: reload it and try again.',
  500: 'Something went wrong on the server: try again in a moment.',
  503: 'The server is busy or restarting: try again in a moment.',
};

/** The sentence for a failed call: the call's own words for this status, else the generic
 *  ones. A 429 always says how long to wait. */
export function plainWords(status, words = {}, retryAfter = null) {
  if (status === 429) return tooManyTries(retryAfter);
  if (words[status]) return words[status];
  if (GENERIC[status]) return GENERIC[status];
  if (status >= 500) return GENERIC[500];
  return GENERIC[400];
}

/** Sets the bearer token sent with every authenticated call (null: none). */
export function setToken(value) {
  token = value || null;
}

/** Called (once per failing call) when the server answers 401 to an authenticated call. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** `words`: {status: sentence} for this call's situations (see plainWords). */
async function request(method, path, { body, auth = true, query, words } = {}) {
  const headers = { accept: 'application/json' };
  if (auth && token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let url = BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, String(v));
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }

  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, cache: 'no-store' });
  } catch {
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    throw new ApiError(0, 'network', offline ? 'You are offline: reconnect, then try again.' : plainWords(0, words));
  }
  if (res.status === 204) return null;
  const data = parseJson(await res.text());
  if (!res.ok) throw failure(res, data, words, auth);
  return data;
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** The ApiError of a failed answer (its body already parsed: `data`). */
function failure(res, data, words, auth) {
  const err = data && typeof data === 'object' && data.error ? data.error : {};
  const code = typeof err.code === 'string' ? err.code : `http_${res.status}`;
  const server = typeof err.message === 'string' ? err.message : '';
  const error = new ApiError(res.status, code, plainWords(res.status, words, res.headers.get('retry-after')), server);
  if (res.status === 401 && auth) onUnauthorized(error);
  return error;
}

/** One's own whole trail as a file, `format` 'gpx' or 'geojson': a Blob. A server without
 *  the export answers 404. */
export async function downloadMyTrail(format) {
  const words = { 404: 'This server cannot export trails yet.' };
  let res;
  try {
    res = await fetch(`${BASE}/players/me/trail?format=${encodeURIComponent(format)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network', plainWords(0, words));
  }
  if (!res.ok) throw failure(res, parseJson(await res.text()), words, true);
  return res.blob();
}

/** A 429 in words for a person: the server refuses guesses and sign-ups past a burst, per
 *  network address, for `Retry-After` seconds. */
function tooManyTries(retryAfter) {
  const secs = Number.parseInt(retryAfter, 10);
  const wait = Number.isFinite(secs) && secs > 0 ? (secs === 1 ? 'a second' : `${secs} seconds`) : 'a little while';
  return `Too many tries from your network just now: wait ${wait}, then try again.`;
}

/** A WebSocket `error` frame in plain words (its `message` is the server's wording). */
export function liveErrorWords(msg) {
  if (msg?.code === 'forbidden') return 'You are no longer a member of that map.';
  if (msg?.code === 'not_found') return 'That map no longer exists.';
  if (msg?.code === 'rate_limited') return tooManyTries(null);
  if (msg?.code === 'unavailable') return GENERIC[503];
  return 'The live connection refused a message: reload the page if the map stops moving.';
}

const MAP_GONE = 'This map no longer exists: its owner may have deleted it.';
const NOT_MEMBER = 'You are not a member of this map.';
const WRONG_INVITE = 'This invite link is wrong or out of date: ask a member of the map for a new one.';

// Players
export const createPlayer = (name) =>
  request('POST', '/players', { body: { name }, auth: false, words: { 400: 'That name cannot be used: a name of 1 to 64 characters, please.' } });
export const me = () => request('GET', '/players/me');
export const renamePlayer = (name) =>
  request('PATCH', '/players/me', { body: { name }, words: { 400: 'That name cannot be used: a name of 1 to 64 characters, please.' } });

// Sessions: one player signed in on many devices. A link code signs another browser in as
// this player; each signed-in browser is a session that can be signed out from any other.
export const createLinkCode = () =>
  request('POST', '/players/me/link-codes');
export const redeemLinkCode = (code) =>
  request('POST', '/sessions', {
    body: { code },
    auth: false,
    words: {
      400: 'This sign-in link is not complete: copy the whole link and try again.',
      403: 'This sign-in link has already been used or has expired: a link works once, for 10 minutes.',
    },
  });
export const listSessions = () => request('GET', '/players/me/sessions').then((d) => (d && d.sessions) || []);
export const deleteSession = (id) =>
  request('DELETE', `/players/me/sessions/${encodeURIComponent(id)}`, { words: { 404: 'That device was already signed out.' } });

// Maps
/** One page of public maps, most members first: `{maps, next}`; pass `next` back as `after`
 *  for the following page. `q` keeps the maps whose name contains it. */
export const listPublicMaps = ({ q, after } = {}) =>
  request('GET', '/maps', { auth: false, query: { q: q || undefined, after } }).then((d) => ({
    maps: (d && d.maps) || [],
    next: (d && d.next) || null,
  }));
export const createMap = (name, visibility) =>
  request('POST', '/maps', { body: { name, visibility }, words: { 400: 'That map name cannot be used: 1 to 64 characters, please.' } });
export const getMap = (id) => request('GET', `/maps/${encodeURIComponent(id)}`, { words: { 403: NOT_MEMBER, 404: MAP_GONE } });
/** What a map's invite screen shows before joining: `{id, name, visibility, owner: {id,
 *  name}, members, member}`. A private map needs its invite code (or membership). */
export const previewMap = (id, inviteCode) =>
  request('GET', `/maps/${encodeURIComponent(id)}/preview`, {
    query: { invite_code: inviteCode || undefined },
    words: { 403: inviteCode ? WRONG_INVITE : 'This map is private: only an invite link from a member lets you in.', 404: MAP_GONE },
  });
export const joinMap = (id, inviteCode) =>
  request('POST', `/maps/${encodeURIComponent(id)}/join`, {
    body: inviteCode ? { invite_code: inviteCode } : undefined,
    words: { 403: inviteCode ? WRONG_INVITE : 'This map is private: only an invite link from a member lets you in.', 404: MAP_GONE },
  });
export const leaveMap = (id) => request('POST', `/maps/${encodeURIComponent(id)}/leave`, { words: { 404: MAP_GONE } });

// Places: named circles on a map, drawn and removed by its members (the creator or the map's
// owner removes one). Arrivals and departures come through the socket.
const PLACE_WORDS = {
  403: NOT_MEMBER,
  404: MAP_GONE,
};
/** The 400 of a new place in words: the map is full, or a field is out of range. */
export const PLACES_FULL = 'This map has 100 places already: remove one before drawing another.';
const PLACE_REFUSED = 'That place cannot be saved: give it a name of 1 to 64 characters and a radius from 10 m to 50 km.';
export const listPlaces = (id) =>
  request('GET', `/maps/${encodeURIComponent(id)}/places`, { words: PLACE_WORDS }).then((d) => (d && d.places) || []);
export const createPlace = (id, place) =>
  request('POST', `/maps/${encodeURIComponent(id)}/places`, { body: place, words: { ...PLACE_WORDS, 400: PLACE_REFUSED } }).catch((err) => {
    // Only the server knows the map is full; its wording names the limit.
    if (err.status === 400 && /at most/.test(err.serverMessage)) err.message = PLACES_FULL;
    throw err;
  });
export const deletePlace = (id, place) =>
  request('DELETE', `/maps/${encodeURIComponent(id)}/places/${encodeURIComponent(place)}`, {
    words: { 403: "Only the member who drew a place, or the map's owner, can remove it.", 404: 'That place was already removed.' },
  });

// Phones: per-device credentials for OwnTracks, Traccar Client and OsmAnd. The secret is in
// the create answer only; the list never has it.
export const createDevice = (name) =>
  request('POST', '/players/me/devices', {
    body: { name },
    words: { 400: 'That phone could not be added: give it a name of 1 to 64 characters (and at most 20 phones in all).' },
  });
export const listDevices = () => request('GET', '/players/me/devices').then((d) => d.devices || []);
export const deleteDevice = (id) =>
  request('DELETE', `/players/me/devices/${encodeURIComponent(id)}`, { words: { 404: 'That phone was already revoked.' } });

// Locations
export const postLocation = (loc) =>
  request('POST', '/locations', { body: loc, words: { 400: 'Your position could not be read: it was not shared.' } });
/** `until` (points with ts <= until) is refused with a 400 by a server that predates it. */
export const getTrail = (mapId, playerId, { since, until, limit } = {}) =>
  request('GET', `/maps/${encodeURIComponent(mapId)}/trails/${encodeURIComponent(playerId)}`, {
    query: { since, until, limit },
    words: { 403: NOT_MEMBER, 404: 'That person is no longer on this map.' },
  });

/** A player's recent trail, oldest first, at most `keep` points.
 *  The endpoint returns the *oldest* `limit` points after `since`, so when the history is
 *  longer than one page, jump to a recent window (before the player's latest point) and page
 *  forward from there. */
export async function getRecentTrail(mapId, playerId, { keep = 200, anchorTs, windowMs = 3600_000, maxPages = 10 } = {}) {
  const PAGE = 1000;
  const first = await getTrail(mapId, playerId, { limit: PAGE });
  let points = first.points || [];
  if (points.length < PAGE) return points.slice(-keep);
  let since = Math.max(points[points.length - 1].ts, (anchorTs ?? Date.now()) - windowMs);
  for (let page = 0; page < maxPages; page++) {
    const next = (await getTrail(mapId, playerId, { since, limit: PAGE })).points || [];
    points = points.concat(next).slice(-Math.max(keep, PAGE));
    if (next.length < PAGE) break;
    since = next[next.length - 1].ts;
  }
  return points.slice(-keep);
}

// ---- Map administration (the map's owner only; the live map's settings, ui/mapadmin.js) ----
// The page words each failure itself (ui/mapadmin.js adminError); `words` keep the
// messages plain for any other caller.
const ADMIN_WORDS = {
  403: "Only the map's owner can do that.",
  404: 'This map (or that member) is no longer there.',
};
/** Renames the map and/or changes its visibility: `{name?, visibility?}` → the map's body. */
export const updateMap = (id, changes) =>
  request('PATCH', `/maps/${encodeURIComponent(id)}`, {
    body: changes,
    words: { ...ADMIN_WORDS, 400: 'That map name cannot be used: 1 to 64 characters, please.' },
  });
/** A new invite code for a private map (the old one stops working): `{invite_code}`. */
export const newInviteCode = (id) =>
  request('POST', `/maps/${encodeURIComponent(id)}/invite-code`, {
    words: { ...ADMIN_WORDS, 400: 'A public map has no invite link: anyone can join it.' },
  });
export const removeMember = (id, player) =>
  request('DELETE', `/maps/${encodeURIComponent(id)}/members/${encodeURIComponent(player)}`, {
    words: { ...ADMIN_WORDS, 400: 'You cannot remove yourself: leave the map instead.' },
  });
export const deleteMap = (id) => request('DELETE', `/maps/${encodeURIComponent(id)}`, { words: ADMIN_WORDS });
// ---- end of map administration ----
