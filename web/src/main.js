// Entry point: wires the session, the one WebSocket, your position and the hash routes.

import 'leaflet/dist/leaflet.css'; // before ours, so that ours wins
import './styles.css';
import * as api from './api.js';
import { loadConfig } from './config.js';
import { Live, onRevoked } from './live.js';
import { Sharing } from './geo.js';
import { parseHash, hrefs } from './router.js';
import { state, loadSession, saveSession, clearSession, savePaused, exposeDebugHandle } from './store.js';
import { mountHeader } from './ui/header.js';
import { mountSignIn } from './ui/signin.js';
import { mountMaps } from './ui/maps.js';
import { mountJoin } from './ui/join.js';
import { mountPhones } from './ui/phones.js';
import { mountLiveMap } from './ui/livemap.js';
import { mountAccount, mountLinkSignedIn, confirmSignOut } from './ui/account.js';
import { toast } from './ui/toast.js';
import { downloadTrail } from './ui/trailfile.js';
import { ask } from './ui/dom.js';

exposeDebugHandle();

const REVOKED = 'This browser was signed out from another device.';

const root = document.getElementById('main');
let screen = null;
let configPromise = null;
let lastProbe = 0;
/** Maps this player is known to be on (from GET /players/me and joins): a map link to any
 *  other map first asks the map's preview, to offer "Join" instead of a refusal. */
const memberOf = new Set();

const header = mountHeader(document.getElementById('topbar'), {
  state,
  onTogglePause: () => {
    savePaused(!state.sharing.paused);
    sharing.start(state.sharing.paused);
    toast(state.sharing.paused ? 'Sharing paused: nobody sees you move.' : 'Sharing your position again.', { key: 'sharing' });
  },
  onSignOut: () => signOut(),
  onDownloadTrail: (format) => downloadTrail({ api, toast }, format),
});

const live = new Live({
  onState: (conn) => {
    state.conn = conn;
    header.update();
  },
  onSnapshot: (msg) => screen?.onSnapshot?.(msg),
  onEvents: (mapId, events) => screen?.onEvents?.(mapId, events),
  onUnsubscribed: (mapId, reason) => {
    if (reason !== 'slow') memberOf.delete(mapId);
    screen?.onUnsubscribed?.(mapId, reason);
  },
  onServerError: (msg) => {
    if (msg.map && (msg.code === 'forbidden' || msg.code === 'not_found')) memberOf.delete(msg.map);
    toast(api.liveErrorWords(msg), { kind: 'error', key: 'live-error' });
    screen?.onServerError?.(msg);
  },
  // A refused upgrade shows no status to a browser: ask REST whether the token still
  // works (a 401 there signs out), at most every 15 s.
  onConnectFailed: () => {
    if (Date.now() - lastProbe < 15_000) return;
    lastProbe = Date.now();
    api.me().catch(() => {});
  },
});
// The socket closed for good: 4001, this session was signed out from another device; 1008,
// the player was deleted.
onRevoked((code) => endSession(code === 1008 ? 'Your player no longer exists: please sign in again.' : REVOKED));

const sharing = new Sharing({
  send: (loc) => {
    state.sharing.last = loc;
    if (live.sendLocation(loc)) return;
    api.postLocation(loc).catch((err) => {
      if (err.status && err.status !== 401) toast(err.message, { kind: 'error', key: 'post-location' });
    });
  },
  onChange: (mode, error) => {
    state.sharing.mode = mode;
    state.sharing.error = error;
    header.update();
    screen?.onSharingChange?.(mode);
  },
});

// A token that stopped working was, almost always, signed out from another device.
api.setUnauthorizedHandler(() => endSession(REVOKED));

function startSession() {
  api.setToken(state.player.token);
  live.start(state.player.token);
  sharing.start(state.sharing.paused);
  header.update();
}

