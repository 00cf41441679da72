// The "Happenings" section of the live map's panel: who arrived at which place and who left,
// newest first (happenings.js keeps them), a toast as each happens, and, once the reader has
// turned it on, a browser notification while the tab is hidden. The browser is asked for
// that permission only when the switch is turned on, never before.

import { h } from './dom.js';
import { formatClock, formatDate, STALE_MS } from './time.js';
import { happeningsOf, recordHappening, happeningText } from '../happenings.js';

const NOTIFY_KEY = 'marauder.notifyHappenings';
const BLOCKED = 'Notifications are blocked for this site: allow them in the browser’s site settings, then turn this on again.';

function wanted() {
  try {
    return localStorage.getItem(NOTIFY_KEY) === 'true';
  } catch {
    return false;
  }
}

function setWanted(on) {
  try {
    if (on) localStorage.setItem(NOTIFY_KEY, 'true');
    else localStorage.removeItem(NOTIFY_KEY);
  } catch {
    // the switch still works for this page
  }
}

const supported = () => typeof window.Notification === 'function';
const allowed = () => supported() && window.Notification.permission === 'granted';

/** me: my player id; mapName(): the map's name, for a notification. */
export function createHappenings(ctx, { mapId, me, mapName }) {
  let notifyOn = wanted() && allowed();
  const heading = h('h2', { id: 'happenings-h', class: 'happenings-h' }, 'Happenings');
  const sw = h(
    'button',
    { type: 'button', class: 'switch notify-switch', role: 'switch', 'aria-checked': String(notifyOn), 'data-testid': 'notify-switch', onclick: toggle },
    h('span', { class: 'switch-track', 'aria-hidden': 'true' }, h('span', { class: 'switch-thumb' })),
    h('span', { class: 'switch-label' }, 'Notify me when someone arrives or leaves'),
  );
  const note = h('p', { class: 'hint notify-note', role: 'status', hidden: true, 'data-testid': 'notify-note' });
  const list = h('ol', { class: 'happenings', 'aria-labelledby': 'happenings-h', 'data-testid': 'happenings' });
  const empty = h('p', { class: 'empty happenings-empty' }, 'No arrivals or departures yet: they show here as they happen.');
  const section = h('section', { class: 'happenings-box', 'aria-labelledby': 'happenings-h' }, heading, sw, note, empty, list);

  function row(e) {
    const time = h('time', { class: 'happening-time', datetime: new Date(e.ts).toISOString(), title: formatDate(e.ts) }, formatClock(e.ts));
    return h(
      'li',
      { class: `happening happening-${e.kind}`, 'data-testid': 'happening', 'data-kind': e.kind, 'data-seq': String(e.seq) },
      h('span', { class: 'happening-mark', 'aria-hidden': 'true' }),
      h('span', { class: 'happening-text' }, happeningText(e, me)),
      time,
    );
  }

  function render() {
    const entries = happeningsOf(mapId);
    list.replaceChildren(...entries.map(row));
    empty.hidden = entries.length > 0;
  }

  /** An `arrived` or `departed` event; answers whether it was one. */
  function onEvent(ev) {
    if (ev.kind !== 'arrived' && ev.kind !== 'departed') return false;
    const entry = recordHappening(mapId, ev);
    if (!entry) return true; // kept already (a resume never repeats one)
    list.prepend(row(entry));
    while (list.children.length > happeningsOf(mapId).length) list.lastElementChild.remove();
    empty.hidden = true;
    // One's own comings and goings are news to the others; old ones (a long disconnection's
    // catch-up) go in the list without a fuss.
    if (entry.player === me || Date.now() - entry.ts > STALE_MS) return true;
    const text = happeningText(entry, me);
    ctx.toast(text);
    if (notifyOn && allowed() && document.visibilityState === 'hidden') notify(text, entry);
    return true;
  }

  function notify(text, entry) {
    try {
      const n = new window.Notification(text, { body: `${mapName()} · ${formatClock(entry.ts)}`, tag: `marauder-${mapId}-${entry.seq}` });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch {
      // Some mobile browsers only notify through a service worker: the toast is still there.
    }
  }

  function setNote(text) {
    note.textContent = text || '';
    note.hidden = !text;
  }

  function show(on) {
    notifyOn = on;
    sw.setAttribute('aria-checked', String(on));
  }

  async function toggle() {
    if (notifyOn) {
      show(false);
      setWanted(false);
      setNote('');
      return;
    }
    if (!supported()) return setNote('This browser cannot show notifications: the list and the messages on the map still tell you.');
    let permission = window.Notification.permission;
    if (permission !== 'denied') {
      try {
        permission = await window.Notification.requestPermission();
      } catch {
        permission = 'default';
      }
    }
    if (permission !== 'granted') return setNote(permission === 'denied' ? BLOCKED : 'Notifications were not allowed: turn this on again to be asked again.');
    show(true);
    setWanted(true);
    setNote('You will get a notification when this tab is hidden.');
  }

  render();

  return {
    section,
    onEvent,
    render,
  };
}
