// Transient messages in a polite live region. The same message shown twice in a row just
// stays longer.

const DEFAULT_MS = 6000;

export function toast(message, { kind = 'info', timeout = DEFAULT_MS } = {}) {
  const region = document.getElementById('toasts');
  if (!region || !message) return;
  for (const el of region.children) {
    if (el.dataset.message === message) {
      clearTimeout(el._timer);
      el._timer = setTimeout(() => el.remove(), timeout);
      return;
    }
  }
  const el = document.createElement('div');
  el.className = `toast toast-${kind}`;
  el.setAttribute('data-testid', 'toast');
  el.dataset.message = message;
  if (kind === 'error') el.setAttribute('role', 'alert');
  const text = document.createElement('span');
  text.textContent = message;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'toast-close';
  close.setAttribute('aria-label', 'Dismiss message');
  close.textContent = '×';
  close.addEventListener('click', () => el.remove());
  el.append(text, close);
  region.append(el);
  while (region.children.length > 4) region.firstElementChild.remove();
  el._timer = setTimeout(() => el.remove(), timeout);
}
