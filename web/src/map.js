// Leaflet drawing: the parchment map, one ink marker (footprints + name) per player, markers
// that would overlap grouped into numbered clusters (Leaflet.markercluster; one's own marker
// never hides in one), labels laid out so that none covers another (labels.js), a dotted
// trail of footprints that fades with age, and a view that follows until the user moves it.

import L from 'leaflet';
import 'leaflet.markercluster';
import 'leaflet.markercluster/dist/MarkerCluster.css';
import { overlaps, placeLabels, truncateName } from './labels.js';

const INK = '#3b2412';
const SELF_INK = '#7a1f12';
const TRAIL_BUCKETS = [0.18, 0.35, 0.55, 0.8]; // opacity, oldest to newest
/** Label length on the map, in characters; the full name shows on hover or tap. */
export const LABEL_CHARS = 16;
/** Free space kept around what the view fits, in px (a label's height and a margin). */
const VIEW_MARGIN = 40;

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

function markerIcon(p) {
  const tag = p.tag ? ` ·${p.tag}` : '';
  const you = p.self ? ' <small>(you)</small>' : '';
  return L.divIcon({
    className: `mm-marker${p.self ? ' mm-self' : ''}`,
    html:
      `<span class="mm-dot">${FOOTPRINTS}</span><span class="mm-name">` +
      `<span class="mm-short">${escapeHtml(truncateName(p.name, LABEL_CHARS) + tag)}</span>` +
      `<span class="mm-full">${escapeHtml(p.name + tag)}</span>${you}</span>`,
    iconSize: [28, 28],
    iconAnchor: [14, 14],
  });
}

function clusterIcon(cluster) {
  const n = cluster.getChildCount();
  const names = cluster.getAllChildMarkers().map((m) => m.options.title);
  const some = names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
  const size = n < 10 ? 36 : n < 100 ? 42 : 48;
  return L.divIcon({
    className: 'mm-cluster',
    html: `<span class="mm-cluster-n" data-testid="cluster" data-count="${n}" title="${escapeHtml(`${some}: tap to see them`)}">${n}</span>`,
    iconSize: [size, size],
  });
}

/** Where an icon will be once its move is done: Leaflet sets the end position at once and
 *  markercluster's animations may still be carrying it there (a CSS transition). */
function finalRect(el) {
  const r = el.getBoundingClientRect();
  if (!el._leaflet_pos) return r; // never positioned by Leaflet
  const end = L.DomUtil.getPosition(el);
  const now = new DOMMatrixReadOnly(getComputedStyle(el).transform);
  const dx = end.x - now.m41;
  const dy = end.y - now.m42;
  return dx || dy ? new DOMRect(r.x + dx, r.y + dy, r.width, r.height) : r;
}

export class MapView {
  /**
   * config: {tiles, attribution}; options: {onClick(lat, lon), onTileError(),
   * onFollowChange(following), obstacles(): elements drawn over the map (the bottom sheet)}
   */
  constructor(el, config, { onClick, onTileError, onFollowChange, obstacles } = {}) {
    this.map = L.map(el, { center: [20, 0], zoom: 2, minZoom: 2, maxZoom: 19, zoomSnap: 0.25, worldCopyJump: true, zoomControl: true, attributionControl: true });
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
    this.el = el;
    this.obstacles = obstacles ?? (() => []);
    this.trailRenderer = L.canvas({ padding: 0.3 });
    this.cluster = L.markerClusterGroup({
      maxClusterRadius: 32,
      showCoverageOnHover: false,
      spiderfyOnMaxZoom: true,
      spiderfyDistanceMultiplier: 1.8,
      removeOutsideVisibleBounds: false,
      iconCreateFunction: clusterIcon,
    }).addTo(this.map);
    /** playerId -> L.Marker */
    this.markers = new Map();
    /** playerId -> {self, ts, stale} */
    this.meta = new Map();
    /** playerId -> L.Polyline[] (one per age bucket) */
    this.trails = new Map();
    this.openId = null;
    this.layoutRaf = 0;
    this.following = true;
    this.onFollowChange = onFollowChange;
    this.onClick = onClick;
    this.map.on('click', (e) => {
      this._openLabel(null);
      this.onClick?.(e.latlng.lat, e.latlng.lng);
    });
    // labels laid out before a move are stale until the one after it (tests wait on this)
    this.map.on('zoomstart movestart', () => (this.el.dataset.labelsPending = 'true'));
    this.map.on('zoomend moveend resize viewreset', () => this.scheduleLayout());
    this.cluster.on('animationend spiderfied unspiderfied', () => this.scheduleLayout());
    this._watchUser();
  }

  setClickMode(on) {
    this.map.getContainer().classList.toggle('mm-click-mode', !!on);
  }

