// The maps screen: your maps, public maps to join, and a form to draw a new map.

import { h, showError, copyText, checkedName } from './dom.js';
import { hrefs, inviteLink } from '../router.js';

/** The invite block of a private map: the link, and a "Copy link" button. */
export function inviteBlock(mapId, code, toast) {
  const link = inviteLink(mapId, code);
  const text = h('code', { class: 'invite-link', 'data-testid': 'invite-link' }, link);
  const copy = h(
    'button',
    {
      type: 'button',
      class: 'btn',
      'aria-label': 'Copy invite link',
      onclick: async () => {
        const ok = await copyText(link, text);
        toast(ok ? 'Invite link copied.' : 'Could not copy: select the link and copy it by hand.', { kind: ok ? 'info' : 'error' });
      },
    },
    'Copy link',
  );
  return h('div', { class: 'invite' }, h('p', { class: 'invite-label' }, 'Invite friends with this link (it lets anyone who has it join):'), text, copy);
}

export function mountMaps(root, ctx) {
  let disposed = false;
  let mine = [];

  const heading = h('h1', { class: 'title', tabindex: '-1' }, 'Your maps');
  const created = h('section', { class: 'card created', hidden: true, 'aria-live': 'polite' });
  const mineList = h('ul', { class: 'map-list', 'aria-label': 'Your maps' });
  const mineEmpty = h('p', { class: 'empty', hidden: true }, 'You are on no map yet: draw one below, or join a public one.');
  const mineError = h('p', { class: 'form-error', role: 'alert', hidden: true });

  // create form
  const nameInput = h('input', { id: 'create-map-name', type: 'text', required: true, autocomplete: 'off', 'data-testid': 'create-map-name', placeholder: 'e.g. Hogsmeade trip' });
  const visSelect = h(
    'select',
    { id: 'create-map-visibility', 'data-testid': 'create-map-visibility' },
    h('option', { value: 'public' }, 'Public: anyone can join'),
    h('option', { value: 'private' }, 'Private: by invite link only'),
  );
  const createError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'create-map-submit' }, 'Create map');
  const form = h(
    'form',
    { class: 'create-form', novalidate: true, onsubmit: onCreate },
    h('div', { class: 'field' }, h('label', { for: 'create-map-name' }, 'Map name'), nameInput),
    h('div', { class: 'field' }, h('label', { for: 'create-map-visibility' }, 'Who can join'), visSelect),
    createError,
    createBtn,
  );

  // public maps
  const publicList = h('ul', { class: 'map-list', 'aria-label': 'Public maps' });
  const publicEmpty = h('p', { class: 'empty', hidden: true }, 'No public map yet.');
  const publicError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const refresh = h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => loadPublic() }, 'Refresh');
  const search = h('input', {
    id: 'public-search',
    type: 'search',
    autocomplete: 'off',
    maxlength: '64',
    placeholder: 'Find a map by name',
    'data-testid': 'public-search',
    oninput: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => loadPublic(), 250);
    },
  });
  const more = h('button', { type: 'button', class: 'btn', hidden: true, 'data-testid': 'public-more', onclick: () => loadPublic({ more: true }) }, 'Show more maps');
  let searchTimer = null;

  root.replaceChildren(
    h(
      'div',
      { class: 'screen screen-maps' },
      h(
        'div',
        { class: 'title-row' },
        heading,
        h(
          'div',
          { class: 'title-links' },
          h('a', { class: 'btn', href: hrefs.account(), 'data-testid': 'nav-devices', title: 'Sign in on your phone or another computer as yourself' }, 'Add a device'),
          h('a', { class: 'btn', href: hrefs.phones(), 'data-testid': 'nav-phones', title: 'Share from a phone app: OwnTracks, Traccar Client, OsmAnd' }, 'Phone apps'),
        ),
      ),
      created,
      h('section', { class: 'card', 'aria-labelledby': 'mine-h' }, h('h2', { id: 'mine-h' }, 'Maps you are on'), mineError, mineEmpty, mineList),
      h('section', { class: 'card', 'aria-labelledby': 'create-h' }, h('h2', { id: 'create-h' }, 'Draw a new map'), form),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'public-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'public-h' }, 'Public maps'), refresh),
        h('div', { class: 'field' }, h('label', { for: 'public-search', class: 'sr-only' }, 'Find a public map by name'), search),
        publicError,
        publicEmpty,
        publicList,
        more,
      ),
    ),
  );
  heading.focus({ preventScroll: true });

  function renderMine() {
    mineEmpty.hidden = mine.length > 0;
    mineList.replaceChildren(
      ...mine.map((m) =>
        h('li', { class: 'map-item', 'data-map': m.id }, h('span', { class: 'map-name' }, m.name), h('a', { class: 'btn', href: hrefs.map(m.id), 'aria-label': `Open ${m.name}` }, 'Open')),
      ),
    );
  }

  let publicMaps = [];
  let publicNext = null;
  function renderPublic() {
    const mineIds = new Set(mine.map((m) => m.id));
    publicEmpty.textContent = search.value.trim() ? 'No public map has that in its name.' : 'No public map yet.';
    publicEmpty.hidden = publicMaps.length > 0;
    more.hidden = !publicNext;
    publicList.replaceChildren(
      ...publicMaps.map((m) => {
        const count = `${m.members} ${m.members === 1 ? 'member' : 'members'}`;
        const action = mineIds.has(m.id)
          ? h('a', { class: 'btn', href: hrefs.map(m.id), 'aria-label': `Open ${m.name}` }, 'Open')
          : h('button', { type: 'button', class: 'btn btn-primary', 'aria-label': `Join ${m.name}`, onclick: (e) => join(m, e.currentTarget) }, 'Join');
        return h('li', { class: 'map-item', 'data-map': m.id }, h('span', { class: 'map-name' }, m.name), h('span', { class: 'map-count' }, count), action);
      }),
    );
  }

  async function loadMine() {
    try {
      const me = await ctx.api.me();
      if (disposed) return;
      ctx.updatePlayerName(me.name);
      mine = me.maps || [];
      ctx.rememberMaps(mine);
      showError(mineError, null);
      renderMine();
      renderPublic();
    } catch (err) {
      if (!disposed) showError(mineError, err);
    }
  }

  /** The first page again (a new search, a refresh), or with `more` the next page after
   *  what is shown. A page answered for an older search is dropped. */
  let asked = 0;
  async function loadPublic({ more: next = false } = {}) {
    const ask = ++asked;
    const q = search.value.trim();
    try {
      const page = await ctx.api.listPublicMaps({ q, after: next ? publicNext : undefined });
      if (disposed || ask !== asked) return;
      publicMaps = next ? [...publicMaps, ...page.maps.filter((m) => !publicMaps.some((p) => p.id === m.id))] : page.maps;
      publicNext = page.next;
      showError(publicError, null);
      renderPublic();
    } catch (err) {
      if (!disposed) showError(publicError, err);
    }
  }

  async function join(m, button) {
    button.disabled = true;
    try {
      await ctx.api.joinMap(m.id);
      ctx.rememberMap(m.id);
      if (!disposed) ctx.navigate(hrefs.map(m.id));
    } catch (err) {
      if (disposed) return;
      button.disabled = false;
      ctx.toast(err.message, { kind: 'error' });
    }
  }

  async function onCreate(e) {
    e.preventDefault();
    const name = checkedName(nameInput, createError, 'A map name of 1 to 64 characters, please.');
    if (name === null) return;
    createBtn.disabled = true;
    try {
      const map = await ctx.api.createMap(name, visSelect.value);
      ctx.rememberMap(map.id);
      if (disposed) return;
      nameInput.value = '';
      showCreated(map);
      if (!mine.some((m) => m.id === map.id)) mine.push({ id: map.id, name: map.name });
      renderMine();
      loadPublic();
    } catch (err) {
      if (!disposed) showError(createError, err);
    } finally {
      createBtn.disabled = false;
    }
  }

  function showCreated(map) {
    const open = h('a', { class: 'btn btn-primary', href: hrefs.map(map.id), 'data-testid': 'open-created-map' }, `Open ${map.name}`);
    created.replaceChildren(
      h('h2', {}, `“${map.name}” is drawn`),
      map.visibility === 'private' && map.invite_code
        ? inviteBlock(map.id, map.invite_code, ctx.toast)
        : h('p', {}, 'It is public: anyone can find it under Public maps and join.'),
      h('div', { class: 'actions' }, open),
    );
    created.hidden = false;
    open.focus({ preventScroll: false });
  }

  renderMine();
  loadMine();
  loadPublic();

  return {
    cleanup() {
      disposed = true;
      clearTimeout(searchTimer);
    },
  };
}
