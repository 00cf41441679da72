// Hash routes: #/ (maps), #/phones, #/map/<id>, #/join/<id>/<code>.

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseHash(hash) {
  const path = (hash || '').replace(/^#/, '');
  if (path && !path.startsWith('/')) return { name: 'maps' };
  const parts = path.split('/').filter(Boolean).map(decode);
  if (parts.length === 0) return { name: 'maps' };
  if (parts[0] === 'phones' && parts.length === 1) return { name: 'phones' };
  if (parts[0] === 'map' && parts.length === 2) return { name: 'map', mapId: parts[1] };
  if (parts[0] === 'join' && parts.length === 3) return { name: 'join', mapId: parts[1], code: parts[2] };
  return { name: 'unknown' };
}

export const hrefs = {
  maps: () => '#/',
  phones: () => '#/phones',
  map: (id) => `#/map/${encodeURIComponent(id)}`,
  join: (id, code) => `#/join/${encodeURIComponent(id)}/${encodeURIComponent(code)}`,
};

/** The full invite link of a private map. */
export function inviteLink(id, code) {
  return `${location.origin}/${hrefs.join(id, code)}`;
}
