// The owner's settings of a live map: rename it, make it public or private, replace a leaked
// invite link, remove a member, delete the map. Each destructive step is confirmed in a
// dialog that names what it destroys; every failure is said in this page's own words.
// Nothing here is built for a member who is not the owner.

import { h, ask } from './dom.js';
import { inviteBlock } from './maps.js';

/** A failed owner action in words for a person (never the server's wording). */
export function adminError(err, what) {
  if (!err || typeof err.status !== 'number') return `Could not ${what}: something went wrong in this page. Reload it and try again.`;
  if (err.status === 0 || err.status === 429) return err.message; // the app's own sentences
  if (err.status === 403) return `Could not ${what}: only the map's owner can do that, and you are no longer its owner.`;
  if (err.status === 404) return `Could not ${what}: the map (or that member) is no longer there.`;
  if (err.status === 400) return `Could not ${what}: that was not accepted. A map name has 1 to 64 characters.`;
  if (err.status >= 500) return `Could not ${what}: the server had a problem. Try again in a moment.`;
  return `Could not ${what}. Try again in a moment.`;
}

/**
 * ctx: the app's (api, toast); mapId; getMap(): the map's state (name, visibility,
 * invite_code, members); onDetail(detail): a PATCH answered the map's new body;
 * onInviteCode(code); onDeleting(): called just before the map is deleted.
 * Returns {button, section, update(), confirmRemove(pid, name), close()}.
 */
