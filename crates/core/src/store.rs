//! The durable state behind the service: players, maps, memberships and trails.
//!
//! Every write is durable when its future completes, except trail points, which a backend
//! may group-commit a short window later (the embedded one: at most ~100 ms) but must show to
//! reads at once.

use std::sync::Arc;

use async_trait::async_trait;
use marauder_protocol::{Fix, Millis, Place, Visibility};
use serde::{Deserialize, Serialize};

use crate::device::DeviceId;
use crate::domain::{MapId, PlayerId, SessionId};
use crate::retention::Erased;
use crate::secret::TokenHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached; the operation wrote nothing.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("backend failure: {0}")]
    Internal(String),
}

/// Which points of a trail a read wants: `ts > since` and `ts <= until` (either bound may be
/// absent). A range whose `until` is below its `since` holds no point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrailRange {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
}

/// A point's place in its trail: by `ts`, then by `tie`, a number the backend gives each
/// point as it is stored (so points of one `ts` keep their order of arrival).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TrailCursor {
    pub ts: Millis,
    pub tie: u64,
}

/// One page of a paged trail read.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailPage {
    pub points: Vec<Fix>,
    /// Where the page stopped (its last point); `None` when it is empty.
    pub last: Option<TrailCursor>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlayerRecord {
    pub id: PlayerId,
    pub name: String,
    pub created_at: Millis,
}

/// A signed-in device of a player: one token. Found by the token's hash.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: SessionId,
    pub player: PlayerId,
    pub token_hash: TokenHash,
    pub created_at: Millis,
    /// When the session last authenticated (kept to the minute).
    pub last_seen: Option<Millis>,
    /// The `User-Agent` that created it, at most [`SessionRecord::AGENT_MAX`] bytes.
    pub agent: Option<String>,
}

/// A one-time link code, kept by its hash until it is redeemed or expires.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkCodeRecord {
    pub hash: TokenHash,
    pub player: PlayerId,
    pub expires_at: Millis,
    /// The session that made it: a code outlives its session only as the player's way back
    /// (no session left), never as a revoked intruder's.
    pub session: Option<SessionId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapRecord {
    pub id: MapId,
    pub name: String,
    pub owner: PlayerId,
    pub visibility: Visibility,
    /// Present exactly for private maps.
    pub invite_code: Option<String>,
    pub created_at: Millis,
}

/// A phone app's credential; only the secret's hash is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub player: PlayerId,
    pub name: String,
    pub secret_hash: TokenHash,
    pub created_at: Millis,
    /// When the device last presented its credential (kept to the minute).
    pub last_seen: Option<Millis>,
}

/// A public map's place in the listing: most members first, ties by id. It is also the
/// paging cursor of `GET /maps` (a page continues strictly after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicCursor {
    pub members: u64,
    pub id: MapId,
}

impl PublicCursor {
    /// The order of the listing as one ascending key: `u64::MAX - members`, then the id.
    pub fn rank(&self) -> (u64, &str) {
        (u64::MAX - self.members, self.id.as_str())
    }

    /// The cursor as clients see it: opaque, URL-safe.
    pub fn encode(&self) -> String {
        data_encoding::BASE64URL_NOPAD.encode(format!("{}.{}", self.members, self.id).as_bytes())
    }

