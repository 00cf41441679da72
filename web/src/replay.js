// Replay, without the page: the time windows one can replay ("the last hour", a chosen day),
// reading every member's trail in such a window over REST (paged, `until` when the server
// knows it), where a member was at a moment, and the buffer that holds the live socket's
// messages while the map shows the past, so that leaving replay applies them in seq order.

/** The trail endpoint's page size (and maximum). */
export const PAGE = 1000;
/** Pages read per member and window: a day of one point every 5 s fits; a phone that sent
 *  more has the rest of its day cut off rather than the tab's memory blown. */
export const MAX_PAGES = 20;
/** Live messages held while replaying; past this the buffer is dropped and leaving replay
 *  follows the map afresh (a snapshot) instead. */
export const BUFFER_MAX = 50_000;

const HOUR = 3600_000;

/** The windows offered, by key: the last n hours up to `now`. */
export const LAST_HOURS = { '1h': 1, '6h': 6, '24h': 24 };

/** `choice`: a LAST_HOURS key, or a day 'YYYY-MM-DD' (local time; today ends now). Answers
 *  {from, to} in ms, or null for a day that is not one or has not begun. */
export function windowOf(choice, now = Date.now()) {
  if (LAST_HOURS[choice]) return { from: now - LAST_HOURS[choice] * HOUR, to: now };
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(choice ?? '');
  if (!m) return null;
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (Number.isNaN(start.getTime()) || start.getTime() > now) return null;
  const end = new Date(start);
  end.setDate(end.getDate() + 1); // a day of 23 or 25 hours keeps its length
  return { from: start.getTime(), to: Math.min(end.getTime() - 1, now) };
}

/** 'YYYY-MM-DD' of a moment, in local time (what a date input holds). */
export function dayOf(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The index of the last point with `ts <= t` (points oldest first), or -1. */
export function indexAt(points, t) {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid].ts <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * Reads trails through `getTrail(mapId, player, {since, until, limit})` (api.js). Whether the
 * server takes `until` is learnt from the first answer: a 400 for the unknown parameter means
 * it does not, and the window's end is then cut here. Answers {read(mapId, pid, window)}.
 */
export function createTrailWindowReader(getTrail) {
  let untilKnown = null; // null: not asked yet; true / false once answered

  async function page(mapId, pid, since, until) {
    if (untilKnown !== false) {
      try {
        const answer = await getTrail(mapId, pid, { since, until, limit: PAGE });
        untilKnown = true;
        return answer.points || [];
      } catch (err) {
        if (err.status !== 400 || untilKnown === true) throw err;
        untilKnown = false;
      }
    }
    return (await getTrail(mapId, pid, { since, limit: PAGE })).points || [];
  }

  /** A member's points with from <= ts <= to, oldest first. */
  async function read(mapId, pid, { from, to }) {
    let since = from - 1; // `since` is exclusive
    let points = [];
    for (let n = 0; n < MAX_PAGES; n++) {
      const got = await page(mapId, pid, since, to);
      points = points.concat(got);
      const last = got[got.length - 1];
      // A full page may have more after it; without `until`, the window's end says when
      // there is no need to look.
      if (got.length < PAGE || last.ts >= to) break;
      since = last.ts;
    }
    return points.filter((p) => p.ts >= from && p.ts <= to);
  }

  return {
    read,
    /** Whether the server took `until` (null before the first answer). */
    get untilSupported() {
      return untilKnown;
    },
  };
}

/**
 * The socket's messages for one map while it is not drawn: events in seq order after the
 * latest snapshot (a resume that could not be served sends one; it makes what came before
 * moot). `drain()` hands them back once: {snapshot, events, overflowed}.
 */
export class LiveBuffer {
  constructor(max = BUFFER_MAX) {
    this.max = max;
    this.clear();
  }

  clear() {
    this.snapshot = null;
    this.events = [];
    this.overflowed = false;
  }

  get size() {
    return this.events.length;
  }

  /** The seq of the latest message held (null: none). */
  get lastSeq() {
    return this.events[this.events.length - 1]?.seq ?? this.snapshot?.seq ?? null;
  }

  onSnapshot(msg) {
    // A `reset` said the page's trails and members may be out of date: a later snapshot
    // (without it) must not hide that.
    const reset = !!(msg.reset || this.snapshot?.reset || this.overflowed);
    this.snapshot = reset ? { ...msg, reset: true } : msg;
    this.events = [];
    this.overflowed = false;
  }

  /** Events already past the socket's seq check (live.js): each once, in order. */
  onEvents(events) {
    if (this.overflowed) return;
    for (const ev of events) {
      const last = this.events[this.events.length - 1]?.seq ?? this.snapshot?.seq ?? -Infinity;
      if (typeof ev.seq === 'number' && ev.seq <= last) continue; // never twice
      this.events.push(ev);
    }
    if (this.events.length > this.max) {
      this.events = [];
      this.overflowed = true;
    }
  }

  drain() {
    const out = { snapshot: this.snapshot, events: this.events, overflowed: this.overflowed };
    this.clear();
    return out;
  }
}
