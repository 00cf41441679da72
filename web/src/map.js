// Leaflet drawing: the parchment map, one ink marker (footprints + name) per player, and a
// dotted trail of footprints that fades with age.

import L from 'leaflet';

const INK = '#3b2412';
const SELF_INK = '#7a1f12';
const TRAIL_BUCKETS = [0.18, 0.35, 0.55, 0.8]; // opacity, oldest to newest

const FOOTPRINTS = `<svg class="mm-feet" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
<g fill="currentColor">
<ellipse cx="8" cy="15.5" rx="2.6" ry="4.2" transform="rotate(-14 8 15.5)"/>
<ellipse cx="8.9" cy="21" rx="1.7" ry="1.5"/>
<circle cx="5.7" cy="10.4" r="0.9"/><circle cx="7.3" cy="9.8" r="0.9"/><circle cx="9" cy="9.9" r="0.9"/>
<ellipse cx="16" cy="8.5" rx="2.6" ry="4.2" transform="rotate(14 16 8.5)"/>
<ellipse cx="15.1" cy="14" rx="1.7" ry="1.5"/>
<circle cx="18.3" cy="3.4" r="0.9"/><circle cx="16.7" cy="2.8" r="0.9"/><circle cx="15" cy="2.9" r="0.9"/>
</g></svg>`;

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

export class MapView {
  /**
   * config: {tiles, attribution}; options: {onClick(lat, lon), onTileError()}
   */
  constructor(el, config, { onClick, onTileError } = {}) {
    this.map = L.map(el, {
      center: [20, 0],
      zoom: 2,
      minZoom: 2,
      worldCopyJump: true,
      zoomControl: true,
      attributionControl: true,
    });
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com" target="_blank" rel="noopener">Leaflet</a>');
    if (config.tiles) {
      this.tiles = L.tileLayer(config.tiles, {
        attribution: config.attribution || '',
        maxZoom: 19,
        // tile servers (OpenStreetMap's among them) want to know the page's origin
        referrerPolicy: 'strict-origin-when-cross-origin',
      }).addTo(this.map);
      let reported = false;
      this.tiles.on('tileerror', () => {
        if (!reported) {
          reported = true;
          onTileError?.();
        }
      });
    } else {
      el.classList.add('mm-no-tiles');
    }
    this.trailRenderer = L.canvas({ padding: 0.3 });
    /** playerId -> L.Marker */
    this.markers = new Map();
    /** playerId -> L.Polyline[] (one per age bucket) */
    this.trails = new Map();
    this.onClick = onClick;
    this.map.on('click', (e) => this.onClick?.(e.latlng.lat, e.latlng.lng));
  }

  setClickMode(on) {
    this.map.getContainer().classList.toggle('mm-click-mode', !!on);
  }

  /** Adds or moves a player's marker. p: {name, lat, lon, self} */
  upsertPlayer(id, p) {
    let m = this.markers.get(id);
    const latlng = [p.lat, p.lon];
    if (!m) {
      const icon = L.divIcon({
        className: `mm-marker${p.self ? ' mm-self' : ''}`,
        html: `<span class="mm-dot">${FOOTPRINTS}</span><span class="mm-name">${escapeHtml(p.name)}${p.self ? ' <small>(you)</small>' : ''}</span>`,
        iconSize: [28, 28],
        iconAnchor: [14, 14],
      });
      m = L.marker(latlng, { icon, keyboard: false, title: p.name, riseOnHover: true, zIndexOffset: p.self ? 1000 : 0 });
      m.on('add', () => this._syncAttrs(id, m));
      m.addTo(this.map);
      this.markers.set(id, m);
    } else {
      m.setLatLng(latlng);
    }
    this._syncAttrs(id, m);
  }

  _syncAttrs(id, m) {
    const el = m.getElement();
    if (!el) return;
    const ll = m.getLatLng();
    el.setAttribute('data-testid', 'marker');
    el.setAttribute('data-player', id);
    el.setAttribute('data-lat', String(ll.lat));
    el.setAttribute('data-lon', String(ll.lng));
  }

  setStale(id, stale) {
    this.markers.get(id)?.getElement()?.classList.toggle('mm-stale', !!stale);
  }

  removePlayer(id) {
    this.markers.get(id)?.remove();
    this.markers.delete(id);
    this.setTrail(id, []);
  }

  /** Redraws a player's trail (points oldest first) as dotted lines fading with age. */
  setTrail(id, points, self = false) {
    for (const line of this.trails.get(id) || []) line.remove();
    this.trails.delete(id);
    if (!points || points.length < 2) return;
    const n = points.length;
    const buckets = TRAIL_BUCKETS.length;
    const lines = [];
    for (let b = 0; b < buckets; b++) {
      const from = Math.floor((b * (n - 1)) / buckets);
      const to = Math.floor(((b + 1) * (n - 1)) / buckets);
      if (to <= from) continue;
      const latlngs = points.slice(from, to + 1).map((p) => [p.lat, p.lon]);
      lines.push(
        L.polyline(latlngs, {
          renderer: this.trailRenderer,
          color: self ? SELF_INK : INK,
          opacity: TRAIL_BUCKETS[b],
          weight: 4,
          lineCap: 'round',
          lineJoin: 'round',
          dashArray: '0.1 9',
          interactive: false,
        }).addTo(this.map),
      );
    }
    this.trails.set(id, lines);
  }

  clearAll() {
    for (const id of [...this.markers.keys()]) this.removePlayer(id);
    for (const id of [...this.trails.keys()]) this.setTrail(id, []);
  }

  /** Fits the view to these [lat, lon] points (no-op for none). */
  fitTo(latlngs) {
    if (!latlngs.length) return;
    if (latlngs.length === 1) {
      this.map.setView(latlngs[0], 16);
      return;
    }
    this.map.fitBounds(L.latLngBounds(latlngs), { padding: [48, 48], maxZoom: 17 });
  }

  panTo(id) {
    const m = this.markers.get(id);
    if (!m) return false;
    this.map.setView(m.getLatLng(), Math.max(this.map.getZoom(), 15), { animate: true });
    return true;
  }

  center() {
    const c = this.map.getCenter();
    return { lat: c.lat, lon: c.lng };
  }

  invalidateSize() {
    this.map.invalidateSize();
  }

  destroy() {
    this.map.remove();
    this.markers.clear();
    this.trails.clear();
  }
}
