// A tiny DOM builder: h('button', {class: 'btn', onclick}, 'Text').

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string' && key !== 'list') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Shows a REST error's message in an inline alert element (or clears it). */
export function showError(el, err) {
  el.textContent = err ? err.message || String(err) : '';
  el.hidden = !err;
}

/** The trimmed name typed in `input` when it has 1 to 64 characters (the server's rule for
 *  every name); otherwise shows `problem` in `errorEl`, marks the input invalid, focuses it
 *  and answers null. */
export function checkedName(input, errorEl, problem) {
  const name = input.value.trim();
  const length = [...name].length;
  if (length < 1 || length > 64) {
    showError(errorEl, new Error(problem));
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return null;
  }
  input.removeAttribute('aria-invalid');
  showError(errorEl, null);
  return name;
}

/** Copies text to the clipboard, falling back to a selection + execCommand. */
export async function copyText(text, fallbackEl) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* fall through */
  }
  try {
    const sel = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents(fallbackEl);
    sel.removeAllRanges();
    sel.addRange(range);
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

/** A modal question with several answers (a <dialog>): resolves to the chosen answer's
 *  `value`, or null when dismissed (Escape). `choices`: [{label, value, kind?, testid?}],
 *  kind 'primary' | 'danger' | 'quiet'; the first choice that is not 'danger' takes focus,
 *  so that Enter never destroys anything. `body`: paragraphs (strings or nodes). */
export function ask({ title, body = [], choices, testid = 'dialog' }) {
  return new Promise((resolve) => {
    const heading = h('h2', { id: 'dialog-h' }, title);
    const buttons = choices.map((c) =>
      h(
        'button',
        { type: 'button', class: `btn${c.kind ? ` btn-${c.kind}` : ''}`, 'data-testid': c.testid, onclick: () => close(c.value) },
        c.label,
      ),
    );
    const dialog = h(
      'dialog',
      { class: 'ask card', 'aria-labelledby': 'dialog-h', 'data-testid': testid },
      heading,
      ...body.map((p) => (p instanceof Node ? p : h('p', {}, p))),
      h('div', { class: 'actions' }, ...buttons),
    );
    let done = false;
    function close(value) {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      resolve(value);
    }
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      close(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    const safe = buttons[choices.findIndex((c) => c.kind !== 'danger')] ?? buttons[0];
    safe?.focus();
  });
}
