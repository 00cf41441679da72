// The phones screen (#/phones): the phone apps (OwnTracks, Traccar Client, OsmAnd) that may
// send your position, each with its own credentials. A new phone's secret is shown once,
// with everything each app needs (QR codes made here, in the browser); the list shows the
// rest, and revokes. While a secret is on screen nothing floats over it: what would be a
// toast is said inside the page.

import QRCode from 'qrcode';
import { h, showError, copyText, checkedName } from './dom.js';
import { hrefs } from '../router.js';
import { relativeTime, formatDate } from './time.js';
import {
  owntracksUrl,
  osmandUrl,
  deviceIdentifier,
  osmandWebAddress,
  owntracksQrPayload,
  traccarQrPayload,
} from '../phones.js';

const MAX_DEVICES = 20;

/** A QR code image of `payload`, drawn locally; `data-payload` holds the exact text. */
export function qrImage(payload, { testid, alt }) {
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

  /** One labelled value with a Copy button; the value element's text is exactly `value`.
   *  The button itself says whether the copy worked (a toast would cover the secret). */
  function credential(label, value, testid, { secret = false } = {}) {
    const text = h('code', { class: `cred-value${secret ? ' cred-secret' : ''}`, 'data-testid': testid }, value);
    let timer = null;
    const copy = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-copy',
        'aria-label': `Copy ${label}`,
        onclick: async () => {
          const ok = await copyText(value, text);
          copy.textContent = ok ? 'Copied' : 'Select it';
          copy.setAttribute('aria-label', ok ? `${label} copied` : `Could not copy ${label}: select the text and copy it by hand`);
          clearTimeout(timer);
          timer = setTimeout(() => {
            copy.textContent = 'Copy';
            copy.setAttribute('aria-label', `Copy ${label}`);
          }, 2500);
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
  const listStatus = h('p', { class: 'list-status', role: 'status', 'data-testid': 'device-status' });
  const count = h('span', { class: 'map-count' });
  // After the last phone is revoked, nothing shares your position if this browser is paused.
  const shareAgain = h(
    'section',
    { class: 'card share-again', hidden: true, 'data-testid': 'share-again', 'aria-labelledby': 'share-again-h' },
    h('h2', { id: 'share-again-h' }, 'Nothing shares your position now'),
    h('p', {}, 'No phone app is left, and this browser has been Hidden (not sharing) since you added one: the others only see where you were last.'),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'share-again-button', onclick: onShareAgain }, 'Share from this browser again'),
      h('button', { type: 'button', class: 'btn btn-quiet', onclick: () => (shareAgain.hidden = true) }, 'Stay hidden'),
    ),
  );

  root.replaceChildren(
    h(
      'div',
      { class: 'screen screen-phones' },
      back,
      heading,
      intro,
      shareAgain,
      secretPanel,
      h('section', { class: 'card', 'aria-labelledby': 'add-h' }, h('h2', { id: 'add-h' }, 'Add a phone'), form),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'devices-h' },
        h('div', { class: 'card-head' }, h('h2', { id: 'devices-h' }, 'Phones that may share your position'), count),
        listError,
        listStatus,
        listEmpty,
        list,
      ),
    ),
  );
  heading.focus({ preventScroll: true });

  // ---- the once-shown configuration ---------------------------------------------------
  function showSecret(device, { paused = false } = {}) {
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
      paused
        ? h(
            'p',
            { class: 'paused-note', 'data-testid': 'paused-note' },
            'This browser stopped sharing your position (it is Hidden now), so that it does not compete with the phone. The “Pause sharing” switch in the top bar turns it back on.',
          )
        : null,
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
      // The phone is now where your position comes from: this browser's (often a laptop's
      // rough Wi-Fi fix) would otherwise compete with it on the map.
      const paused = !!ctx.pauseSharing?.();
      shareAgain.hidden = true;
      showSecret(device, { paused });
      loadDevices();
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
        showError(listError, err);
        return;
      }
      // 404: already gone
    }
    if (disposed) return;
    devices = devices.filter((d) => d.id !== device.id);
    if (shown && shown.id === device.id) hideSecret();
    showError(createError, null);
    showError(listError, null);
    renderList();
    listStatus.textContent = `“${device.name}” is revoked.`;
    if (devices.length === 0 && ctx.state.sharing.paused) {
      shareAgain.hidden = false;
      shareAgain.querySelector('.btn-primary').focus({ preventScroll: true });
      shareAgain.scrollIntoView({ block: 'nearest' });
    } else {
      heading.focus({ preventScroll: true });
    }
  }

  function onShareAgain() {
    ctx.resumeSharing?.();
    shareAgain.hidden = true;
    listStatus.textContent = 'This browser shares your position again.';
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
