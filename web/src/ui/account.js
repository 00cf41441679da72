// The account screen (#/account): your name, "Add a device" (a one-time sign-in link, as
// text and as a QR code, that makes another browser this same player) and the signed-in
// devices, each of which can be signed out from here. Also the sign-out question shared
// with the top bar, which warns when this is the player's last session: a player nobody
// is signed in as can never be reached again.

import { h, showError, copyText, checkedName } from './dom.js';
import { qrImage } from './phones.js';
import { hrefs, signInLink } from '../router.js';
import { relativeTime, formatDate, formatClock } from './time.js';
import './account.css';

/** How long a sign-in link works (the contract's ten minutes). */
const LINK_LIFETIME_MS = 10 * 60 * 1000;

/** "Chrome on Android" from a User-Agent: a label a person recognises, not a full parse. */
export function agentLabel(agent) {
  const ua = String(agent || '');
  if (!ua) return 'An unknown device';
  const browser = /Edg(A|iOS)?\//.test(ua)
    ? 'Edge'
    : /OPR\/|Opera/.test(ua)
      ? 'Opera'
      : /SamsungBrowser/.test(ua)
        ? 'Samsung Internet'
        : /Firefox\/|FxiOS/.test(ua)
          ? 'Firefox'
          : /CriOS|Chrome\/|Chromium/.test(ua)
            ? 'Chrome'
            : /Safari\//.test(ua) && /Version\//.test(ua)
              ? 'Safari'
              : null;
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPod/.test(ua)
      ? 'iPhone'
      : /iPad/.test(ua)
        ? 'iPad'
        : /Windows/.test(ua)
          ? 'Windows'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Macintosh|Mac OS X/.test(ua)
              ? 'Mac'
              : /Linux|X11/.test(ua)
                ? 'Linux'
                : null;
  if (browser && os) return `${browser} on ${os}`;
  if (browser) return browser;
  const tool = ua.match(/^([A-Za-z][\w.-]*)\//); // curl/8.5.0, python-requests/2.31
  if (tool) return `${tool[1]} (a program)`;
  return os ? `A browser on ${os}` : 'An unknown device';
}

/** Asks before this browser signs out: 'out', 'link' (make a sign-in link first) or null.
 *  The warning is loud when no other session would be left. */
export async function confirmSignOut(ctx) {
  const name = ctx.state.player?.name ?? 'you';
  let sessions = null;
  try {
    sessions = await ctx.api.listSessions();
  } catch {
    // Unknown: warn as if this were the last one.
  }
  if (!ctx.state.player) return null; // a 401 meanwhile: already signed out
  const cancel = { label: 'Cancel', value: null, kind: 'quiet', testid: 'signout-cancel' };
  if (sessions && sessions.length > 1) {
    const others = sessions.length - 1;
    return ctx.ask({
      title: 'Sign out of this browser?',
      body: [
        `You stay signed in as ${name} on ${others === 1 ? 'one other device' : `${others} other devices`}: from there, “Add a device” brings this browser back.`,
      ],
      choices: [{ label: 'Sign out', value: 'out', kind: 'primary', testid: 'signout-confirm' }, cancel],
      testid: 'signout-dialog',
    });
  }
  return ctx.ask({
    title: sessions ? 'This is your only signed-in device' : 'Sign out of this browser?',
    body: [
      h(
        'p',
        { class: 'warning', 'data-testid': 'signout-last-warning' },
        sessions ? `No other device is signed in as ${name}. ` : `If no other device is signed in as ${name}, this is the last way in. `,
        `After signing out nobody can be ${name} again: signing in with the same name makes a new, different player, and ${name}’s private maps are lost for good.`,
      ),
      'To keep a way back, make a sign-in link first and open it on another device.',
    ],
    choices: [
      { label: 'Make a sign-in link first', value: 'link', kind: 'primary', testid: 'signout-make-link' },
      { label: 'Sign out anyway', value: 'out', kind: 'danger', testid: 'signout-confirm' },
      cancel,
    ],
    testid: 'signout-dialog',
  });
}

/** #/link/<code> while signed in: spending the code would replace this browser's player,
 *  so it asks to sign out first (the code stays good meanwhile). */
export function mountLinkSignedIn(root, ctx) {
  const name = ctx.state.player.name;
  const title = h('h1', { class: 'title', tabindex: '-1' }, 'You are already signed in');
  root.replaceChildren(
    h(
      'div',
      { class: 'screen screen-center' },
      h(
        'section',
        { class: 'card join' },
        title,
        h('p', {}, `This browser is signed in as ${name}. The link you opened signs a browser in as whoever made it.`),
        h('p', { class: 'hint' }, 'To use it here, sign out first: the link keeps working until it is used or 10 minutes have passed.'),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'link-signout-first', onclick: () => ctx.signOut() }, 'Sign out, then use the link'),
          h('a', { class: 'btn btn-quiet', href: hrefs.maps() }, `Stay ${name}`),
        ),
      ),
    ),
  );
  title.focus({ preventScroll: true });
  return {};
}