    pub fn decode(raw: &str) -> Option<PublicCursor> {
        let bytes = data_encoding::BASE64URL_NOPAD.decode(raw.as_bytes()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (members, id) = text.split_once('.')?;
        if members.is_empty() || !members.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(PublicCursor { members: members.parse().ok()?, id: MapId::parse(id)? })
    }
}

type Result<T> = std::result::Result<T, StoreError>;

// How a backend keeps a record: JSON, without the id (the key holds it).

#[derive(Serialize, Deserialize)]
struct StoredPlayer {
    name: String,
    /// The player's one token, from before sessions: read once to migrate it into a session.
    #[serde(default, skip_serializing)]
    token_hash: Option<[u8; 32]>,
    created_at: Millis,
}

#[derive(Serialize, Deserialize)]
struct StoredSession {
    id: String,
    player: String,
    token_hash: [u8; 32],
    created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredLinkCode {
    hash: [u8; 32],
    player: String,
    expires_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredMap {
    name: String,
    owner: String,
    visibility: Visibility,
    invite_code: Option<String>,
    created_at: Millis,
}

#[derive(Serialize, Deserialize)]
struct StoredDevice {
    player: String,
    name: String,
    secret_hash: [u8; 32],
    created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<Millis>,
}

impl PlayerRecord {
    pub fn encode(&self) -> Vec<u8> {
        let stored = StoredPlayer { name: self.name.clone(), token_hash: None, created_at: self.created_at };
        serde_json::to_vec(&stored).expect("a player always encodes")
    }

    pub fn decode(id: &str, bytes: &[u8]) -> Result<PlayerRecord> {
        let stored: StoredPlayer = serde_json::from_slice(bytes).map_err(|e| corrupt("a player", e))?;
        Ok(PlayerRecord {
            id: stored_id(PlayerId::parse(id))?,
            name: stored.name,
            created_at: stored.created_at,
        })
    }

    /// The token hash a player record written before sessions holds, if any: a backend
    /// turns it into the player's first session once.
    pub fn legacy_token_hash(bytes: &[u8]) -> Option<TokenHash> {
        let stored: StoredPlayer = serde_json::from_slice(bytes).ok()?;
        stored.token_hash.map(TokenHash)
    }
}

impl SessionRecord {
    pub const AGENT_MAX: usize = 200;

    /// `agent` cut to [`SessionRecord::AGENT_MAX`] bytes on a character boundary, control
    /// characters dropped.
    pub fn agent_from(raw: Option<&str>) -> Option<String> {
        let cleaned: String = raw?.chars().filter(|c| !c.is_control()).collect();
        let mut end = cleaned.len().min(Self::AGENT_MAX);
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        let cut = cleaned[..end].trim();
        (!cut.is_empty()).then(|| cut.to_owned())
    }

    pub fn encode(&self) -> Vec<u8> {
        let stored = StoredSession {
            id: self.id.to_string(),
            player: self.player.to_string(),
            token_hash: self.token_hash.0,
            created_at: self.created_at,
            last_seen: self.last_seen,
            agent: self.agent.clone(),
        };
        serde_json::to_vec(&stored).expect("a session always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<SessionRecord> {
        let stored: StoredSession = serde_json::from_slice(bytes).map_err(|e| corrupt("a session", e))?;
        Ok(SessionRecord {
            id: stored_id(SessionId::parse(&stored.id))?,
            player: stored_id(PlayerId::parse(&stored.player))?,
            token_hash: TokenHash(stored.token_hash),
            created_at: stored.created_at,
            last_seen: stored.last_seen,
            agent: stored.agent,
        })
    }
}

impl LinkCodeRecord {
    pub fn encode(&self) -> Vec<u8> {
        let stored = StoredLinkCode {
            hash: self.hash.0,
            player: self.player.to_string(),
            expires_at: self.expires_at,
            session: self.session.as_ref().map(SessionId::to_string),
        };
        serde_json::to_vec(&stored).expect("a link code always encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<LinkCodeRecord> {
        let stored: StoredLinkCode = serde_json::from_slice(bytes).map_err(|e| corrupt("a link code", e))?;
        Ok(LinkCodeRecord {
            hash: TokenHash(stored.hash),
            player: stored_id(PlayerId::parse(&stored.player))?,
            expires_at: stored.expires_at,
            session: stored.session.map(|id| stored_id(SessionId::parse(&id))).transpose()?,
        })
    }
}

impl MapRecord {
    pub fn encode(&self) -> Vec<u8> {
        let stored = StoredMap {
            name: self.name.clone(),
            owner: self.owner.to_string(),
            visibility: self.visibility,
            invite_code: self.invite_code.clone(),
            created_at: self.created_at,
        };
        serde_json::to_vec(&stored).expect("a map always encodes")
    }

    pub fn decode(id: &str, bytes: &[u8]) -> Result<MapRecord> {
        let stored: StoredMap = serde_json::from_slice(bytes).map_err(|e| corrupt("a map", e))?;
        Ok(MapRecord {
            id: stored_id(MapId::parse(id))?,
            name: stored.name,
            owner: stored_id(PlayerId::parse(&stored.owner))?,
            visibility: stored.visibility,
            invite_code: stored.invite_code,
            created_at: stored.created_at,
        })
    }
}

impl DeviceRecord {
    pub fn encode(&self) -> Vec<u8> {
        let stored = StoredDevice {
            player: self.player.to_string(),
            name: self.name.clone(),
            secret_hash: self.secret_hash.0,
            created_at: self.created_at,
            last_seen: self.last_seen,
        };
        serde_json::to_vec(&stored).expect("a device always encodes")
    }

    pub fn decode(id: &str, bytes: &[u8]) -> Result<DeviceRecord> {
        let stored: StoredDevice = serde_json::from_slice(bytes).map_err(|e| corrupt("a device", e))?;
        Ok(DeviceRecord {
            id: stored_id(DeviceId::parse(id))?,
            player: stored_id(PlayerId::parse(&stored.player))?,
            name: stored.name,
            secret_hash: TokenHash(stored.secret_hash),
            created_at: stored.created_at,
            last_seen: stored.last_seen,
        })
    }
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("decoding {what}: {err}"))
}

fn stored_id<T>(id: Option<T>) -> Result<T> {
    id.ok_or_else(|| StoreError::Internal("a stored id is malformed".into()))
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates the player with its first session.
    async fn create_player(&self, player: PlayerRecord, session: SessionRecord) -> Result<()>;
    async fn player(&self, id: &PlayerId) -> Result<Option<PlayerRecord>>;
    /// Gives the player a new name; answers whether the player exists. Every later read of the
    /// player (by id, by token, as a member) has the new name.
    async fn rename_player(&self, id: &PlayerId, name: &str) -> Result<bool>;
    /// Removes the player, its sessions, its devices, its memberships and its trail; answers
    /// the maps it was a member of. Maps it owns remain (the core hands them on first).
    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>>;

    /// The session a token's hash opens, with its player.
    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<(SessionRecord, PlayerRecord)>>;
    /// Adds a session to an existing player.
    async fn create_session(&self, session: SessionRecord) -> Result<()>;
    /// The player's sessions, oldest first.
    async fn sessions_of(&self, player: &PlayerId) -> Result<Vec<SessionRecord>>;
    /// Stores `session.last_seen` if the session still exists (a revoked one stays gone).
    async fn touch_session(&self, session: &SessionRecord) -> Result<()>;
    /// Revokes the session if it is the player's: its token opens nothing from when this
    /// returns. Answers the revoked record.
    async fn delete_session(&self, player: &PlayerId, id: &SessionId) -> Result<Option<SessionRecord>>;

    /// Keeps a link code until it is taken or expires (a backend may forget it any time after
    /// `expires_at`).
    async fn create_link_code(&self, code: LinkCodeRecord) -> Result<()>;
    /// Removes the link code and answers it: of racing callers, at most one gets it. Expiry is
    /// the caller's to check.
    async fn take_link_code(&self, hash: &TokenHash) -> Result<Option<LinkCodeRecord>>;

    async fn create_device(&self, device: DeviceRecord) -> Result<()>;
    async fn device(&self, id: &DeviceId) -> Result<Option<DeviceRecord>>;
    /// The player's devices, oldest first.
    async fn devices_of(&self, player: &PlayerId) -> Result<Vec<DeviceRecord>>;
    /// Stores `device.last_seen` if the device still exists (a revoked one stays gone).
    async fn touch_device(&self, device: &DeviceRecord) -> Result<()>;
    /// Revokes the device if it is the player's; answers whether it was.
    async fn delete_device(&self, player: &PlayerId, id: &DeviceId) -> Result<bool>;

    /// Creates the map with its owner as the first member.
    async fn create_map(&self, map: MapRecord) -> Result<()>;
    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>>;
    /// Replaces the map's record (name, visibility, invite code, owner) with `map` if it is
    /// still `expected` (compare and set), the public-map index with it; answers whether it
    /// did: `false` when the map is gone or was changed meanwhile (the caller reads it again).
    async fn update_map(&self, expected: &MapRecord, map: MapRecord) -> Result<bool>;
    /// Deletes the map: its record, every membership (the members' map lists too) and its
    /// public-index entry; answers whether it existed. Players' trails stay.
    async fn delete_map(&self, id: &MapId) -> Result<bool>;
    /// Up to `count` entries of the public-map index strictly after `after` (from the start
    /// when `None`), in [`PublicCursor`] order. An entry whose map is gone or no longer public
    /// (an index a step behind the records) comes with `None`; fewer than `count` entries
    /// means the index has no more.
    async fn public_maps(
        &self,
        after: Option<&PublicCursor>,
        count: usize,
    ) -> Result<Vec<(PublicCursor, Option<MapRecord>)>>;
    /// Members with their current names, earliest joined first (the order ownership passes in).
    async fn members(&self, map: &MapId) -> Result<Vec<(PlayerId, String)>>;
    async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool>;
    /// The maps a player belongs to.
    async fn maps_of(&self, player: &PlayerId) -> Result<Vec<MapRecord>>;
    /// The ids of the maps a player belongs to: asked on every location, so a backend
    /// should answer it from memory where it can.
    async fn map_ids_of(&self, player: &PlayerId) -> Result<Arc<[MapId]>>;
    /// Whether the player was not a member before. A map that no longer exists gains no
    /// member (false).
    async fn add_member(&self, map: &MapId, player: &PlayerId) -> Result<bool>;
    /// Whether the player was a member before.
    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool>;

    /// A map's places, in no particular order.
    async fn places(&self, map: &MapId) -> Result<Vec<Place>>;
    /// Adds the place unless the map has `max` places already; answers whether it did.
    async fn add_place(&self, map: &MapId, place: &Place, max: usize) -> Result<bool>;
    /// Removes the place; answers whether it was there.
    async fn remove_place(&self, map: &MapId, place: &str) -> Result<bool>;

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()>;
    /// The maps this handler last saw the player in, if it remembers them without asking:
    /// a backend over the network answers it so that a location's publishes can go out with
    /// its trail append (one round trip), the append's answer then catching any map the hint
    /// missed. Publishing checks membership, so a stale hint costs a publish, never a wrong
    /// event. A backend that answers [`Store::map_ids_of`] from memory leaves it `None`.
    fn map_ids_hint(&self, _player: &PlayerId) -> Option<Arc<[MapId]>> {
        None
    }
    /// [`Store::append_trail_and_map_ids`] for several points of one player, oldest first: a
    /// backend over the network stores them in one step.
    async fn append_trails_and_map_ids(&self, player: &PlayerId, fixes: &[Fix]) -> Result<Arc<[MapId]>> {
        let mut maps = None;
        for fix in fixes {
            maps = Some(self.append_trail_and_map_ids(player, fix).await?);
        }
        match maps {
            Some(maps) => Ok(maps),
            None => self.map_ids_of(player).await,
        }
    }
    /// [`Store::append_trail`], then [`Store::map_ids_of`]: the location hot path, which a
    /// backend over the network answers in one round trip.
    async fn append_trail_and_map_ids(&self, player: &PlayerId, fix: &Fix) -> Result<Arc<[MapId]>> {
        self.append_trail(player, fix).await?;
        self.map_ids_of(player).await
    }
    /// Points with `ts > since`, oldest first, at most `limit`.
    async fn trail(&self, player: &PlayerId, since: Option<Millis>, limit: usize) -> Result<Vec<Fix>> {
        let range = TrailRange { since, until: None };
        Ok(self.trail_page(player, range, None, limit).await?.points)
    }

    /// The points of `range` that come after `after` (from the start of the range without
    /// it) in the trail's order (`ts`, then [`TrailCursor::tie`]), at most `limit`, with the
    /// cursor of the last one: reading on from it neither skips nor repeats a point, even
    /// among points that share a `ts`. Fewer than `limit` only when no point of the range
    /// follows.
    async fn trail_page(
        &self,
        player: &PlayerId,
        range: TrailRange,
        after: Option<TrailCursor>,
        limit: usize,
    ) -> Result<TrailPage>;
    /// The point with the greatest `ts`.
    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>>;
    /// One bounded step of erasing the trail points with `ts < cutoff` (the core decides the
    /// cutoff, [`crate::retention`]): the backend walks the players that have a trail, in an
    /// order of its own, from where its previous step stopped (on a backend several handlers
    /// share, any handler's step), visits at most `budget` players and erases at most
    /// `budget` points of each. A step is a short write that never holds up the location
    /// path for long; it runs nothing on an async worker that could block it.
    async fn erase_trails_before(&self, cutoff: Millis, budget: usize) -> Result<Erased>;

    /// Makes everything acknowledged so far durable (on shutdown).
    async fn flush(&self) -> Result<()>;

    /// Whether the store can take writes now; `Unavailable` with the reason an operator reads
    /// (`/readyz`) when it cannot. Answers within a short timeout.
    async fn ready(&self) -> Result<()>;
}
