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
