// The top bar: title, connection state, the "Pause sharing" switch and sign out.

import { h } from './dom.js';

const SHARING_TEXT = {
  off: '',
  paused: 'Hidden: not sharing',
  watching: 'Sharing your position',
  click: 'Click the map to place yourself',
  idle: '',
};

export function mountHeader(el, { state, onTogglePause, onSignOut }) {
  const conn = h('span', { class: 'conn-state', 'data-testid': 'conn-state', 'aria-live': 'polite' }, state.conn);
  const connBox = h('span', { class: 'conn', title: 'Live connection' }, h('span', { class: 'sr-only' }, 'Live connection: '), conn);

  const pause = h(
    'button',
    {
      type: 'button',
      class: 'switch',
      role: 'switch',
      'aria-checked': 'false',
      'data-testid': 'pause-sharing',
      onclick: () => onTogglePause(),
    },
    h('span', { class: 'switch-track', 'aria-hidden': 'true' }, h('span', { class: 'switch-thumb' })),
    h('span', { class: 'switch-label' }, 'Pause sharing'),
  );
  const shareStatus = h('span', { class: 'share-status' });
  const who = h('span', { class: 'who' });
  const signOut = h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => onSignOut() }, 'Sign out');
  const account = h('div', { class: 'account' }, shareStatus, pause, who, signOut);

  el.replaceChildren(
    h('a', { class: 'brand', href: '#/' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '✒'), h('span', { class: 'brand-text' }, "The Marauder's Map")),
    connBox,
    account,
  );

  function update() {
    conn.textContent = state.conn;
    connBox.dataset.state = state.conn;
    account.hidden = !state.player;
    if (state.player) who.textContent = state.player.name;
    pause.setAttribute('aria-checked', String(!!state.sharing.paused));
    shareStatus.textContent = SHARING_TEXT[state.sharing.mode] ?? '';
    shareStatus.dataset.mode = state.sharing.mode;
  }
  update();
  return { update };
}
