// The live map's places: the "Places" section of the panel (a list; "Remove" beside those the
// reader may remove: their own, or all of them for the map's owner), the "Add a place" card
// over the map (a click or tap for the centre, a slider for the radius, a name), and the
// popup of a place's label. The places come from GET /maps/{id}/places, then from the
// `place_added` and `place_removed` events.

import { h, showError, checkedName } from './dom.js';
import './places.css';
import { PlacesLayer, formatRadius } from '../placeslayer.js';
import * as store from '../store.js';

export const MIN_RADIUS = 10;
export const MAX_RADIUS = 50_000;
const STEPS = 1000;
/** The slider's position for a 100 m radius. */
export const DEFAULT_STEP = stepFor(100);

/** The slider is logarithmic (10 m to 50 km), its radius rounded to two figures. */
export function radiusAt(step) {
  const r = MIN_RADIUS * (MAX_RADIUS / MIN_RADIUS) ** (step / STEPS);
  const unit = 10 ** (Math.floor(Math.log10(r)) - 1);
  return Math.min(MAX_RADIUS, Math.max(MIN_RADIUS, Math.round(r / unit) * unit));
}

export function stepFor(radius) {
  return Math.round((STEPS * Math.log(radius / MIN_RADIUS)) / Math.log(MAX_RADIUS / MIN_RADIUS));
}

/**
 * me: my player id; getMap(): the map's state (or null); getView(): the MapView (or null);
 * memberName(pid); onAdding(on): the card came or went; onFocus(): a place was brought into
 * view from the list (a phone closes its sheet).
 */
