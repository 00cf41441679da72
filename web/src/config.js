// Runtime settings served by the server at /config.json: {"tiles", "attribution"}.
// tiles null means no tile layer (plain parchment). If it cannot be read: OpenStreetMap.

export const DEFAULT_CONFIG = Object.freeze({
  tiles: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
  attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
});

export async function loadConfig() {
  try {
    const res = await fetch('/config.json', { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`config.json: ${res.status}`);
    const data = await res.json();
    if (!data || typeof data !== 'object' || !('tiles' in data)) throw new Error('config.json: no tiles key');
    return {
      tiles: typeof data.tiles === 'string' && data.tiles ? data.tiles : null,
      attribution: typeof data.attribution === 'string' ? data.attribution : null,
    };
  } catch {
    return { ...DEFAULT_CONFIG };
  }
}
