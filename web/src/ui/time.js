// "last seen" wording.

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
