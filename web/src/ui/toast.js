// Transient messages in a polite live region. They never pile up: the same message shown
// again just stays longer, a message with a `key` replaces the one before it with that key
// (e.g. "paused" then "sharing again"), and at most MAX_SHOWN are on screen (the oldest
// goes first). Errors stay longer than news.

const DEFAULT_MS = 6000;
const ERROR_MS = 9000;
const MAX_SHOWN = 3;

function remove(el) {
  clearTimeout(el._timer);
  el.remove();
}

function arm(el, timeout) {
  clearTimeout(el._timer);
  el._timer = setTimeout(() => el.remove(), timeout);
}

export function toast(message, { kind = 'info', timeout, key } = {}) {
  const region = document.getElementById('toasts');
  if (!region || !message) return;
  const ms = timeout ?? (kind === 'error' ? ERROR_MS : DEFAULT_MS);
  for (const el of [...region.children]) {
    if (el.dataset.message === message) {
      arm(el, ms);
      return;
    }
    if (key && el.dataset.key === key) remove(el);
  }
  const el = document.createElement('div');
  el.className = `toast toast-${kind}`;
  el.setAttribute('data-testid', 'toast');
  el.dataset.message = message;
  if (key) el.dataset.key = key;
  if (kind === 'error') el.setAttribute('role', 'alert');
  const text = document.createElement('span');
  text.textContent = message;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'toast-close';
  close.setAttribute('aria-label', 'Dismiss message');
  close.textContent = '×';
  close.addEventListener('click', () => remove(el));
  el.append(text, close);
  region.append(el);
  while (region.children.length > MAX_SHOWN) remove(region.firstElementChild);
  arm(el, ms);
}