export function createPlaces(ctx, { mapId, me, getMap, getView, memberName, onAdding, onFocus }) {
  const coarse = window.matchMedia?.('(pointer: coarse)').matches;
  const click = coarse ? 'Tap' : 'Click';
  let layer = null;
  let adding = false;
  let centre = null;
  let saving = false;
  /** While a GET of the places is answered: the events that came meanwhile, to apply after. */
  let pending = null;
  let disposed = false;

  // ---- the panel's section ------------------------------------------------------------
  const heading = h('h2', { id: 'places-h', class: 'places-h' }, 'Places');
  const addBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'add-place', onclick: () => setAdding(true) }, 'Add a place');
  const list = h('ul', { class: 'places', 'aria-labelledby': 'places-h', 'data-testid': 'places' });
  const empty = h('p', { class: 'empty places-empty' }, 'No places yet. Draw one, and everyone on the map is told who arrives there and who leaves.');
  const loadError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const section = h('section', { class: 'places-box', 'aria-labelledby': 'places-h' }, h('div', { class: 'section-head' }, heading, addBtn), loadError, empty, list);

  // ---- the card over the map ----------------------------------------------------------
  const how = h('p', { class: 'add-place-how', 'data-testid': 'add-place-how' });
  const nameInput = h('input', { id: 'place-name', type: 'text', maxlength: '64', autocomplete: 'off', placeholder: 'e.g. Hogsmeade', 'data-testid': 'place-name' });
  const radiusOut = h('output', { class: 'add-place-radius', for: 'place-radius', 'data-testid': 'place-radius-value' });
  const slider = h('input', { id: 'place-radius', type: 'range', min: '0', max: String(STEPS), step: '1', 'data-testid': 'place-radius', oninput: onRadius });
  const formError = h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-testid': 'place-error' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'place-save' }, 'Save');
  const cancel = h('button', { type: 'button', class: 'btn', 'data-testid': 'place-cancel', onclick: () => setAdding(false) }, 'Cancel');
  const card = h(
    'form',
    { class: 'add-place', hidden: true, 'aria-labelledby': 'add-place-h', 'data-testid': 'add-place-card', novalidate: true, onsubmit: onSave },
    h('h2', { id: 'add-place-h', class: 'add-place-h' }, 'Add a place'),
    how,
    h('div', { class: 'add-place-row' }, h('label', { for: 'place-name' }, 'Name'), nameInput),
    h('div', { class: 'add-place-row' }, h('label', { for: 'place-radius' }, 'Radius'), slider, radiusOut),
    formError,
    h('div', { class: 'add-place-actions' }, save, cancel),
  );
  card.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') setAdding(false);
  });

  const radius = () => radiusAt(Number(slider.value));
  const canRemove = (p) => p.created_by === me || getMap()?.owner === me;
  const byWhom = (p) => (p.created_by === me ? 'drawn by you' : getMap()?.members[p.created_by] ? `drawn by ${memberName(p.created_by)}` : 'drawn by a former member');

  function attach(view) {
    layer = new PlacesLayer(view.map, { popupContent });
    const ms = getMap();
    if (ms) for (const p of store.placesInOrder(ms)) layer.set(p);
  }

  async function load() {
    const ops = [];
    pending = ops;
    try {
      const places = await ctx.api.listPlaces(mapId);
      if (disposed || pending !== ops) return;
      const ms = getMap();
      if (!ms) return;
      store.applyPlaces(ms, places);
      for (const op of ops) op(ms);
      loadError.hidden = true;
      redraw();
    } catch (err) {
      if (disposed || pending !== ops) return;
      showError(loadError, new Error(`The places could not be read: ${err.message}`));
    } finally {
      if (pending === ops) pending = null;
    }
  }

  /** A place event; answers whether it was one. */
  function onEvent(ev) {
    const ms = getMap();
    if (!ms) return false;
    let op;
    if (ev.kind === 'place_added') op = (m) => store.applyPlaceAdded(m, ev.place);
    else if (ev.kind === 'place_removed') op = (m) => store.applyPlaceRemoved(m, ev.place);
    else return false;
    op(ms);
    pending?.push(op);
    if (ev.kind === 'place_added' && ev.place?.id) layer?.set(ms.places[ev.place.id]);
    else layer?.remove(ev.place);
    render();
    return true;
  }

  function redraw() {
    const ms = getMap();
    if (!ms || !layer) return render();
    layer.clear();
    for (const p of store.placesInOrder(ms)) layer.set(p);
    render();
  }

  /** The list again (a place came or went, the owner or a name changed). */
  function render() {
    const ms = getMap();
    const places = ms ? store.placesInOrder(ms) : [];
    list.replaceChildren(...places.map(item));
    empty.hidden = places.length > 0;
    heading.textContent = places.length ? `Places (${places.length})` : 'Places';
    layer?.refreshPopup();
  }

  function item(p) {
    const remove =
      canRemove(p) &&
      h('button', { type: 'button', class: 'btn btn-quiet place-remove', 'data-testid': 'place-remove', 'aria-label': `Remove ${p.name}`, onclick: () => confirmRemove(p.id) }, 'Remove');
    return h(
      'li',
      { class: 'place', 'data-testid': 'place', 'data-place': p.id },
      h(
        'button',
        { type: 'button', class: 'place-btn', onclick: () => focus(p.id) },
        h('span', { class: 'place-ring', 'aria-hidden': 'true' }),
        h('span', { class: 'place-name' }, p.name),
        h('span', { class: 'place-facts' }, `${formatRadius(p.radius)} · ${byWhom(p)}`),
      ),
      remove,
    );
  }

  function popupContent(id) {
    const p = getMap()?.places[id];
    if (!p) return h('div', {});
    return h(
      'div',
      { class: 'place-pop', 'data-testid': 'place-popup', 'data-place': id },
      h('strong', { class: 'place-pop-name' }, p.name),
      h('span', { class: 'place-pop-facts' }, `Radius ${formatRadius(p.radius)} · ${byWhom(p)}`),
      canRemove(p) && h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'place-popup-remove', onclick: () => confirmRemove(id) }, 'Remove'),
    );
  }

  function focus(id) {
    const view = getView();
    const bounds = layer?.bounds(id);
    if (!view || !bounds) return;
    onFocus?.(); // first: a phone's sheet closes, and the map it covered is free
    view.setFollowing(false); // the user chose what to look at
    view.fitTo(bounds, { animate: false });
    layer.open(id);
  }

  async function confirmRemove(id) {
    const p = getMap()?.places[id];
    if (!p) return;
    const answer = await ctx.ask({
      title: `Remove ${p.name}?`,
      body: ['It goes from the map for everyone, and nobody is told of arrivals or departures there any more.'],
      choices: [
        { label: 'Remove', value: 'remove', kind: 'danger', testid: 'place-remove-confirm' },
        { label: 'Keep it', value: null, kind: 'quiet' },
      ],
    });
    if (answer !== 'remove' || disposed) return;
    try {
      await ctx.api.deletePlace(mapId, id);
    } catch (err) {
      if (err.status !== 404) return ctx.toast(err.message, { kind: 'error' });
    }
    if (disposed) return;
    const ms = getMap();
    if (ms) store.applyPlaceRemoved(ms, id);
    layer?.remove(id);
    render();
    ctx.toast(`${p.name} was removed from the map.`);
  }

  // ---- drawing a place ----------------------------------------------------------------
  function setAdding(on) {
    if (adding === on) return;
    const hadFocus = card.contains(document.activeElement);
    adding = on;
    card.hidden = !on;
    addBtn.disabled = on;
    centre = null;
    layer?.setDraft(null);
    getView()?.map.getContainer().classList.toggle('mm-adding', on);
    if (on) {
      nameInput.value = '';
      slider.value = String(DEFAULT_STEP);
      showError(formError, null);
      nameInput.removeAttribute('aria-invalid');
      getView()?.setFollowing(false); // the view stays where the user is drawing
      getView()?.map.closePopup();
    }
    update();
    onAdding?.(on);
    // A keyboard comes up on a phone for a focused field: there the map's tap comes first.
    if (on && !coarse) nameInput.focus({ preventScroll: true });
    if (!on && hadFocus) addBtn.focus({ preventScroll: true });
  }

  function update() {
    how.textContent = centre ? `${click} elsewhere to move it; slide to size it.` : `${click} the map where the place is.`;
    const r = radius();
    radiusOut.textContent = formatRadius(r);
    slider.setAttribute('aria-valuetext', formatRadius(r));
    save.disabled = saving;
  }

  function onRadius() {
    update();
    if (!centre) return;
    layer?.setDraft({ ...centre, radius: radius() });
    keepDraftInSight();
  }

  /** Zooms out when the circle outgrows the part of the map the card leaves free. */
  function keepDraftInSight() {
    const view = getView();
    const b = layer?.draftBounds();
    if (!view || !b) return;
    const box = view.map.getContainer().getBoundingClientRect();
    const cardTop = card.getBoundingClientRect().top;
    const bottom = Math.max(20, Math.min(box.height * 0.6, box.bottom - cardTop + 16));
    const pad = { paddingTopLeft: [20, 20], paddingBottomRight: [20, bottom] };
    const sw = view.map.latLngToContainerPoint(b[0]);
    const ne = view.map.latLngToContainerPoint(b[1]);
    if (sw.x < 20 || ne.y < 20 || ne.x > box.width - 20 || sw.y > box.height - bottom) view.map.fitBounds(b, pad);
  }

  /** A click or tap on the map: the centre, while drawing. Answers whether it was taken. */
  function onMapClick(lat, lon) {
    if (!adding) return false;
    centre = { lat, lon };
    showError(formError, null);
    layer?.setDraft({ ...centre, radius: radius() });
    update();
    return true;
  }

  async function onSave(e) {
    e.preventDefault();
    if (saving) return;
    if (!centre) return showError(formError, new Error(`${click} the map first, where the place is.`));
    const name = checkedName(nameInput, formError, 'Give the place a name of 1 to 64 characters.');
    if (!name) return;
    saving = true;
    update();
    try {
      const place = await ctx.api.createPlace(mapId, { name, lat: centre.lat, lon: centre.lon, radius: radius() });
      if (disposed) return;
      const ms = getMap();
      if (ms) store.applyPlaceAdded(ms, place);
      layer?.set(place);
      setAdding(false);
      render();
      ctx.toast(`${place.name} is on the map.`);
    } catch (err) {
      if (!disposed) showError(formError, err);
    } finally {
      saving = false;
      update();
    }
  }

  update();

  return {
    section,
    card,
    attach,
    load,
    onEvent,
    onMapClick,
    render,
    get adding() {
      return adding;
    },
    stop: () => setAdding(false),
    destroy() {
      disposed = true;
      layer = null;
    },
  };
}
