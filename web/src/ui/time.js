// "last seen" wording, and dates for people.

export function relativeTime(ts, now = Date.now()) {
  if (typeof ts !== 'number') return 'not seen yet';
  const s = Math.round((now - ts) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.floor(h / 24);
  if (d < 365) return `${d} d ago`;
  return new Date(ts).toLocaleDateString();
}

export const STALE_MS = 10 * 60 * 1000;

/** A date and time in the reader's locale, e.g. "29 Nov 2026, 18:02". */
export function formatDate(ms) {
  if (typeof ms !== 'number') return '';
  try {
    return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  } catch {
    return new Date(ms).toLocaleString();
  }
}

/** A time of day in the reader's locale, e.g. "18:02". */
export function formatClock(ms) {
  try {
    return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  } catch {
    return new Date(ms).toLocaleTimeString();
  }
}