  /** Adds or moves a player's marker. p: {name, tag, lat, lon, self, ts} */
  upsertPlayer(id, p) {
    let m = this.markers.get(id);
    const latlng = [p.lat, p.lon];
    const key = `${p.name}\u0000${p.tag ?? ''}\u0000${!!p.self}`;
    const meta = this.meta.get(id) ?? { stale: false };
    Object.assign(meta, { self: !!p.self, ts: p.ts ?? 0, lat: p.lat, lon: p.lon });
    this.meta.set(id, meta);
    if (!m) {
      m = L.marker(latlng, { icon: markerIcon(p), keyboard: false, title: p.name, riseOnHover: true, zIndexOffset: p.self ? 1000 : 0 });
      m._mmKey = key;
      m.on('add', () => this._syncAttrs(id, m));
      m.on('click', () => this._openLabel(this.openId === id ? null : id));
      // One's own marker never disappears into a cluster.
      m.addTo(p.self ? this.map : this.cluster);
      this.markers.set(id, m);
    } else {
      m.setLatLng(latlng);
      if (m._mmKey !== key) {
        m._mmKey = key;
        m.options.title = p.name;
        m.setIcon(markerIcon(p));
        if (m.getElement()) m.getElement().title = p.name;
        // a cluster's bubble lists its members' names: draw it again
        if (!p.self) this.cluster.refreshClusters(m);
      }
    }
    this._syncAttrs(id, m);
  }

  _syncAttrs(id, m) {
    const el = m.getElement();
    if (!el) return;
    // The player's position, not the marker's: markercluster adds a marker at its cluster's
    // centre to animate it out from there.
    const meta = this.meta.get(id);
    el.setAttribute('data-testid', 'marker');
    el.setAttribute('data-player', id);
    el.setAttribute('data-lat', String(meta?.lat ?? m.getLatLng().lat));
    el.setAttribute('data-lon', String(meta?.lon ?? m.getLatLng().lng));
    el.classList.toggle('mm-stale', !!meta?.stale);
    el.classList.toggle('mm-open', this.openId === id);
    // another's label waits, hidden, for the next layout to find it a free place; one's
    // own goes first in every layout, so it shows at once
    if (!el.dataset.label) {
      const self = !!this.meta.get(id)?.self;
      el.classList.toggle('mm-label-off', !self);
      el.dataset.label = self ? 'right' : 'hidden';
    }
    this.scheduleLayout();
  }

  setStale(id, stale) {
    const meta = this.meta.get(id);
    if (meta) meta.stale = !!stale;
    this.markers.get(id)?.getElement()?.classList.toggle('mm-stale', !!stale);
  }

