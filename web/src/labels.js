// Name labels that never overlap: each shown marker's label goes right of its footprints, or
// left when the right is taken, in a stable priority (oneself, then the most recently seen);
// a label with no free side is hidden (it shows on hover or tap). Pure geometry on screen
// rectangles, measured once per layout, so that 50 markers cost 50 reads.

/** A name cut to `max` characters (whole code points) with an ellipsis. */
export function truncateName(name, max = 16) {
  const chars = [...String(name)];
  return chars.length <= max ? String(name) : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

const GAP = 4; // px between the footprints and the label (see .mm-name in styles.css)

export function overlaps(a, b) {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

function inside(r, box) {
  return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
}

/**
 * Decides where each label goes. entries: [{icon: DOMRect of the 28 px footprints box,
 * width, height, top, self}] in priority order; box: where labels may go; blocked:
 * rectangles a label must not cover (cluster bubbles, panels over the map); dots: footprints
 * a label should rather not cover. Returns one of 'right' | 'left' | 'above' | 'below' |
 * null (hidden) per entry. One's own label may cover a bubble, never another label.
 */
export function placeLabels(entries, box, blocked = [], dots = []) {
  const placed = [];
  return entries.map((e, i) => {
    const w = e.width;
    const hgt = e.height;
    const mid = (e.icon.left + e.icon.right) / 2;
    const candidates = [
      ['right', { left: e.icon.right + GAP, right: e.icon.right + GAP + w, top: e.top, bottom: e.top + hgt }],
      ['left', { left: e.icon.left - GAP - w, right: e.icon.left - GAP, top: e.top, bottom: e.top + hgt }],
      ['above', { left: mid - w / 2, right: mid + w / 2, top: e.icon.top - GAP - hgt, bottom: e.icon.top - GAP }],
      ['below', { left: mid - w / 2, right: mid + w / 2, top: e.icon.bottom + GAP, bottom: e.icon.bottom + GAP + hgt }],
    ];
    const room = (r) => inside(r, box) && !placed.some((p) => overlaps(p, r));
    const free = (r) => room(r) && !blocked.some((b) => overlaps(b, r));
    const clear = (r) => !dots.some((d, j) => j !== i && overlaps(d, r));
    const pick =
      candidates.find(([, r]) => free(r) && clear(r)) ??
      candidates.find(([, r]) => free(r)) ??
      (e.self ? candidates.find(([, r]) => room(r)) : undefined);
    if (!pick) return null;
    placed.push(pick[1]);
    return pick[0];
  });
}
