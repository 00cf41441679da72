// The "happenings" of each map: arrivals at and departures from its places, newest first, at
// most HAPPENINGS_KEEP. Kept per map for the life of the tab (in memory, and in
// sessionStorage so that a reload keeps them too), apart from the map's live state: a resume
// with `since`, a `reset` snapshot or opening the map again never clears them, and an event
// delivered twice is kept once.

export const HAPPENINGS_KEEP = 100;
const PREFIX = 'marauder.happenings.';

/** mapId -> entries, newest first: {seq, kind, player, name, place, place_name, ts} */
const lists = new Map();

/** An event's identity: a map's seq alone would not do if the map's data were ever reset. */
const key = (e) => `${e.seq}:${e.kind}:${e.player}:${e.place}:${e.ts}`;

function valid(e) {
  return (
    e &&
    (e.kind === 'arrived' || e.kind === 'departed') &&
    typeof e.seq === 'number' &&
    typeof e.player === 'string' &&
    typeof e.place === 'string' &&
    typeof e.ts === 'number'
  );
}

function load(mapId) {
  try {
    const raw = sessionStorage.getItem(PREFIX + mapId);
    const parsed = raw ? JSON.parse(raw) : [];
    return Array.isArray(parsed) ? parsed.filter(valid).slice(0, HAPPENINGS_KEEP) : [];
  } catch {
    return [];
  }
}

function save(mapId, list) {
  try {
    sessionStorage.setItem(PREFIX + mapId, JSON.stringify(list));
  } catch {
    // private mode or full storage: memory still keeps them for this page
  }
}

/** The map's happenings, newest first (do not change the array). */
export function happeningsOf(mapId) {
  let list = lists.get(mapId);
  if (!list) {
    list = load(mapId);
    lists.set(mapId, list);
  }
  return list;
}

/** Keeps an `arrived` or `departed` event. Answers its entry, or null when it is not one or
 *  was kept already. Events come in seq order, so the newest goes first. */
export function recordHappening(mapId, ev) {
  if (!valid(ev)) return null;
  const list = happeningsOf(mapId);
  const k = key(ev);
  if (list.some((e) => key(e) === k)) return null;
  const entry = {
    seq: ev.seq,
    kind: ev.kind,
    player: ev.player,
    name: typeof ev.name === 'string' ? ev.name : '',
    place: ev.place,
    place_name: typeof ev.place_name === 'string' ? ev.place_name : '',
    ts: ev.ts,
  };
  list.unshift(entry);
  if (list.length > HAPPENINGS_KEEP) list.length = HAPPENINGS_KEEP;
  save(mapId, list);
  return entry;
}

/** "Harry arrived at Hogsmeade", "Ron left the Great Hall"; "You …" for oneself. */
export function happeningText(entry, me) {
  const who = entry.player === me ? 'You' : entry.name || 'Someone';
  const where = entry.place_name || 'a place';
  return entry.kind === 'arrived' ? `${who} arrived at ${where}` : `${who} left ${where}`;
}

/** Forgets every map's happenings (signing out: the next player must not see them). */
export function forgetHappenings() {
  lists.clear();
  try {
    for (let i = sessionStorage.length - 1; i >= 0; i--) {
      const k = sessionStorage.key(i);
      if (k?.startsWith(PREFIX)) sessionStorage.removeItem(k);
    }
  } catch {
    // nothing stored
  }
}
