// An invite link (#/join/<id>/<code>): "Join <map name>?" then POST join and open the map.

import { h, showError } from './dom.js';
import { hrefs } from '../router.js';

export function mountJoin(root, ctx, { mapId, code }) {
  let disposed = false;
  const title = h('h1', { class: 'title', tabindex: '-1' }, 'Join this map?');
  const note = h('p', { class: 'hint' }, 'You were invited to a map. Joining shows you, and your footprints, to everyone on it.');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'join-confirm', onclick: onJoin }, 'Join');
  const cancel = h('a', { class: 'btn btn-quiet', href: hrefs.maps() }, 'Not now');
  root.replaceChildren(
    h('div', { class: 'screen screen-center' }, h('section', { class: 'card join' }, title, note, error, h('div', { class: 'actions' }, confirm, cancel))),
  );
  title.focus({ preventScroll: true });

  function setName(name, already) {
    title.textContent = already ? `You are already on ${name}` : `Join ${name}?`;
    confirm.textContent = already ? `Open ${name}` : `Join ${name}`;
  }

  // Find the map's name: as a member (GET works), else in the public list. A private map's
  // name is only readable by members, so it may stay unknown until joined.
  (async () => {
    try {
      const detail = await ctx.api.getMap(mapId);
      if (!disposed) setName(detail.name, true);
      return;
    } catch (err) {
      if (disposed) return;
      if (err.status === 404) {
        showError(error, err);
        confirm.disabled = true;
        return;
      }
    }
    try {
      const found = (await ctx.api.listPublicMaps()).maps.find((m) => m.id === mapId);
      if (found && !disposed) setName(found.name, false);
    } catch {
      /* the name is a nicety */
    }
  })();

  async function onJoin() {
    confirm.disabled = true;
    showError(error, null);
    try {
      await ctx.api.joinMap(mapId, code);
      if (!disposed) ctx.navigate(hrefs.map(mapId), { replace: true });
    } catch (err) {
      if (disposed) return;
      const message = err.status === 403 ? `${err.message} The invite link may be wrong or out of date: ask for a new one.` : err.message;
      showError(error, new Error(message));
      confirm.disabled = false;
    }
  }

  return {
    cleanup() {
      disposed = true;
    },
  };
}
