// "Join <map>?": an invite link (#/join/<id>/<code>), or a link to a map one is not on yet
// (#/map/<id> of a public map, `gate`). The map's preview names the map, its owner and how
// many are on it before anything is joined; a member is taken straight to the map.

import { h, showError } from './dom.js';
import { hrefs } from '../router.js';

export function mountJoin(root, ctx, { mapId, code, gate = false }) {
  let disposed = false;
  let preview = null;
  const title = h('h1', { class: 'title', tabindex: '-1', 'data-testid': 'join-title' }, gate ? 'Opening the map…' : 'Join this map?');
  const who = h('p', { class: 'join-who', 'data-testid': 'join-who', hidden: true });
  const note = h('p', { class: 'hint' }, 'Joining shows you, and your footprints, to everyone on it. You can leave at any time.');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-testid': 'join-error' });
  const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'join-confirm', disabled: true, onclick: onJoin }, 'Join');
  const cancel = h('a', { class: 'btn btn-quiet', href: hrefs.maps() }, 'Not now');
  root.replaceChildren(
    h('div', { class: 'screen screen-center' }, h('section', { class: 'card join' }, title, who, note, error, h('div', { class: 'actions' }, confirm, cancel))),
  );
  title.focus({ preventScroll: true });

  function open() {
    ctx.rememberMap(mapId);
    ctx.navigate(hrefs.map(mapId), { replace: true });
  }

  function show(p) {
    preview = p;
    title.textContent = `Join ${p.name}?`;
    confirm.textContent = `Join ${p.name}`;
    const n = p.members;
    const others = `${n} ${n === 1 ? 'person is' : 'people are'} on it`;
    const owner = p.owner?.name ? `${p.owner.name}’s ${p.visibility === 'private' ? 'private' : 'public'} map` : `A ${p.visibility} map`;
    who.textContent = `${owner} · ${others}.`;
    who.hidden = false;
    confirm.disabled = false;
    cancel.textContent = gate ? 'Back to your maps' : 'Not now';
    confirm.focus({ preventScroll: true });
  }

  (async () => {
    try {
      const p = await ctx.api.previewMap(mapId, code);
      if (disposed) return;
      if (p.member) return open();
      show(p);
    } catch (err) {
      if (disposed) return;
      title.textContent =
        err.status === 404 ? 'This map is gone' : err.status === 403 ? (code ? 'This invite link does not work' : 'This map is private') : 'The map could not be opened';
      showError(error, err);
      note.hidden = true;
      confirm.replaceWith(h('a', { class: 'btn btn-primary', href: hrefs.maps() }, 'Back to your maps'));
      cancel.remove();
    }
  })();

  async function onJoin() {
    confirm.disabled = true;
    showError(error, null);
    try {
      await ctx.api.joinMap(mapId, code);
      if (disposed) return;
      ctx.toast(`You joined ${preview?.name ?? 'the map'}.`);
      open();
    } catch (err) {
      if (disposed) return;
      showError(error, err);
      confirm.disabled = false;
    }
  }

  return {
    cleanup() {
      disposed = true;
    },
  };
}