export function mountAccount(root, ctx) {
  let disposed = false;
  /** [{id, created_at, last_seen?, current, agent?}] */
  let sessions = [];
  /** {code, expires_at, made_at} while shown; made_at on the server's clock */
  let link = null;
  let expiryTimer = null;
  const player = ctx.state.player;
  const myName = () => ctx.state.player?.name ?? player.name;

  // ---- name ------------------------------------------------------------------------
  const heading = h('h1', { class: 'title', tabindex: '-1', 'data-testid': 'account-name' }, player.name);
  const nameInput = h('input', { id: 'account-rename', type: 'text', required: true, autocomplete: 'nickname', value: player.name, 'data-testid': 'rename-input' });
  const renameError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const renameStatus = h('p', { class: 'list-status', role: 'status', 'data-testid': 'rename-status' });
  const renameBtn = h('button', { type: 'submit', class: 'btn', 'data-testid': 'rename-submit' }, 'Rename');
  const renameForm = h(
    'form',
    { class: 'device-form', novalidate: true, onsubmit: onRename },
    h('div', { class: 'field' }, h('label', { for: 'account-rename' }, 'Your name, as everyone on your maps sees it'), nameInput),
    renameBtn,
    renameError,
  );

  // ---- add a device ----------------------------------------------------------------
  const makeBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'link-create', onclick: makeLink }, 'Make a sign-in link');
  const linkError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const linkBox = h('div', { class: 'link-box', hidden: true, 'aria-live': 'polite' });

  // ---- sessions --------------------------------------------------------------------
  const list = h('ul', { class: 'session-list', 'aria-labelledby': 'sessions-h' });
  const listError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const listStatus = h('p', { class: 'list-status', role: 'status', 'data-testid': 'session-status' });
  const count = h('span', { class: 'map-count' });

  root.replaceChildren(
    h(
      'div',
      { class: 'screen screen-account' },
      h('a', { class: 'btn btn-quiet back-link', href: hrefs.maps(), 'data-testid': 'nav-maps' }, '← Your maps'),
      heading,
      h('p', { class: 'fineprint account-id' }, 'Player id ', h('code', { 'data-testid': 'account-id' }, player.id)),
      h(
        'section',
        { class: 'card', id: 'add-device', 'aria-labelledby': 'add-device-h' },
        h('h2', { id: 'add-device-h' }, 'Add a device'),
        h('p', {}, 'Be you on your phone or another computer too: the same maps, one marker. Make a link, then open it there, or scan its code with the phone’s camera.'),
        h('div', { class: 'actions' }, makeBtn),
        linkError,
        linkBox,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'sessions-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'sessions-h' }, 'Signed-in devices'), count),
        listError,
        listStatus,
        list,
        h('p', { class: 'fineprint' }, 'Phone apps that send your position (OwnTracks, Traccar Client, OsmAnd) are on the ', h('a', { href: hrefs.phones() }, 'Phone apps'), ' page.'),
      ),
      h('section', { class: 'card', 'aria-labelledby': 'rename-h' }, h('h2', { id: 'rename-h' }, 'Your name'), renameForm, renameStatus),
    ),
  );
  heading.focus({ preventScroll: true });

  // ---- the sign-in link --------------------------------------------------------------
  async function makeLink() {
    makeBtn.disabled = true;
    showError(linkError, null);
    try {
      const made = await ctx.api.createLinkCode();
      if (disposed) return;
      // The server's clock, as the sessions' created_at: the list may not be loaded yet.
      link = { ...made, made_at: made.expires_at - LINK_LIFETIME_MS };
      showLink();
      // Asked for on the way here (signing out, "make a link first"): done only now, so a
      // screen mounted again meanwhile makes it instead of forgetting it.
      ctx.wantLink = false;
    } catch (err) {
      if (!disposed) showError(linkError, err);
    } finally {
      makeBtn.disabled = false;
    }
  }

  function showLink() {
    const url = signInLink(link.code);
    const text = h('code', { class: 'invite-link', 'data-testid': 'signin-link' }, url);
    const copy = h('button', { type: 'button', class: 'btn', 'aria-label': 'Copy sign-in link', 'data-testid': 'signin-link-copy' }, 'Copy link');
    copy.addEventListener('click', async () => {
      const ok = await copyText(url, text);
      copy.textContent = ok ? 'Copied' : 'Select it and copy';
    });
    linkBox.replaceChildren(
      h(
        'div',
        { class: 'link-body' },
        h(
          'figure',
          { class: 'qr' },
          qrImage(url, { testid: 'signin-qr', alt: `QR code: sign in as ${myName()}` }),
          h('figcaption', {}, 'Scan with the phone’s camera.'),
        ),
        h(
          'div',
          {},
          h('p', { class: 'link-expiry', 'data-testid': 'link-expiry' }, `Works once, for 10 minutes: until ${formatClock(link.expires_at)}.`),
          text,
          h('div', { class: 'actions' }, copy),
          h('p', { class: 'warning' }, `Whoever opens this link becomes ${myName()}: open it only on your own devices.`),
        ),
      ),
    );
    linkBox.hidden = false;
    makeBtn.textContent = 'Make a new link';
    clearTimeout(expiryTimer);
    expiryTimer = setTimeout(() => endLink('This link has expired: make a new one.'), Math.max(0, link.expires_at - Date.now()));
    schedulePoll(5_000);
  }

  function endLink(message) {
    link = null;
    clearTimeout(expiryTimer);
    linkBox.replaceChildren(h('p', { class: 'link-ended', 'data-testid': 'link-ended' }, message));
  }

  // ---- sessions ----------------------------------------------------------------------
  function renderSessions() {
    count.textContent = `${sessions.length} ${sessions.length === 1 ? 'device' : 'devices'}`;
    list.replaceChildren(
      ...sessions.map((s) => {
        const label = agentLabel(s.agent);
        const out = h(
          'button',
          { type: 'button', class: 'btn btn-danger', 'data-testid': 'session-signout', 'aria-label': `Sign out ${s.current ? 'this device' : label}`, onclick: (e) => onSignOutSession(s, label, e.currentTarget) },
          'Sign out',
        );
        const seen = typeof s.last_seen === 'number' ? `last active ${relativeTime(s.last_seen)}` : null;
        return h(
          'li',
          { class: `session${s.current ? ' is-current' : ''}`, 'data-testid': 'session', 'data-session-id': s.id, 'data-current': String(!!s.current) },
          h(
            'div',
            { class: 'session-title' },
            h('span', { class: 'session-label', 'data-testid': 'session-label', title: s.agent || '' }, label),
            s.current ? h('span', { class: 'badge', 'data-testid': 'session-current' }, 'This device') : null,
            h('span', { class: 'session-meta' }, [`signed in ${formatDate(s.created_at)}`, seen].filter(Boolean).join(' · ')),
          ),
          out,
        );
      }),
    );
  }

  async function loadSessions() {
    try {
      const fetched = await ctx.api.listSessions();
      if (disposed) return;
      sessions = fetched;
      showError(listError, null);
      renderSessions();
      if (link) {
        const fresh = sessions.find((s) => !s.current && s.created_at >= link.made_at);
        if (fresh) endLink(`${agentLabel(fresh.agent)} signed in with the link, as ${myName()}. The link no longer works.`);
      }
    } catch (err) {
      if (!disposed) showError(listError, err);
    }
  }

  let pollTimer = null;
  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      if (!document.hidden) await loadSessions();
      if (!disposed) schedulePoll(link ? 5_000 : 30_000);
    }, ms);
  }

  async function onSignOutSession(s, label, button) {
    if (s.current) return ctx.signOut();
    const answer = await ctx.ask({
      title: `Sign out “${label}”?`,
      body: [`That browser returns to the sign-in screen at once. To come back as ${myName()}, it needs a new sign-in link from here.`],
      choices: [
        { label: 'Sign it out', value: 'out', kind: 'danger', testid: 'session-signout-confirm' },
        { label: 'Cancel', value: null, kind: 'quiet' },
      ],
      testid: 'session-signout-dialog',
    });
    if (answer !== 'out' || disposed) return;
    button.disabled = true;
    try {
      await ctx.api.deleteSession(s.id);
    } catch (err) {
      if (disposed) return;
      if (err.status !== 404) {
        button.disabled = false;
        showError(listError, err);
        return;
      }
    }
    if (disposed) return;
    sessions = sessions.filter((x) => x.id !== s.id);
    renderSessions();
    listStatus.textContent = `${label} is signed out.`;
    loadSessions();
  }

  // ---- rename ------------------------------------------------------------------------
  async function onRename(e) {
    e.preventDefault();
    const name = checkedName(nameInput, renameError, 'A name of 1 to 64 characters, please.');
    if (name === null) return;
    renameStatus.textContent = '';
    renameBtn.disabled = true;
    try {
      const p = await ctx.api.renamePlayer(name);
      if (disposed) return;
      ctx.updatePlayerName(p.name);
      heading.textContent = p.name;
      nameInput.value = p.name;
      renameStatus.textContent = `Done: everyone on your maps now sees you as ${p.name}.`;
    } catch (err) {
      if (!disposed) showError(renameError, err);
    } finally {
      renameBtn.disabled = false;
    }
  }

  renderSessions();
  loadSessions();
  schedulePoll(30_000);
  if (ctx.wantLink) {
    makeLink();
    document.getElementById('add-device')?.scrollIntoView({ block: 'start' });
  }

  return {
    cleanup() {
      disposed = true;
      clearTimeout(expiryTimer);
      clearTimeout(pollTimer);
      link = null;
    },
  };
}
