// The phones screen (#/phones): the phone apps (OwnTracks, Traccar Client, OsmAnd) that may
// send your position, each with its own credentials. A new phone's secret is shown once,
// with everything each app needs (QR codes made here, in the browser); the list shows the
// rest, and revokes.

import QRCode from 'qrcode';
import { h, showError, copyText, checkedName } from './dom.js';
import { hrefs } from '../router.js';
import { relativeTime } from './time.js';
import {
  owntracksUrl,
  osmandUrl,
  deviceIdentifier,
  osmandWebAddress,
  owntracksQrPayload,
  traccarQrPayload,
} from '../phones.js';

const MAX_DEVICES = 20;

function formatDate(ms) {
  if (typeof ms !== 'number') return '';
  try {
    return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  } catch {
    return new Date(ms).toLocaleString();
  }
}

/** A QR code image of `payload`, drawn locally; `data-payload` holds the exact text. */
function qrImage(payload, { testid, alt }) {
  const img = h('img', { class: 'qr-img', alt, width: 264, height: 264, 'data-testid': testid, 'data-payload': payload });
  // 8 px a module: sharp on a 3x screen at the size shown; the CSS sizes the image.
  QRCode.toDataURL(payload, { errorCorrectionLevel: 'M', margin: 4, scale: 8, color: { dark: '#1b0f06', light: '#ffffff' } })
    .then((url) => {
      img.src = url;
    })
    .catch(() => {
      img.alt = `${alt} (it could not be drawn: type the details by hand)`;
    });
  return img;
}

