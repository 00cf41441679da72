// Sign in: a name becomes a player (POST /api/v1/players); the answer is kept locally.

import { h, showError, checkedName } from './dom.js';

export function mountSignIn(root, ctx, route) {
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
  const joining = route.name === 'join';

  const form = h(
    'form',
    { class: 'card signin', novalidate: true, onsubmit: onSubmit },
    h('h1', { class: 'title' }, "The Marauder's Map"),
    h('p', { class: 'oath' }, 'I solemnly swear that I am up to no good.'),
    joining ? h('p', { class: 'hint' }, 'Sign in to join the map you were invited to.') : null,
    h('label', { for: 'signin-name' }, 'Your name'),
    input,
    error,
    submit,
    h('p', { class: 'fineprint' }, 'Your name is shown to the people on the maps you join. Nothing else is asked.'),
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
