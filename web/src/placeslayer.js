// Leaflet drawing of a map's places: each an ink circle (its radius in metres) with its name
// hand-lettered on the circle's northern edge, and the draft of the place being drawn. Knows
// nothing of who may do what: the page hands it a popup's content when a label is opened.

import L from 'leaflet';

const INK = '#3b2412';
const WAX = '#7a1f12';
const METRES_PER_DEGREE = 111_320;

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** A radius for people: "80 m", "300 m", "1.5 km", "50 km". */
export function formatRadius(metres) {
  if (metres < 1000) return `${Math.round(metres)} m`;
  const km = metres / 1000;
  return `${km < 10 ? Math.round(km * 10) / 10 : Math.round(km)} km`;
}

/** Where a place's name goes: the top of its circle. */
function labelPoint(p) {
  return [Math.min(90, p.lat + p.radius / METRES_PER_DEGREE), p.lon];
}

function labelIcon(p) {
  return L.divIcon({
    className: 'mm-place-label',
    html: `<span class="mm-place-name" title="${escapeHtml(`${p.name} · ${formatRadius(p.radius)}`)}">${escapeHtml(p.name)}</span>`,
    iconSize: null,
  });
}

export class PlacesLayer {
  /** popupContent(placeId): the element a label's popup shows. */
  constructor(map, { popupContent }) {
    this.map = map;
    this.popupContent = popupContent;
    /** placeId -> {circle, label, place} */
    this.drawn = new Map();
    this.draft = null;
    // its tip on the name's top, which it would otherwise cover
    this.popup = L.popup({ className: 'mm-popup', maxWidth: 260, autoPanPadding: [40, 60], offset: [0, -16] });
  }

  /** Draws a place, or draws it again after a change. */
  set(place) {
    this.remove(place.id);
    const circle = L.circle([place.lat, place.lon], {
      radius: place.radius,
      color: INK,
      weight: 2,
      opacity: 0.85,
      fillColor: INK,
      fillOpacity: 0.06,
      className: 'mm-place',
      interactive: false,
    }).addTo(this.map);
    const label = L.marker(labelPoint(place), { icon: labelIcon(place), keyboard: false, zIndexOffset: -1000 });
    label.on('click', () => this.open(place.id));
    label.on('add', () => {
      const el = label.getElement();
      el.setAttribute('data-testid', 'place-label');
      el.setAttribute('data-place', place.id);
    });
    label.addTo(this.map);
    circle.getElement()?.setAttribute('data-place', place.id);
    this.drawn.set(place.id, { circle, label, place });
  }

  remove(id) {
    const d = this.drawn.get(id);
    if (!d) return;
    d.circle.remove();
    d.label.remove();
    this.drawn.delete(id);
    if (this.popup.isOpen() && this.popup.options.placeId === id) this.map.closePopup(this.popup);
  }

  clear() {
    for (const id of [...this.drawn.keys()]) this.remove(id);
  }

  /** Opens a place's popup at its label (false when it is not drawn). */
  open(id) {
    const d = this.drawn.get(id);
    if (!d) return false;
    this.popup.options.placeId = id;
    this.popup.setLatLng(labelPoint(d.place)).setContent(this.popupContent(id)).openOn(this.map);
    return true;
  }

  /** The popup's content again (who may remove changed), when it shows this place. */
  refreshPopup() {
    const id = this.popup.options.placeId;
    if (this.popup.isOpen() && this.drawn.has(id)) this.popup.setContent(this.popupContent(id));
  }

  /** [[south, west], [north, east]] of a place's circle, or null. */
  bounds(id) {
    const d = this.drawn.get(id);
    return d ? this.circleBounds(d.circle) : null;
  }

  /** The place being drawn ({lat, lon, radius}), or null to take it away. */
  setDraft(draft) {
    if (!draft) {
      this.draft?.circle.remove();
      this.draft?.centre.remove();
      this.draft = null;
      return;
    }
    if (!this.draft) {
      const circle = L.circle([draft.lat, draft.lon], {
        radius: draft.radius,
        color: WAX,
        weight: 2,
        dashArray: '6 6',
        fillColor: WAX,
        fillOpacity: 0.08,
        className: 'mm-place-draft',
        interactive: false,
      }).addTo(this.map);
      const centre = L.circleMarker([draft.lat, draft.lon], { radius: 4, color: WAX, weight: 2, fillColor: WAX, fillOpacity: 1, interactive: false }).addTo(this.map);
      this.draft = { circle, centre };
    }
    this.draft.circle.setLatLng([draft.lat, draft.lon]);
    this.draft.circle.setRadius(draft.radius);
    this.draft.centre.setLatLng([draft.lat, draft.lon]);
    this.draft.circle.getElement()?.setAttribute('data-testid', 'place-draft');
  }

  draftBounds() {
    return this.draft ? this.circleBounds(this.draft.circle) : null;
  }

  circleBounds(circle) {
    const b = circle.getBounds();
    return [
      [b.getSouth(), b.getWest()],
      [b.getNorth(), b.getEast()],
    ];
  }
}