  removePlayer(id) {
    const m = this.markers.get(id);
    if (m) {
      this.cluster.removeLayer(m);
      m.remove();
    }
    this.markers.delete(id);
    this.meta.delete(id);
    if (this.openId === id) this.openId = null;
    this.setTrail(id, []);
    this.scheduleLayout();
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

  // ---- labels ------------------------------------------------------------------------

  /** Lays the labels out once the current frame (and any zoom animation) is done. */
  scheduleLayout() {
    if (this.layoutRaf) return;
    this.el.dataset.labelsPending = 'true';
    this.layoutRaf = requestAnimationFrame(() => {
      this.layoutRaf = 0;
      // mid-animation rectangles are wrong: zoomend / animationend call again (neither
      // library says so in public: these flags are the ones their own code reads)
      if (this.map._animatingZoom || this.cluster._inZoomAnimation) return;
      this._layoutLabels();
      delete this.el.dataset.labelsPending;
    });
  }

  _layoutLabels() {
    const shown = [];
    for (const [id, m] of this.markers) {
      const el = m.getElement();
      if (el?.isConnected) shown.push({ id, el, label: el.querySelector('.mm-name'), meta: this.meta.get(id) ?? {} });
    }
    // a label opened by a tap first (it must show), then one's own, then the most recent
    const rank = ({ id, meta }) => (id === this.openId ? 2 : meta.self ? 1 : 0);
    shown.sort((a, b) => rank(b) - rank(a) || (b.meta.ts ?? 0) - (a.meta.ts ?? 0) || (a.id < b.id ? -1 : 1));
    const entries = shown.map((s) => {
      const icon = finalRect(s.el);
      const r = s.label.getBoundingClientRect();
      return { icon, width: r.width, height: r.height, top: icon.top + 2, self: rank(s) > 0 };
    });
    const box = this.el.getBoundingClientRect();
    const selfIcon = shown.find((s) => s.meta.self) && entries[shown.findIndex((s) => s.meta.self)].icon;
    const blocked = [...this.el.querySelectorAll('.mm-cluster')].map((c) => {
      // one's own marker (never clustered) would hide a bubble under it: lift the bubble
      c.classList.remove('mm-cluster-lifted');
      const r = finalRect(c);
      if (!selfIcon || !overlaps(r, selfIcon)) return r;
      c.classList.add('mm-cluster-lifted');
      return new DOMRect(r.x, r.y - 34, r.width, r.height); // see .mm-cluster-lifted
    });
    for (const o of this.obstacles()) if (o && !o.hidden) blocked.push(o.getBoundingClientRect());
    const sides = placeLabels(entries, box, blocked, entries.map((e) => e.icon));
    shown.forEach(({ el }, i) => {
      el.classList.toggle('mm-label-off', !sides[i]);
      for (const side of ['left', 'above', 'below']) el.classList.toggle(`mm-label-${side}`, sides[i] === side);
      el.dataset.label = sides[i] ?? 'hidden';
    });
    this.el.dataset.labelsGen = String(Number(this.el.dataset.labelsGen ?? 0) + 1);
  }

  /** Shows one marker's label in full above the others (a tap; null closes it). */
  _openLabel(id) {
    if (this.openId) {
      const prev = this.markers.get(this.openId);
      prev?.getElement()?.classList.remove('mm-open');
      prev?.setZIndexOffset(this.meta.get(this.openId)?.self ? 1000 : 0);
    }
    this.openId = id;
    const m = id && this.markers.get(id);
    if (m) {
      m.getElement()?.classList.add('mm-open');
      m.setZIndexOffset(5000);
    }
    this.scheduleLayout();
  }

  // ---- the view ----------------------------------------------------------------------

  /** Padding for fitting the view: a margin, plus whatever covers the map's edges. */
  _padding() {
    const box = this.el.getBoundingClientRect();
    let bottom = VIEW_MARGIN;
    let right = VIEW_MARGIN;
    for (const o of this.obstacles()) {
      if (!o || o.hidden) continue;
      const r = o.getBoundingClientRect();
      if (r.width === 0 || r.bottom <= box.top || r.top >= box.bottom || r.right <= box.left || r.left >= box.right) continue;
      if (r.width >= box.width * 0.6) bottom = Math.max(bottom, box.bottom - r.top + VIEW_MARGIN / 2);
      else right = Math.max(right, box.right - r.left + VIEW_MARGIN / 2);
    }
    // never pad away the whole map (a tiny window)
    bottom = Math.min(bottom, box.height * 0.6);
    right = Math.min(right, box.width * 0.6);
    return { paddingTopLeft: [VIEW_MARGIN, VIEW_MARGIN + 8], paddingBottomRight: [right, bottom] };
  }

  /** Fits the view to these [lat, lon] points (no-op for none); `animate: false` jumps (what
   *  opens next, a popup, is then placed in the final view). */
  fitTo(latlngs, { animate } = {}) {
    if (!latlngs.length) return;
    const pad = this._padding();
    if (latlngs.length === 1) {
      this.map.setView(latlngs[0], Math.max(this.map.getZoom(), 16), { animate: false });
      this.map.panInside(latlngs[0], { ...pad, animate: false });
      return;
    }
    this.map.fitBounds(L.latLngBounds(latlngs), { ...pad, maxZoom: 17, ...(animate === false ? { animate: false } : {}) });
  }

  /** Whether the point lies in the part of the map nothing covers. */
  inSight(latlng) {
    const pad = this._padding();
    const size = this.map.getSize();
    const p = this.map.latLngToContainerPoint(latlng);
    return p.x >= pad.paddingTopLeft[0] && p.y >= pad.paddingTopLeft[1] && p.x <= size.x - pad.paddingBottomRight[0] && p.y <= size.y - pad.paddingBottomRight[1];
  }

  /** Pans just enough to bring the point into sight (when following). */
  keepInSight(latlng) {
    if (!this.following || this.inSight(latlng)) return;
    this.map.panInside(latlng, this._padding());
  }

  panTo(id) {
    const m = this.markers.get(id);
    if (!m) return false;
    const zoom = Math.max(this.map.getZoom(), 17);
    if (this.cluster.hasLayer(m)) {
      // zooms until the marker stands alone (or its cluster opens) and brings it into view
      this.cluster.zoomToShowLayer(m, () => this._openLabel(id));
    } else {
      this.map.setView(m.getLatLng(), zoom, { animate: true });
      this._openLabel(id);
    }
    return true;
  }

  /** Marks the view as the user's own (or, false: the app's again). */
  setFollowing(on) {
    if (this.following === on) return;
    this.following = on;
    this.onFollowChange?.(on);
  }

  /** The user moved or zoomed the map themselves: stop following. */
  _watchUser() {
    const mine = () => this.setFollowing(false);
    this.map.on('dragstart boxzoomstart', mine);
    this.cluster.on('clusterclick', mine);
    const c = this.map.getContainer();
    c.addEventListener('wheel', mine, { passive: true });
    c.addEventListener('dblclick', mine);
    c.addEventListener('touchstart', (e) => e.touches.length > 1 && mine(), { passive: true });
    c.addEventListener('keydown', (e) => {
      if (['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', '+', '-', '=', '_'].includes(e.key)) mine();
    });
    // capture: the buttons stop their clicks from bubbling
    this.map.zoomControl?.getContainer().addEventListener('click', mine, true);
  }

  center() {
    const c = this.map.getCenter();
    return { lat: c.lat, lon: c.lng };
  }

  invalidateSize() {
    this.map.invalidateSize();
  }

  destroy() {
    cancelAnimationFrame(this.layoutRaf);
    this.map.remove();
    this.markers.clear();
    this.trails.clear();
  }
}
