// Entry point: wires the session, the one WebSocket, your position and the hash routes.

import 'leaflet/dist/leaflet.css'; // before ours, so that ours wins
import './styles.css';
import * as api from './api.js';
import { loadConfig } from './config.js';
import { Live } from './live.js';
import { Sharing } from './geo.js';
import { parseHash, hrefs } from './router.js';
import { state, loadSession, saveSession, clearSession, savePaused, exposeDebugHandle } from './store.js';
import { mountHeader } from './ui/header.js';
import { mountSignIn } from './ui/signin.js';
import { mountMaps } from './ui/maps.js';
import { mountJoin } from './ui/join.js';
import { mountPhones } from './ui/phones.js';
import { mountLiveMap } from './ui/livemap.js';
import { toast } from './ui/toast.js';

exposeDebugHandle();

const root = document.getElementById('main');
let screen = null;
let configPromise = null;
let lastProbe = 0;

const header = mountHeader(document.getElementById('topbar'), {
  state,
  onTogglePause: () => {
    savePaused(!state.sharing.paused);
    sharing.start(state.sharing.paused);
    toast(state.sharing.paused ? 'Sharing paused: nobody sees you move.' : 'Sharing your position again.');
  },
  onSignOut: () => endSession('Mischief managed. You are signed out.'),
});

const live = new Live({
  onState: (conn) => {
    state.conn = conn;
    header.update();
  },
  onSnapshot: (msg) => screen?.onSnapshot?.(msg),
  onEvents: (mapId, events) => screen?.onEvents?.(mapId, events),
  onUnsubscribed: (mapId, reason) => screen?.onUnsubscribed?.(mapId, reason),
  onServerError: (msg) => {
    toast(msg.message || `Error: ${msg.code}`, { kind: 'error' });
    screen?.onServerError?.(msg);
  },
  // A refused upgrade shows no status to a browser: ask REST whether the token still
  // works (a 401 there signs out), at most every 15 s.
  onConnectFailed: () => {
    if (Date.now() - lastProbe < 15_000) return;
    lastProbe = Date.now();
    api.me().catch(() => {});
  },
  onRevoked: () => endSession('Your player no longer exists: please sign in again.'),
});

const sharing = new Sharing({
  send: (loc) => {
    state.sharing.last = loc;
    if (live.sendLocation(loc)) return;
    api.postLocation(loc).catch((err) => {
      if (err.status && err.status !== 401) toast(err.message, { kind: 'error' });
    });
  },
  onChange: (mode, error) => {
    state.sharing.mode = mode;
    state.sharing.error = error;
    header.update();
    screen?.onSharingChange?.(mode);
  },
});

api.setUnauthorizedHandler(() => endSession('Your pass was not recognised: please sign in again.'));

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
  header.update();
  if (message) toast(message);
  route();
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
  navigate,
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
  updatePlayerName(name) {
    if (state.player && name && state.player.name !== name) {
      saveSession({ ...state.player, name });
      header.update();
    }
  },
};

function unmount() {
  try {
    screen?.cleanup?.();
  } finally {
    screen = null;
  }
}

function route() {
  unmount();
  const r = parseHash(location.hash);
  document.body.dataset.screen = state.player ? r.name : 'signin';
  if (!state.player) {
    screen = mountSignIn(root, ctx, r);
    document.title = "Sign in · The Marauder's Map";
    return;
  }
  switch (r.name) {
    case 'maps':
      screen = mountMaps(root, ctx);
      document.title = "Your maps · The Marauder's Map";
      break;
    case 'phones':
      screen = mountPhones(root, ctx);
      document.title = "Your phones · The Marauder's Map";
      break;
    case 'map':
      screen = mountLiveMap(root, ctx, r);
      document.title = "The Marauder's Map";
      break;
    case 'join':
      screen = mountJoin(root, ctx, r);
      document.title = "Join a map · The Marauder's Map";
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
header.update();
route();
