// Sign in: a name becomes a new player (POST /api/v1/players), or a sign-in link
// (#/link/<code>, made on a device already signed in) makes this browser that same player
// (POST /api/v1/sessions). Either answer is kept locally.

import { h, showError, checkedName } from './dom.js';
import { hrefs } from '../router.js';

/** code -> the redemption in flight: a code works once, so a screen mounted again meanwhile
 *  (a second hashchange) must wait for the same answer, not spend the code twice. */
const redeeming = new Map();

export function mountSignIn(root, ctx, route) {
  if (route.name === 'link') return mountLinkRedeem(root, ctx, route);
  const input = h('input', {
    id: 'signin-name',
    name: 'name',
    type: 'text',
    autocomplete: 'nickname',
    required: true,
    spellcheck: 'false',
    'data-testid': 'signin-name',
    placeholder: 'e.g. Moony',
  });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'signin-submit' }, 'Sign in');
  const invited = route.name === 'join' ? 'Sign in to join the map you were invited to.' : route.name === 'map' ? 'Sign in to open the map you were sent.' : null;

  const form = h(
    'form',
    { class: 'card signin', novalidate: true, onsubmit: onSubmit },
    h('h1', { class: 'title' }, "The Marauder's Map"),
    h('p', { class: 'oath' }, 'I solemnly swear that I am up to no good.'),
    invited ? h('p', { class: 'hint' }, invited) : null,
    h('label', { for: 'signin-name' }, 'Your name'),
    input,
    error,
    submit,
    h('p', { class: 'fineprint' }, 'Your name is shown to the people on the maps you join. Nothing else is asked.'),
    h(
      'p',
      { class: 'fineprint' },
      'Already signed in on another device? There, open the menu under your name, choose “Your account and devices”, then “Add a device”: its link signs this browser in as you.',
    ),
  );
  root.replaceChildren(h('div', { class: 'screen screen-center' }, form));
  input.focus();

  let disposed = false;
  async function onSubmit(e) {
    e.preventDefault();
    const name = checkedName(input, error, 'A name of 1 to 64 characters, please.');
    if (name === null) return;
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const player = await ctx.api.createPlayer(name);
      if (!disposed) ctx.signedIn(player);
    } catch (err) {
      if (disposed) return;
      showError(error, err);
      submit.disabled = false;
      submit.textContent = 'Sign in';
      input.focus();
    }
  }

  return {
    cleanup() {
      disposed = true;
    },
  };
}

/** Spends the code once, however many screens wait for it, and signs in as its player even
 *  when the screen that asked is gone by then (the code is spent either way). */
function redeem(ctx, code) {
  let pending = redeeming.get(code);
  if (!pending) {
    pending = ctx.api
      .redeemLinkCode(code)
      .then((player) => {
        history.replaceState(null, '', hrefs.maps());
        ctx.toast(`This browser is now signed in as ${player.name}.`, { key: 'session' });
        ctx.signedIn(player);
        return player;
      })
      .finally(() => redeeming.delete(code));
    redeeming.set(code, pending);
  }
  return pending;
}

/** #/link/<code> while signed out: spends the code at once and signs in as its player. */
function mountLinkRedeem(root, ctx, { code }) {
  let disposed = false;
  const title = h('h1', { class: 'title', tabindex: '-1' }, 'Signing you in…');
  const note = h('p', { class: 'hint', 'data-testid': 'link-status' }, 'This link signs this browser in as the person who made it.');
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-testid': 'link-error' });
  const actions = h('div', { class: 'actions', hidden: true });
  root.replaceChildren(h('div', { class: 'screen screen-center' }, h('section', { class: 'card join' }, title, error, note, actions)));
  title.focus({ preventScroll: true });

  redeem(ctx, code)
    .catch((err) => {
      if (disposed) return;
      title.textContent = err.status === 403 ? 'This link no longer works' : 'Could not sign in with this link';
      note.textContent =
        err.status === 403
          ? 'Make a new link on a device where you are signed in (menu under your name → “Your account and devices” → “Add a device”), then open it here within 10 minutes.'
          : 'Nothing was changed on this browser.';
      showError(error, err);
      const retry = h('button', { type: 'button', class: 'btn', onclick: () => ctx.navigate(location.hash) }, 'Try again');
      const instead = h('a', { class: 'btn btn-primary', href: hrefs.maps(), 'data-testid': 'link-signin-instead' }, 'Sign in with a name instead');
      actions.replaceChildren(...(err.status === 403 ? [instead] : [retry, instead]));
      actions.hidden = false;
    });

  return {
    cleanup() {
      disposed = true;
    },
  };
}
