// The trails of a live map's members, read over REST: everyone's recent trail when the map
// opens (a few requests at a time; a huge map, a benchmark's, draws its first members' only),
// and a newcomer's, which also tells where they are (a `joined` event does not).

import * as store from '../store.js';

const TRAIL_LOADERS = 4;
const TRAIL_MEMBERS_MAX = 200;

/**
 * getMap(): the map's state (null once the page is gone); onTrail(pid): a trail changed;
 * onPosition(pid): a newcomer's trail gave them a position. Returns {loadAll, loadJoiner}.
 */
export function createTrailLoader(ctx, mapId, { getMap, onTrail, onPosition }) {
  let gen = 0;

  /** Every member's trail, merged with what came live meanwhile; a new call cancels the last. */
  async function loadAll() {
    const mine = ++gen;
    const ms = getMap();
    if (!ms) return;
    const queue = Object.keys(ms.members).slice(0, TRAIL_MEMBERS_MAX);
    const worker = async () => {
      while (queue.length) {
        const pid = queue.shift();
        if (mine !== gen || getMap() !== ms) return;
        try {
          const points = await ctx.api.getRecentTrail(mapId, pid, { keep: store.TRAIL_KEEP, anchorTs: ms.positions[pid]?.ts });
          if (mine !== gen || getMap() !== ms || !ms.members[pid]) continue;
          store.mergeTrail(ms, pid, points);
          onTrail(pid);
        } catch {
          // 404: no longer a member; 403: we are not either (the socket will say so)
        }
      }
    };
    await Promise.all(Array.from({ length: TRAIL_LOADERS }, worker));
  }

  async function loadJoiner(pid) {
    const ms = getMap();
    if (!ms) return;
    try {
      const points = await ctx.api.getRecentTrail(mapId, pid, { keep: store.TRAIL_KEEP });
      if (getMap() !== ms || !ms.members[pid]) return;
      store.mergeTrail(ms, pid, points);
      const last = points[points.length - 1];
      if (last && !(ms.positions[pid]?.ts >= last.ts)) {
        ms.positions[pid] = { player: pid, name: ms.members[pid].name, ...last };
        onPosition(pid);
      }
      onTrail(pid);
    } catch {
      // 404: gone again already; the socket says what happened
    }
  }

  return { loadAll, loadJoiner };
}