export function mountPhones(root, ctx) {
  let disposed = false;
  /** [{id, name, created_at}], oldest first */
  let devices = [];
  /** the device whose secret is on screen, or null */
  let shown = null;
  let loaded = false;

  const toast = ctx.toast;

  /** One labelled value with a Copy button; the value element's text is exactly `value`. */
  function credential(label, value, testid, { secret = false } = {}) {
    const text = h('code', { class: `cred-value${secret ? ' cred-secret' : ''}`, 'data-testid': testid }, value);
    const copy = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-copy',
        'aria-label': `Copy ${label}`,
        onclick: async () => {
          const ok = await copyText(value, text);
          toast(ok ? `${label} copied.` : 'Could not copy: select the text and copy it by hand.', { kind: ok ? 'info' : 'error' });
        },
      },
      'Copy',
    );
    return h('div', { class: 'cred' }, h('dt', {}, label), h('dd', {}, text, copy));
  }

  // ---- DOM -------------------------------------------------------------------------
  const heading = h('h1', { class: 'title', tabindex: '-1' }, 'Your phones');
  const back = h('a', { class: 'btn btn-quiet back-link', href: hrefs.maps(), 'data-testid': 'nav-maps' }, '← Your maps');
  const intro = h(
    'p',
    { class: 'hint' },
    'Let a phone app share where you are, even with this page closed: OwnTracks, Traccar Client or OsmAnd. ',
    'Each phone gets its own password; revoke it here at any time.',
  );

  const secretPanel = h('section', { class: 'card device-secret', hidden: true, 'data-testid': 'device-secret-panel', 'aria-labelledby': 'secret-h' });

  const nameInput = h('input', { id: 'device-name', type: 'text', required: true, autocomplete: 'off', 'data-testid': 'device-name', placeholder: 'e.g. Pixel 8' });
  const createError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'device-create' }, 'Add phone');
  const form = h(
    'form',
    { class: 'device-form', novalidate: true, onsubmit: onCreate },
    h('div', { class: 'field' }, h('label', { for: 'device-name' }, 'Phone name'), nameInput),
    createBtn,
    createError,
  );

  const list = h('ul', { class: 'device-list', 'aria-labelledby': 'devices-h' });
  const listEmpty = h('p', { class: 'empty', hidden: true }, 'No phone yet: add one above.');
  const listError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const count = h('span', { class: 'map-count' });

  root.replaceChildren(
    h(
      'div',
      { class: 'screen screen-phones' },
      back,
      heading,
      intro,
      secretPanel,
      h('section', { class: 'card', 'aria-labelledby': 'add-h' }, h('h2', { id: 'add-h' }, 'Add a phone'), form),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'devices-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'devices-h' }, 'Phones that may share your position'), count),
        listError,
        listEmpty,
        list,
      ),
    ),
  );
  heading.focus({ preventScroll: true });

  // ---- the once-shown configuration ---------------------------------------------------
  function showSecret(device) {
    shown = device;
    const playerName = ctx.state.player?.name || '';
    const otUrl = owntracksUrl();
    const tcUrl = osmandUrl();
    const otPayload = owntracksQrPayload(device, playerName);
    const title = h('h2', { id: 'secret-h', tabindex: '-1' }, `“${device.name}” is ready: set it up now`);

    /** One app's section: a QR code beside the text for setting it up by hand. */
    const appSection = ({ id, title, platforms, qr, text }) =>
      h(
        'section',
        { class: 'app', 'aria-labelledby': id },
        h('h3', { id }, `${title} `, h('small', {}, platforms)),
        h(
          'div',
          { class: 'app-body' },
          h('figure', { class: 'qr' }, qrImage(qr.payload, { testid: qr.testid, alt: qr.alt }), h('figcaption', {}, qr.caption)),
          h('div', { class: 'app-text' }, ...text),
        ),
      );

    const owntracks = appSection({
      id: 'app-ot',
      title: 'OwnTracks',
      platforms: 'iPhone, Android',
      qr: {
        payload: otPayload,
        testid: 'owntracks-qr',
        alt: `QR code: OwnTracks configuration for ${device.name}`,
        caption: 'Install OwnTracks, then scan this with the phone’s camera: OwnTracks opens and imports the settings.',
      },
      text: [
        h('p', { class: 'app-how' }, 'Reading this on the phone itself? ', h('a', { class: 'btn', href: otPayload }, 'Open in OwnTracks')),
        h('p', { class: 'app-how' }, 'Or by hand, in Preferences → Connection: mode HTTP, then:'),
        h(
          'dl',
          { class: 'creds' },
          credential('URL', otUrl, 'owntracks-url'),
          credential('Username', device.id, 'owntracks-username'),
          credential('Password', device.secret, 'owntracks-password', { secret: true }),
        ),
      ],
    });

    const traccar = appSection({
      id: 'app-tc',
      title: 'Traccar Client',
      platforms: 'iPhone, Android',
      qr: {
        payload: traccarQrPayload(device),
        testid: 'traccar-qr',
        alt: `QR code: Traccar Client settings for ${device.name}`,
        caption: 'In Traccar Client’s settings, tap the QR code button and scan this: it fills in the server URL and the device identifier, and sets high accuracy.',
      },
      text: [
        h('p', { class: 'app-how' }, 'Or type them in its settings:'),
        h(
          'dl',
          { class: 'creds' },
          credential('Server URL', tcUrl, 'traccar-url'),
          credential('Device identifier', deviceIdentifier(device), 'traccar-id', { secret: true }),
        ),
        h(
          'p',
          { class: 'app-how' },
          'Set Location accuracy to High, then switch tracking on. Speed needs no setting: the server converts the units each app sends.',
        ),
      ],
    });

    const osmand = h(
      'section',
      { class: 'app', 'aria-labelledby': 'app-oa' },
      h('h3', { id: 'app-oa' }, 'OsmAnd ', h('small', {}, 'Android, iPhone')),
      h(
        'p',
        { class: 'app-how' },
        'Turn on the Trip recording plugin, then in Trip recording → Online tracking paste this as the Web address, and switch online tracking on:',
      ),
      h('dl', { class: 'creds' }, credential('Web address', osmandWebAddress(device), 'osmand-url', { secret: true })),
    );

    const done = h(
      'button',
      {
        type: 'button',
        class: 'btn',
        onclick: () => {
          hideSecret();
          heading.focus({ preventScroll: true });
        },
      },
      'Done: hide the password',
    );

    secretPanel.replaceChildren(
      title,
      h(
        'div',
        { class: 'once-note', role: 'note' },
        h('strong', {}, 'Copy this now: the password is shown only once. '),
        'Marauder keeps no readable copy of it. If it is lost, revoke this phone below and add it again.',
      ),
      owntracks,
      traccar,
      osmand,
      h('p', { class: 'fineprint' }, 'Use one app per phone. Anyone with these details can move you on the map: keep them to yourself.'),
      h('div', { class: 'actions' }, done),
    );
    secretPanel.hidden = false;
    title.focus({ preventScroll: true });
    secretPanel.scrollIntoView({ block: 'start', behavior: 'auto' });
  }

  function hideSecret() {
    shown = null;
    secretPanel.hidden = true;
    secretPanel.replaceChildren(); // drops the secret from the page
  }

  // ---- the list ----------------------------------------------------------------------
  function renderList() {
    listEmpty.hidden = !loaded || devices.length > 0;
    count.textContent = `${devices.length} of ${MAX_DEVICES}`;
    const otUrl = owntracksUrl();
    const tcUrl = osmandUrl();
    list.replaceChildren(
      ...devices.map((d) => {
        const revoke = h(
          'button',
          { type: 'button', class: 'btn btn-danger', 'data-testid': 'device-revoke', 'aria-label': `Revoke ${d.name}`, onclick: (e) => onRevoke(d, e.currentTarget) },
          'Revoke',
        );
        return h(
          'li',
          { class: 'device-item', 'data-testid': 'device', 'data-device-id': d.id },
          h(
            'div',
            { class: 'device-head' },
            h(
              'div',
              { class: 'device-title' },
              h('span', { class: 'device-name' }, d.name),
              h('span', { class: 'device-date' }, `added ${formatDate(d.created_at)}`),
              h(
                'span',
                { class: 'device-seen', 'data-testid': 'device-seen', 'data-seen': d.last_seen ?? '' },
                typeof d.last_seen === 'number' ? `last heard from ${relativeTime(d.last_seen)}` : 'not heard from yet',
              ),
            ),
            revoke,
          ),
          h(
            'dl',
            { class: 'device-facts' },
            h('div', {}, h('dt', {}, 'OwnTracks username'), h('dd', {}, h('code', {}, d.id))),
            h('div', {}, h('dt', {}, 'OwnTracks URL'), h('dd', {}, h('code', {}, otUrl))),
            h('div', {}, h('dt', {}, 'Traccar / OsmAnd URL'), h('dd', {}, h('code', {}, tcUrl))),
            h('div', {}, h('dt', {}, 'Identifier'), h('dd', {}, h('code', {}, `${d.id}.`), h('span', { class: 'device-hidden' }, ' + the password shown once'))),
          ),
        );
      }),
    );
    const full = devices.length >= MAX_DEVICES;
    createBtn.disabled = full;
    if (full) showError(createError, new Error(`You have ${MAX_DEVICES} phones, the most allowed: revoke one to add another.`));
  }

  async function loadDevices() {
    try {
      const fetched = await ctx.api.listDevices();
      if (disposed) return;
      devices = fetched;
      loaded = true;
      showError(listError, null);
      renderList();
    } catch (err) {
      if (!disposed) showError(listError, err);
    }
  }

  async function onCreate(e) {
    e.preventDefault();
    const name = checkedName(nameInput, createError, 'A phone name of 1 to 64 characters, please: one that tells it from the others.');
    if (name === null) return;
    createBtn.disabled = true;
    try {
      const device = await ctx.api.createDevice(name);
      if (disposed) return;
      nameInput.value = '';
      if (!devices.some((d) => d.id === device.id)) devices.push({ id: device.id, name: device.name, created_at: device.created_at });
      renderList();
      showSecret(device);
      loadDevices();
      // The phone is now where your position comes from: this browser's (often a laptop's
      // rough Wi-Fi fix) would otherwise compete with it on the map.
      if (ctx.pauseSharing?.()) {
        ctx.toast('This browser stopped sharing your position, so it does not compete with your phone. The switch in the top bar turns it back on.');
      }
    } catch (err) {
      if (!disposed) showError(createError, err);
    } finally {
      if (!disposed) createBtn.disabled = devices.length >= MAX_DEVICES;
    }
  }

  async function onRevoke(device, button) {
    const ok = window.confirm(`Revoke “${device.name}”? That phone can no longer share your position; to use it again, add it anew.`);
    if (!ok) return;
    button.disabled = true;
    try {
      await ctx.api.deleteDevice(device.id);
    } catch (err) {
      if (disposed) return;
      if (err.status !== 404) {
        button.disabled = false;
        toast(err.message, { kind: 'error' });
        return;
      }
      // 404: already gone
    }
    if (disposed) return;
    devices = devices.filter((d) => d.id !== device.id);
    if (shown && shown.id === device.id) hideSecret();
    showError(createError, null);
    renderList();
    toast(`“${device.name}” is revoked.`);
    heading.focus({ preventScroll: true });
  }

  renderList();
  loadDevices();

  // While the page is open, see a phone being set up start reporting (the server keeps
  // `last_seen` to the minute).
  const poll = setInterval(() => {
    if (!document.hidden) loadDevices();
  }, 20_000);

  return {
    cleanup() {
      clearInterval(poll);
      disposed = true;
      shown = null;
    },
  };
}
