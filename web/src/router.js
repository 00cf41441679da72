// Hash routes: #/ (maps), #/phones, #/account, #/map/<id>, #/join/<id>[/<code>] (a map's
// invite; a public map needs no code), #/link/<code> (signs this browser in as the player
// who made the code).

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
  if (parts[0] === 'account' && parts.length === 1) return { name: 'account' };
  if (parts[0] === 'join' && parts.length === 3) return { name: 'join', mapId: parts[1], code: parts[2] };
  if (parts[0] === 'join' && parts.length === 2) return { name: 'join', mapId: parts[1], code: null };
  if (parts[0] === 'link' && parts.length === 2) return { name: 'link', code: parts[1] };
  return { name: 'unknown' };
}

export const hrefs = {
  maps: () => '#/',
  phones: () => '#/phones',
  map: (id) => `#/map/${encodeURIComponent(id)}`,
  account: () => '#/account',
  join: (id, code) => (code ? `#/join/${encodeURIComponent(id)}/${encodeURIComponent(code)}` : `#/join/${encodeURIComponent(id)}`),
  link: (code) => `#/link/${encodeURIComponent(code)}`,
};

/** The full invite link of a private map. */
export function inviteLink(id, code) {
  return `${location.origin}/${hrefs.join(id, code)}`;
}

/** The full sign-in link of a link code: opened in another browser, it signs that browser
 *  in as the player who made the code. */
export function signInLink(code) {
  return `${location.origin}/${hrefs.link(code)}`;
}
