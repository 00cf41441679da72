// The member list of the live map: oneself first, then those seen in the last half hour by
// name, then everyone else (seen long ago or never) under a "Not seen recently (N)"
// disclosure, most recently seen first. Members who share a name carry a short id tag
// ("Ann ·k3f"). The map's owner gets a "Remove" button beside every other member.

import { h } from './dom.js';
import { relativeTime } from './time.js';
import { memberTags } from '../store.js';

/** Past this without a position, a member counts as "not seen recently". */
export const NOT_RECENT_MS = 30 * 60 * 1000;

/** A member's name as the page shows it: with their tag when another member has the name. */
export function displayName(name, tag) {
  return tag ? `${name} ·${tag}` : name;
}

/**
 * me: my player id; onFocus(pid): show them on the map; onRemove(pid): the owner asked to
 * remove them. Returns {el, render(ms, isOwner), tags}.
 */
export function createMemberList({ me, onFocus, onRemove }) {
  /** playerId -> {li, button, nameEl, seenEl, remove} */
  const items = new Map();
  const active = h('ul', { class: 'members', 'aria-labelledby': 'members-h', 'data-testid': 'members-active' });
  const staleList = h('ul', { class: 'members', 'aria-label': 'Not seen recently', 'data-testid': 'members-stale' });
  const staleSummary = h('summary', { class: 'members-stale-h', 'data-testid': 'members-stale-summary' });
  const stale = h('details', { class: 'members-stale', hidden: true }, staleSummary, staleList);
  const heading = h('h2', { id: 'members-h', class: 'members-h' }, 'Who is about');
  const el = h('section', { class: 'members-box', 'aria-labelledby': 'members-h' }, heading, active, stale);
  let tags = new Map();

  function item(m) {
    let it = items.get(m.id);
    if (it) return it;
    const nameEl = h('span', { class: 'member-name' });
    const seenEl = h('span', { class: 'member-seen' });
    const button = h(
      'button',
      { type: 'button', class: 'member-btn', onclick: () => onFocus(m.id) },
      h('span', { class: 'member-dot', 'aria-hidden': 'true' }),
      nameEl,
      h('span', { class: 'sr-only' }, ', '),
      seenEl,
    );
    const remove = h('button', { type: 'button', class: 'btn btn-quiet member-remove', 'data-testid': 'member-remove', onclick: () => onRemove(m.id) }, 'Remove');
    const li = h('li', { class: 'member', 'data-testid': 'member', 'data-player': m.id }, button, remove);
    it = { li, button, nameEl, seenEl, remove };
    items.set(m.id, it);
    return it;
  }

  function place(list, wanted) {
    const current = [...list.children];
    if (current.length === wanted.length && current.every((li, i) => li === wanted[i])) return;
    const focused = document.activeElement;
    list.replaceChildren(...wanted);
    if (focused && list.contains(focused)) focused.focus();
  }

  function render(ms, isOwner, now = Date.now()) {
    tags = memberTags(ms.members);
    for (const [pid, it] of items) {
      if (!ms.members[pid]) {
        it.li.remove();
        items.delete(pid);
      }
    }
    const seen = (m) => ms.positions[m.id]?.ts;
    const recent = (m) => m.id === me || (typeof seen(m) === 'number' && now - seen(m) <= NOT_RECENT_MS);
    const byName = (a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
    const all = Object.values(ms.members);
    const fresh = all.filter(recent).sort((a, b) => (b.id === me) - (a.id === me) || byName(a, b));
    const old = all.filter((m) => !recent(m)).sort((a, b) => (seen(b) ?? -1) - (seen(a) ?? -1) || byName(a, b));
    for (const m of all) {
      const it = item(m);
      const name = displayName(m.name, tags.get(m.id));
      const text = m.id === me ? `${name} (you)` : name;
      if (it.nameEl.textContent !== text) it.nameEl.textContent = text;
      const seenText = typeof seen(m) === 'number' ? `seen ${relativeTime(seen(m), now)}` : 'not seen yet';
      if (it.seenEl.textContent !== seenText) it.seenEl.textContent = seenText;
      it.li.classList.toggle('is-self', m.id === me);
      it.li.classList.toggle('is-stale', !recent(m) || typeof seen(m) !== 'number');
      it.remove.hidden = !isOwner || m.id === me;
      it.remove.setAttribute('aria-label', `Remove ${name} from the map`);
    }
    place(active, fresh.map((m) => items.get(m.id).li));
    place(staleList, old.map((m) => items.get(m.id).li));
    stale.hidden = old.length === 0;
    staleSummary.textContent = `Not seen recently (${old.length})`;
  }

  return {
    el,
    render,
    get tags() {
      return tags;
    },
  };
}
