// REST client for the Marauder v1 API. Same origin: every path is `/api/v1/...`.
// Every 4xx/5xx body is {"error": {"code", "message"}}; it becomes an ApiError.

const BASE = '/api/v1';

let token = null;
let onUnauthorized = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Sets the bearer token sent with every authenticated call (null: none). */
export function setToken(value) {
  token = value || null;
}

/** Called (once per failing call) when the server answers 401 to an authenticated call. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function request(method, path, { body, auth = true, query } = {}) {
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
    throw new ApiError(0, 'network', 'The castle cannot be reached: check your connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' && data.error ? data.error : {};
    const code = typeof err.code === 'string' ? err.code : `http_${res.status}`;
    const message =
      res.status === 429
        ? tooManyTries(res.headers.get('retry-after'))
        : typeof err.message === 'string' && err.message
          ? err.message
          : `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`;
    const error = new ApiError(res.status, code, message);
    if (res.status === 401 && auth) onUnauthorized(error);
    throw error;
  }
  return data;
}

/** A 429 in words for a person: the server refuses guesses and sign-ups past a burst, per
 *  network address, for `Retry-After` seconds. */
function tooManyTries(retryAfter) {
  const secs = Number.parseInt(retryAfter, 10);
  const wait = Number.isFinite(secs) && secs > 0 ? (secs === 1 ? 'a second' : `${secs} seconds`) : 'a little while';
  return `Too many tries from your network just now: wait ${wait}, then try again.`;
}

// Players
export const createPlayer = (name) => request('POST', '/players', { body: { name }, auth: false });
export const me = () => request('GET', '/players/me');

// Maps
/** One page of public maps, most members first: `{maps, next}`; pass `next` back as `after`
 *  for the following page. `q` keeps the maps whose name contains it. */
export const listPublicMaps = ({ q, after } = {}) =>
  request('GET', '/maps', { auth: false, query: { q: q || undefined, after } }).then((d) => ({
    maps: (d && d.maps) || [],
    next: (d && d.next) || null,
  }));
export const createMap = (name, visibility) => request('POST', '/maps', { body: { name, visibility } });
export const getMap = (id) => request('GET', `/maps/${encodeURIComponent(id)}`);
export const joinMap = (id, inviteCode) =>
  request('POST', `/maps/${encodeURIComponent(id)}/join`, {
    body: inviteCode ? { invite_code: inviteCode } : undefined,
  });
export const leaveMap = (id) => request('POST', `/maps/${encodeURIComponent(id)}/leave`);

// Phones: per-device credentials for OwnTracks, Traccar Client and OsmAnd. The secret is in
// the create answer only; the list never has it.
export const createDevice = (name) => request('POST', '/players/me/devices', { body: { name } });
export const listDevices = () => request('GET', '/players/me/devices').then((d) => d.devices || []);
export const deleteDevice = (id) => request('DELETE', `/players/me/devices/${encodeURIComponent(id)}`);

// Locations
export const postLocation = (loc) => request('POST', '/locations', { body: loc });
export const getTrail = (mapId, playerId, { since, limit } = {}) =>
  request('GET', `/maps/${encodeURIComponent(mapId)}/trails/${encodeURIComponent(playerId)}`, {
    query: { since, limit },
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