function endSession(message) {
  if (!state.player) return;
  unmount();
  live.stop();
  sharing.stop();
  api.setToken(null);
  clearSession();
  memberOf.clear();
  header.update();
  if (message) toast(message, { key: 'session', timeout: 12_000 });
  // The page of the player who left means nothing to whoever signs in next; an invite or a
  // sign-in link still does.
  if (!['join', 'link'].includes(parseHash(location.hash).name)) history.replaceState(null, '', hrefs.maps());
  route();
}

/** Signs this browser out, after asking (and warning when it is the player's last
 *  session): the token is revoked on the server, not just forgotten here. */
async function signOut() {
  if (!state.player) return;
  const answer = await confirmSignOut(ctx);
  if (answer === 'link') {
    ctx.wantLink = true;
    navigate(hrefs.account());
    return;
  }
  if (answer !== 'out' || !state.player) return;
  try {
    await api.deleteSession('current');
  } catch {
    // Offline or already revoked: the token is forgotten here all the same.
  }
  endSession('You are signed out of this browser.');
}

function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) return route();
  if (replace) {
    history.replaceState(null, '', hash);
    route();
  } else {
    location.hash = hash;
  }
}

const ctx = {
  state,
  api,
  live,
  sharing,
  toast,
  ask,
  navigate,
  signOut,
  /** Set when the account screen should make a sign-in link as soon as it opens. */
  wantLink: false,
  config: () => (configPromise ||= loadConfig().then((c) => (state.config = c))),
  signedIn(player) {
    saveSession(player);
    startSession();
    route();
  },
  /** Stops this browser sharing your position (remembered, like the header's switch). */
  pauseSharing() {
    if (state.sharing.paused) return false;
    savePaused(true);
    sharing.start(true);
    return true;
  },
  /** Shares this browser's position again (the header's switch, turned back on). */
  resumeSharing() {
    if (!state.sharing.paused) return false;
    savePaused(false);
    sharing.start(false);
    return true;
  },
  updatePlayerName(name) {
    if (state.player && name && state.player.name !== name) {
      saveSession({ ...state.player, name });
      header.update();
    }
  },
  /** The maps this player is on (a GET /players/me answer's), replacing what was known. */
  rememberMaps(maps) {
    memberOf.clear();
    for (const m of maps || []) memberOf.add(m.id);
  },
  rememberMap(id) {
    memberOf.add(id);
  },
};

function unmount() {
  try {
    screen?.cleanup?.();
  } finally {
    screen = null;
  }
}

const TITLES = {
  signin: 'Sign in',
  maps: 'Your maps',
  phones: 'Your phones',
  account: 'Your account',
  join: 'Join a map',
  link: 'Sign in with a link',
};

function route() {
  unmount();
  const r = parseHash(location.hash);
  const gate = r.name === 'map' && state.player && !memberOf.has(r.mapId);
  const name = !state.player ? (r.name === 'link' ? 'link' : 'signin') : gate ? 'join' : r.name;
  document.body.dataset.screen = name;
  header.update();
  document.title = TITLES[name] ? `${TITLES[name]} · The Marauder's Map` : "The Marauder's Map";
  if (!state.player) {
    screen = mountSignIn(root, ctx, r);
    return;
  }
  switch (r.name) {
    case 'maps':
      screen = mountMaps(root, ctx);
      break;
    case 'phones':
      screen = mountPhones(root, ctx);
      break;
    case 'account':
      screen = mountAccount(root, ctx);
      break;
    case 'link':
      screen = mountLinkSignedIn(root, ctx, r);
      break;
    case 'map':
      // Not known to be on it: the join screen reads its preview and offers "Join", or
      // opens it at once when this browser was a member after all.
      screen = gate ? mountJoin(root, ctx, { ...r, code: null, gate: true }) : mountLiveMap(root, ctx, r);
      break;
    case 'join':
      screen = mountJoin(root, ctx, r);
      break;
    default:
      history.replaceState(null, '', hrefs.maps());
      route();
  }
}

// The skip link must not become a route.
document.querySelector('.skip-link')?.addEventListener('click', (e) => {
  e.preventDefault();
  root.focus();
});

window.addEventListener('hashchange', route);
ctx.config(); // start reading /config.json early
if (loadSession()) startSession();
route();
