// "Download my trail" (the player's menu): one's whole trail as GPX or GeoJSON, read with the
// session's token (a plain link could not send it) and saved through a Blob's object URL.

import { dayOf } from '../replay.js';

export const TRAIL_FORMATS = {
  gpx: { label: 'GPX', ext: 'gpx' },
  geojson: { label: 'GeoJSON', ext: 'geojson' },
};

/** The file's name: marauder-trail-2026-11-30.gpx (today, local time). */
export function trailFileName(format, now = Date.now()) {
  return `marauder-trail-${dayOf(now)}.${TRAIL_FORMATS[format].ext}`;
}

/** Fetches and saves the file; says what went wrong in a toast. */
export async function downloadTrail({ api, toast }, format) {
  if (!TRAIL_FORMATS[format]) return;
  toast(`Preparing your trail (${TRAIL_FORMATS[format].label})…`, { key: 'trail-file' });
  let blob;
  try {
    blob = await api.downloadMyTrail(format);
  } catch (err) {
    if (err.status !== 401) toast(err.message, { kind: 'error', key: 'trail-file' }); // a 401 signs out, and says so
    return;
  }
  const name = trailFileName(format);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The browser has the file once the click is handled; a minute is plenty for a slow disk.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  toast(`Saved ${name}.`, { key: 'trail-file' });
}