export function createMapAdmin(ctx, { mapId, getMap, onDetail, onInviteCode, onDeleting, onDeleted }) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const nameInput = h('input', { id: 'admin-name', type: 'text', maxlength: '64', autocomplete: 'off', 'data-testid': 'admin-name' });
  const renameBtn = h('button', { type: 'submit', class: 'btn', 'data-testid': 'admin-rename' }, 'Rename');
  const renameForm = h('form', { class: 'admin-row', onsubmit: onRename }, h('label', { for: 'admin-name' }, 'Map name'), h('div', { class: 'admin-inline' }, nameInput, renameBtn));
  const radio = (value, label, hint) =>
    h('label', { class: 'admin-choice' }, h('input', { type: 'radio', name: 'admin-vis', value, 'data-testid': `admin-${value}`, onchange: onVisibility }), h('span', {}, h('strong', {}, label), ` ${hint}`));
  const pub = radio('public', 'Public:', 'anyone can find it under Public maps and join.');
  const priv = radio('private', 'Private:', 'only people with its invite link can join.');
  const visibility = h('fieldset', { class: 'admin-row admin-vis' }, h('legend', {}, 'Who may join'), pub, priv);
  const inviteSlot = h('div', { class: 'admin-invite-link' });
  const newInvite = h('button', { type: 'button', class: 'btn', 'data-testid': 'admin-new-invite', onclick: onNewInvite }, 'Make a new invite link');
  const invite = h('div', { class: 'admin-row' }, h('p', { class: 'hint' }, 'Leaked the link? A new one replaces it: the current link stops working at once.'), newInvite, inviteSlot);
  const deleteBtn = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'admin-delete', onclick: onDelete }, 'Delete this map…');
  const heading = h('h2', { id: 'admin-h', class: 'admin-h' }, 'Map settings');
  const section = h('section', { class: 'admin', id: 'map-settings', 'aria-labelledby': 'admin-h', hidden: true, 'data-testid': 'map-settings-panel' }, heading, error, renameForm, visibility, invite, h('div', { class: 'admin-row' }, deleteBtn));
  const button = h('button', { type: 'button', class: 'btn', 'aria-expanded': 'false', 'aria-controls': 'map-settings', 'data-testid': 'map-settings', onclick: () => setOpen(section.hidden) }, 'Map settings');

  function setOpen(open) {
    section.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) {
      update();
      nameInput.value = getMap().name;
      nameInput.focus();
    }
  }

  function say(err, what) {
    error.textContent = err ? adminError(err, what) : '';
    error.hidden = !err;
  }

  /** Brings the controls in line with the map's current state. */
  function update() {
    const ms = getMap();
    if (!ms) return;
    if (document.activeElement !== nameInput && section.hidden) nameInput.value = ms.name;
    pub.querySelector('input').checked = ms.visibility === 'public';
    priv.querySelector('input').checked = ms.visibility === 'private';
    invite.hidden = ms.visibility !== 'private';
  }

  async function busy(el, fn) {
    el.disabled = true;
    try {
      return await fn();
    } finally {
      el.disabled = false;
    }
  }

  async function onRename(e) {
    e.preventDefault();
    const name = nameInput.value.trim();
    const length = [...name].length;
    if (length < 1 || length > 64) {
      say({ status: 400 }, 'rename the map');
      nameInput.setAttribute('aria-invalid', 'true');
      nameInput.focus();
      return;
    }
    nameInput.removeAttribute('aria-invalid');
    if (name === getMap().name) return say(null);
    try {
      const detail = await busy(renameBtn, () => ctx.api.updateMap(mapId, { name }));
      say(null);
      onDetail(detail);
      ctx.toast(`The map is now called ${detail.name}.`);
    } catch (err) {
      say(err, 'rename the map');
    }
  }

  async function onVisibility(e) {
    const want = e.target.value;
    const ms = getMap();
    if (want === ms.visibility) return;
    const ok = await ask({
      title: want === 'public' ? `Make ${ms.name} public?` : `Make ${ms.name} private?`,
      body:
        want === 'public'
          ? ['Anyone will find it under Public maps and can join it without a link. The invite link stops working.']
          : ['Only people with its new invite link can join from now on. Everyone on the map stays on it.'],
      choices: [
        { label: 'Cancel', value: false, kind: 'quiet', testid: 'confirm-cancel' },
        { label: want === 'public' ? 'Make it public' : 'Make it private', value: true, kind: 'primary', testid: 'confirm-visibility' },
      ],
    });
    if (!ok) return update();
    try {
      const detail = await ctx.api.updateMap(mapId, { visibility: want });
      say(null);
      onDetail(detail);
      ctx.toast(want === 'public' ? `${detail.name} is public now.` : `${detail.name} is private now: share its new invite link.`);
    } catch (err) {
      say(err, want === 'public' ? 'make the map public' : 'make the map private');
      update();
    }
  }

  async function onNewInvite() {
    const ok = await ask({
      title: 'Make a new invite link?',
      body: ['The current link stops working at once: whoever has it can no longer join. Members already on the map stay.'],
      choices: [
        { label: 'Cancel', value: false, kind: 'quiet', testid: 'confirm-cancel' },
        { label: 'Make a new link', value: true, kind: 'danger', testid: 'confirm-invite' },
      ],
    });
    if (!ok) return;
    try {
      const { invite_code: code } = await busy(newInvite, () => ctx.api.newInviteCode(mapId));
      say(null);
      onInviteCode(code);
      inviteSlot.replaceChildren(inviteBlock(mapId, code, ctx.toast));
      ctx.toast('New invite link made: the old one no longer works.');
    } catch (err) {
      say(err, 'make a new invite link');
    }
  }

  /** Asks, then removes a member (the owner's "Remove" beside them). */
  async function confirmRemove(pid, name) {
    const ms = getMap();
    const ok = await ask({
      title: `Remove ${name} from ${ms.name}?`,
      body: [
        `${name} will stop seeing this map and being seen on it.`,
        ms.visibility === 'private'
          ? 'They can come back only with an invite link: make a new one if they have the current one.'
          : 'The map is public: they can join it again.',
      ],
      choices: [
        { label: 'Cancel', value: false, kind: 'quiet', testid: 'confirm-cancel' },
        { label: `Remove ${name}`, value: true, kind: 'danger', testid: 'confirm-remove' },
      ],
    });
    if (!ok) return;
    try {
      await ctx.api.removeMember(mapId, pid);
      ctx.toast(`${name} was removed from ${ms.name}.`);
    } catch (err) {
      ctx.toast(adminError(err, `remove ${name}`), { kind: 'error' });
    }
  }

  async function onDelete() {
    const ms = getMap();
    const others = Object.keys(ms.members).length - 1;
    const ok = await ask({
      title: `Delete ${ms.name}?`,
      body: [
        `${ms.name} disappears for everyone${others > 0 ? `: the ${others} other ${others === 1 ? 'member' : 'members'} will no longer see it` : ''}. This cannot be undone.`,
        'Everyone keeps their own trail.',
      ],
      choices: [
        { label: 'Cancel', value: false, kind: 'quiet', testid: 'confirm-cancel' },
        { label: `Delete ${ms.name}`, value: true, kind: 'danger', testid: 'confirm-delete' },
      ],
    });
    if (!ok) return;
    onDeleting(true);
    try {
      await busy(deleteBtn, () => ctx.api.deleteMap(mapId));
      onDeleted(ms.name);
    } catch (err) {
      onDeleting(false);
      say(err, 'delete the map');
    }
  }

  return { button, section, update, confirmRemove, close: () => setOpen(false) };
}
