// The one WebSocket of the app: connects with the token, follows maps (subscribe, resume
// with `since` after a drop), drops events already seen (seq per map), and reconnects with
// exponential backoff (0.5 s doubling to 10 s, with jitter).

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

/** Close code: the token that opened the socket was revoked (signed out from elsewhere). */
export const CLOSE_SESSION_REVOKED = 4001;
/** Close code: the player was deleted. */
export const CLOSE_PLAYER_DELETED = 1008;

const revokedHooks = new Set();

/** Calls `callback(code)` when the server ends the socket for good: the session was revoked
 *  (4001) or the player deleted (1008). No reconnection follows either. Returns an
 *  unsubscribe function. */
export function onRevoked(callback) {
  revokedHooks.add(callback);
  return () => revokedHooks.delete(callback);
}

export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
  return Math.round(base * (0.75 + 0.5 * random())); // ±25 % jitter
}

export class Live {
  /**
   * handlers: onState(conn), onSnapshot(msg), onEvents(mapId, events),
   * onUnsubscribed(mapId, reason), onServerError(msg), onConnectFailed(), onRevoked(code)
   * (as the module's onRevoked: 4001 session revoked, 1008 player deleted)
   */
  constructor(handlers) {
    this.h = handlers;
    this.token = null;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.conn = 'offline';
    /** mapId -> {lastSeq: number | null} */
    this.followed = new Map();
    this._online = () => this._reconnectNow();
    this._offline = () => this._setState(this.ws && this.ws.readyState === WebSocket.OPEN ? 'connected' : 'offline');
    this._visible = () => {
      if (document.visibilityState === 'visible') this._reconnectNow();
    };
  }

  start(token) {
    this.stop();
    this.token = token;
    window.addEventListener('online', this._online);
    window.addEventListener('offline', this._offline);
    document.addEventListener('visibilitychange', this._visible);
    this._connect();
  }

  stop() {
    this.token = null;
    clearTimeout(this.timer);
    this.timer = null;
    window.removeEventListener('online', this._online);
    window.removeEventListener('offline', this._offline);
    document.removeEventListener('visibilitychange', this._visible);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
      try {
        ws.close(1000, 'signed out');
      } catch {
        /* already closed */
      }
    }
    this.followed.clear();
    this._setState('offline');
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Follows a map from a fresh snapshot (drops what was known of it). */
  follow(mapId) {
    this.followed.set(mapId, { lastSeq: null });
    this._subscribe(mapId);
  }

  unfollow(mapId) {
    if (!this.followed.delete(mapId)) return;
    this._send({ type: 'unsubscribe', map: mapId });
  }

  /** Asks for what was missed since the last seq seen (or a fresh snapshot). */
  resume(mapId) {
    if (this.followed.has(mapId)) this._subscribe(mapId);
  }

  lastSeq(mapId) {
    return this.followed.get(mapId)?.lastSeq ?? null;
  }

  /** Sends a location frame; false when the socket is not open (the caller may POST it). */
  sendLocation(loc) {
    return this._send({ type: 'location', ...loc });
  }

  // ---- internals -------------------------------------------------------------------

  _setState(conn) {
    if (this.conn === conn) return;
    this.conn = conn;
    this.h.onState?.(conn);
  }

  _send(obj) {
    if (!this.isOpen) return false;
    try {
      this.ws.send(JSON.stringify(obj));
      return true;
    } catch {
      return false;
    }
  }

  _subscribe(mapId) {
    const f = this.followed.get(mapId);
    if (!f) return;
    const frame = { type: 'subscribe', map: mapId };
    if (f.lastSeq !== null) frame.since = f.lastSeq;
    this._send(frame);
  }

  _url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/api/v1/ws?access_token=${encodeURIComponent(this.token)}`;
  }

  _connect() {
    if (!this.token) return;
    clearTimeout(this.timer);
    this.timer = null;
    if (navigator.onLine === false) {
      this._setState('offline');
      return; // the 'online' event brings us back
    }
    this._setState('reconnecting');
    let ws;
    try {
      ws = new WebSocket(this._url());
    } catch {
      this._scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this._setState('connected');
      for (const mapId of this.followed.keys()) this._subscribe(mapId);
    };
    ws.onmessage = (e) => this._onMessage(e.data);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code === CLOSE_SESSION_REVOKED || e.code === CLOSE_PLAYER_DELETED) {
        // the token is dead: reconnecting (on 'online', on a visible tab) would only be refused
        this.stop();
        this.h.onRevoked?.(e.code);
        for (const hook of [...revokedHooks]) hook(e.code);
        return;
      }
      this._scheduleReconnect(opened);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  _scheduleReconnect(opened) {
    if (!this.token) return;
    if (!opened) this.h.onConnectFailed?.(this.attempt);
    if (!this.token) return; // the failure handler may have signed out
    this._setState(navigator.onLine === false ? 'offline' : 'reconnecting');
    const delay = backoffDelay(this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _reconnectNow() {
    if (!this.token || this.ws) return;
    this.attempt = 0;
    this._connect();
  }

  _onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'snapshot': {
        const f = this.followed.get(msg.map);
        if (!f) return;
        f.lastSeq = msg.seq;
        this.h.onSnapshot?.(msg);
        break;
      }
      case 'events': {
        const f = this.followed.get(msg.map);
        if (!f) return;
        const fresh = [];
        for (const ev of msg.events || []) {
          if (f.lastSeq !== null && ev.seq <= f.lastSeq) continue; // seen already
          f.lastSeq = ev.seq;
          fresh.push(ev);
        }
        if (fresh.length) this.h.onEvents?.(msg.map, fresh);
        break;
      }
      case 'unsubscribed': {
        if (!this.followed.has(msg.map)) return;
        if (msg.reason === 'slow') {
          this._subscribe(msg.map); // resume from the last seq seen
        } else {
          this.followed.delete(msg.map);
          this.h.onUnsubscribed?.(msg.map, msg.reason);
        }
        break;
      }
      case 'error':
        if (msg.map && (msg.code === 'forbidden' || msg.code === 'not_found')) this.followed.delete(msg.map);
        this.h.onServerError?.(msg);
        break;
      default:
        // unknown types may be added by the server: ignore
        break;
    }
  }
}
