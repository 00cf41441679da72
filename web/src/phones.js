// What a phone app needs to send its positions to this server, as text and as QR payloads.
// A device is {id, name, secret}: OwnTracks logs in with username = id and password = secret;
// Traccar Client and OsmAnd carry the pair in one identifier, `<id>.<secret>`.

/** The OwnTracks HTTP endpoint. */
export function owntracksUrl(origin = location.origin) {
  return `${origin}/api/v1/owntracks`;
}

/** The OsmAnd-protocol endpoint (Traccar Client and OsmAnd). */
export function osmandUrl(origin = location.origin) {
  return `${origin}/api/v1/osmand`;
}

/** Traccar Client's "device identifier" and the `id` of the OsmAnd protocol. */
export function deviceIdentifier(device) {
  return `${device.id}.${device.secret}`;
}

/** OsmAnd's "Online tracking" web address, with its {0}…{6} placeholders. OsmAnd fills {3}
 *  with the accuracy in metres (though Traccar's examples call it hdop) and {5} with the speed
 *  in m/s (Traccar's `speed` is knots), hence `accuracy` and `speed_mps`. */
export function osmandWebAddress(device, origin = location.origin) {
  return (
    `${osmandUrl(origin)}?id=${deviceIdentifier(device)}` +
    '&lat={0}&lon={1}&timestamp={2}&accuracy={3}&altitude={4}&speed_mps={5}&bearing={6}'
  );
}

/** Traccar Client's QR code: an http(s) URL whose origin + path is the server URL, whose
 *  `id` parameter is the device identifier, and whose `accuracy` sets the app's location
 *  accuracy (high: a live map wants every step). */
export function traccarQrPayload(device, origin = location.origin) {
  return `${osmandUrl(origin)}?id=${deviceIdentifier(device)}&accuracy=high`;
}

/** "Pixel 8" -> "pixel-8"; ASCII letters and digits only ("phone" when nothing is left). */
export function slug(name) {
  const s = String(name ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 32)
    .replace(/-+$/, '');
  return s || 'phone';
}

/** Two uppercase initials for OwnTracks' tracker id: "Alice Smith" -> "AS", "Alice" -> "AL". */
export function initials(name) {
  const words = String(name ?? '').match(/[\p{L}\p{N}]+/gu) || [];
  let chars;
  if (words.length >= 2) chars = [[...words[0]][0], [...words[1]][0]];
  else if (words.length === 1) chars = [...words[0]].slice(0, 2);
  else chars = [];
  const tid = [...chars.join('').toUpperCase()].slice(0, 2).join('');
  return tid || 'ME';
}

/** Base64 of the UTF-8 bytes of `text` (btoa alone only takes Latin-1). */
export function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The configuration OwnTracks imports: HTTP mode with basic auth. */
export function owntracksConfig(device, playerName, origin = location.origin) {
  return {
    _type: 'configuration',
    mode: 3, // HTTP
    url: owntracksUrl(origin),
    auth: true,
    username: device.id,
    password: device.secret,
    deviceId: slug(device.name),
    tid: initials(playerName),
    // Lets the server hand the phone the map's places as regions (setWaypoints).
    cmd: true,
  };
}

/** OwnTracks' QR code: a link the phone's camera opens in OwnTracks, which imports the
 *  inline (base64 JSON) configuration. */
export function owntracksQrPayload(device, playerName, origin = location.origin) {
  const json = JSON.stringify(owntracksConfig(device, playerName, origin));
  return `owntracks:///config?inline=${encodeURIComponent(base64Utf8(json))}`;
}
