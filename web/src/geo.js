// Your own position: watches the device's location (when allowed and not paused) and hands
// every fix to `send`. When geolocation is unavailable or denied, it switches to "click the
// map to place yourself" mode.

/** Builds a contract location body from a GeolocationPosition (no nulls, integer ts). */
export function locationFromPosition(pos) {
  const c = pos.coords;
  const loc = { lat: c.latitude, lon: c.longitude };
  const finite = (v) => typeof v === 'number' && Number.isFinite(v);
  if (finite(c.accuracy) && c.accuracy >= 0) loc.accuracy = c.accuracy;
  if (finite(c.altitude)) loc.altitude = c.altitude;
  if (finite(c.speed) && c.speed >= 0) loc.speed = c.speed;
  if (finite(c.heading) && c.heading >= 0) loc.heading = c.heading % 360;
  loc.ts = Math.floor(finite(pos.timestamp) ? pos.timestamp : Date.now());
  return loc;
}

export class Sharing {
  /**
   * send(loc): delivers a location; onChange(mode, error): the mode changed.
   * Modes: 'off' (signed out), 'paused', 'watching', 'click' (no geolocation: place by click).
   */
  constructor({ send, onChange }) {
    this.send = send;
    this.onChange = onChange;
    this.watchId = null;
    this.mode = 'off';
    this.error = null;
    this.lastKey = null;
  }

  /** Starts (or restarts) according to `paused`. */
  start(paused) {
    this._clearWatch();
    if (paused) return this._set('paused', null);
    if (!('geolocation' in navigator) || !window.isSecureContext) {
      return this._set('click', 'Your position cannot be found by this browser here.');
    }
    this._set('watching', null);
    this.watchId = navigator.geolocation.watchPosition(
      (pos) => this._fix(pos),
      (err) => this._fail(err),
      { enableHighAccuracy: true, maximumAge: 5_000, timeout: 30_000 },
    );
  }

  stop() {
    this._clearWatch();
    this._set('off', null);
  }

  /** Places yourself by hand (click mode). */
  place(lat, lon) {
    if (this.mode === 'paused' || this.mode === 'off') return;
    const loc = {
      lat: Math.max(-90, Math.min(90, lat)),
      lon: ((((lon + 180) % 360) + 360) % 360) - 180,
      ts: Date.now(),
    };
    this.send(loc);
  }

  _fix(pos) {
    if (this.mode === 'paused' || this.mode === 'off') return;
    const loc = locationFromPosition(pos);
    const key = `${loc.lat},${loc.lon},${loc.ts}`;
    if (key === this.lastKey) return; // the same fix delivered twice
    this.lastKey = key;
    if (this.mode !== 'watching') this._set('watching', null);
    this.send(loc);
  }

  _fail(err) {
    if (err.code === 1) {
      // PERMISSION_DENIED: no more fixes will come
      this._clearWatch();
      this._set('click', 'Location permission was refused.');
    } else {
      // POSITION_UNAVAILABLE or TIMEOUT: the watch goes on; meanwhile allow placing by hand
      this._set('click', err.code === 3 ? 'Your position is taking long to find.' : 'Your position is unavailable.');
    }
  }

  _clearWatch() {
    if (this.watchId !== null && 'geolocation' in navigator) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = null;
  }

  _set(mode, error) {
    if (this.mode === mode && this.error === error) return;
    this.mode = mode;
    this.error = error;
    this.onChange?.(mode, error);
  }
}
