// The top bar: title, connection state, the "Pause sharing" switch, and the menu of the
// signed-in player (account and devices, phones, "Download my trail", sign out).

import { h } from './dom.js';
import { hrefs } from '../router.js';
import './account.css';

const SHARING_TEXT = {
  off: '',
  paused: 'Hidden: not sharing',
  watching: 'Sharing your position',
  // A phone's finger taps; a mouse clicks.
  click: `${globalThis.matchMedia?.('(pointer: coarse)').matches ? 'Tap' : 'Click'} the map to place yourself`,
  idle: '',
};

/** onDownloadTrail(format): 'gpx' or 'geojson', one's own whole trail as a file. */
export function mountHeader(el, { state, onTogglePause, onSignOut, onDownloadTrail }) {
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
  const shareStatus = h('span', { class: 'share-status', 'data-testid': 'share-status' });

  // The menu: a disclosure button and a short list of links; closes on Escape, on a click
  // elsewhere and on choosing.
  const whoName = h('span', { class: 'menu-name', 'data-testid': 'header-name' });
  const menuButton = h(
    'button',
    { type: 'button', class: 'btn btn-quiet menu-button', 'aria-expanded': 'false', 'aria-controls': 'account-menu', 'data-testid': 'menu-button', onclick: () => setOpen(menu.hidden) },
    h('span', { class: 'sr-only' }, 'Menu of '),
    whoName,
    h('span', { class: 'menu-caret', 'aria-hidden': 'true' }, '▾'),
  );
  const item = (label, attrs) => h('li', {}, h(attrs.href ? 'a' : 'button', { class: 'menu-item', ...(attrs.href ? {} : { type: 'button' }), ...attrs }, label));
  const menu = h(
    'ul',
    { class: 'menu', id: 'account-menu', hidden: true },
    item('Your account and devices', { href: hrefs.account(), 'data-testid': 'nav-account', onclick: () => setOpen(false) }),
    item('Phone apps', { href: hrefs.phones(), onclick: () => setOpen(false) }),
    ...['gpx', 'geojson'].map((format) =>
      item(`Download my trail (${format === 'gpx' ? 'GPX' : 'GeoJSON'})`, {
        'data-testid': `download-trail-${format}`,
        onclick: () => {
          setOpen(false);
          onDownloadTrail?.(format);
        },
      }),
    ),
    item('Sign out', {
      'data-testid': 'sign-out',
      onclick: () => {
        setOpen(false);
        onSignOut();
      },
    }),
  );
  const menuBox = h('div', { class: 'menu-box' }, menuButton, menu);
  const account = h('div', { class: 'account' }, shareStatus, pause, menuBox);

  function setOpen(open) {
    menu.hidden = !open;
    menuButton.setAttribute('aria-expanded', String(open));
    if (open) menu.querySelector('.menu-item')?.focus();
  }
  document.addEventListener('click', (e) => {
    if (!menu.hidden && !menuBox.contains(e.target)) setOpen(false);
  });
  menuBox.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !menu.hidden) {
      setOpen(false);
      menuButton.focus();
    }
  });

  el.replaceChildren(
    h('a', { class: 'brand', href: '#/' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '✒'), h('span', { class: 'brand-text' }, "The Marauder's Map")),
    connBox,
    account,
  );

  function update() {
    conn.textContent = state.conn;
    connBox.dataset.state = state.conn;
    // Signed out, there is no connection to speak of: "offline" would only alarm.
    connBox.hidden = !state.player;
    account.hidden = !state.player;
    if (state.player) {
      whoName.textContent = state.player.name;
      menuButton.title = `${state.player.name}: account, devices, sign out`;
    } else {
      setOpen(false);
    }
    pause.setAttribute('aria-checked', String(!!state.sharing.paused));
    // Placing oneself by a click only means something on a map page.
    const onMap = document.body.dataset.screen === 'map';
    const mode = state.sharing.mode === 'click' && !onMap ? 'idle' : state.sharing.mode;
    shareStatus.textContent = SHARING_TEXT[mode] ?? '';
    shareStatus.dataset.mode = mode;
  }
  update();
  return { update };
}
