//! [`Marauder`]: the rules of the game, over whichever [`Store`] and [`Feed`] were chosen.
//! Every request of the contract is one method here; the server only translates.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures_util::future::join_all;
use marauder_protocol::{
    Accepted, CreateDevice, CreateMap, Device, DeviceCreated, Devices, Fix, JoinMap, LocationInput,
    Locations, MapCreated, MapDetail, MapSummary, Me, Millis, PlayerLocation, PlayerSummary, PublicMap,
    PublicMaps, Visibility,
};
use tokio::sync::Mutex;

use crate::device::{DeviceId, DeviceSecret};
use crate::domain::{MapId, Name, PlayerId, SessionId, now_millis, validate_fix};
use crate::error::CoreError;
use crate::feed::{Change, Feed, Listening, Replay, Snapshot};
use crate::retention::TrailMaxAge;
use crate::secret::InviteCode;
use crate::store::{DeviceRecord, MapRecord, PublicCursor, Store, StoreError};

mod admin;
mod places;
mod sessions;
mod trails;

pub use sessions::Client;

/// Limits that the contract leaves to the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The default and the maximum `limit` of a trail read.
    pub trail_page: usize,
    /// Devices one player may have.
    pub devices_per_player: usize,
    /// Sessions (signed-in browsers and programs) one player may have.
    pub sessions_per_player: usize,
    /// How long trail points are kept (`--trail-max-age`): reads never answer an older one.
    pub trail_max_age: TrailMaxAge,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            trail_page: 1000,
            devices_per_player: 20,
            sessions_per_player: 50,
            trail_max_age: TrailMaxAge::default(),
        }
    }
}

/// `GET /maps`: the page size when none is asked, and the largest one may ask.
pub const PUBLIC_PAGE_DEFAULT: usize = 100;
pub const PUBLIC_PAGE_MAX: usize = 500;
/// With `q`, index entries read per request at most, so that a rare name costs a bounded
/// amount of work per request (the client follows `next`), and how many per store call.
pub const PUBLIC_SCAN_BUDGET: usize = 500;
const PUBLIC_SCAN_CHUNK: usize = 250;

fn public_page(found: Vec<(PublicCursor, MapRecord)>, next: Option<String>) -> PublicMaps {
    let maps = found
        .into_iter()
        .map(|(cursor, m)| PublicMap { id: m.id.into_string(), name: m.name, members: cursor.members })
        .collect();
    PublicMaps { maps, next }
}

/// An authenticated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    pub id: PlayerId,
    pub name: String,
    /// The session whose token authenticated the request; `None` for a phone's device
    /// credential.
    pub session: Option<SessionId>,
}

/// A device's `last_seen` is rewritten at most this often: a phone reporting every second
/// costs one store write a minute, not one a report.
const LAST_SEEN_RESOLUTION_MS: Millis = 60_000;

fn stale(last_seen: Option<Millis>, now: Millis) -> bool {
    last_seen.is_none_or(|seen| now - seen >= LAST_SEEN_RESOLUTION_MS || seen > now)
}

/// Membership changes of one (map, player) pair are serialised through one of these stripes,
/// so the store's member set and the feed's `joined`/`left` events cannot disagree.
const MEMBERSHIP_STRIPES: usize = 64;

#[derive(Clone)]
pub struct Marauder {
    store: Arc<dyn Store>,
    feed: Arc<dyn Feed>,
    limits: Limits,
    stripes: Arc<[Mutex<()>]>,
}

impl Marauder {
    pub fn new(store: Arc<dyn Store>, feed: Arc<dyn Feed>, limits: Limits) -> Self {
        let stripes = (0..MEMBERSHIP_STRIPES).map(|_| Mutex::new(())).collect();
        Marauder { store, feed, limits, stripes }
    }

    /// The stripe that serialises an owner's changes of one map with their events on this
    /// handler. Never taken while a (map, player) stripe is held, nor the other way round.
    fn map_stripe(&self, map: &MapId) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        (map, "map").hash(&mut hasher);
        &self.stripes[hasher.finish() as usize % MEMBERSHIP_STRIPES]
    }

    fn stripe(&self, map: &MapId, player: &PlayerId) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        (map, player).hash(&mut hasher);
        &self.stripes[hasher.finish() as usize % MEMBERSHIP_STRIPES]
    }

    // --- players -----------------------------------------------------------------------

    pub async fn me(&self, player: &Player) -> Result<Me, CoreError> {
        let record = self.store.player(&player.id).await?.ok_or(CoreError::Unauthorized)?;
        let maps = self.store.maps_of(&player.id).await?;
        Ok(Me {
            id: record.id.into_string(),
            name: record.name,
            created_at: record.created_at,
            maps: maps.into_iter().map(|m| MapSummary { id: m.id.into_string(), name: m.name }).collect(),
        })
    }

    pub async fn player(&self, id: &str) -> Result<PlayerSummary, CoreError> {
        let not_found = || CoreError::NotFound(format!("no player {id}"));
        let id = PlayerId::parse(id).ok_or_else(not_found)?;
        let record = self.store.player(&id).await?.ok_or_else(not_found)?;
        Ok(PlayerSummary { id: record.id.into_string(), name: record.name })
    }

    /// Leaves every map first, each with its `left` event (and its ownership handed on), and
    /// deletes the player (sessions last) only then: interrupted anywhere, the token still
    /// works and a retry finishes.
    pub async fn delete_player(&self, player: &Player) -> Result<(), CoreError> {
        for map in self.store.map_ids_of(&player.id).await?.iter() {
            self.leave_map(player, map, false).await?;
        }
        // Memberships that appeared meanwhile go with the player: announce them too.
        for map in self.store.delete_player(&player.id).await? {
            {
                let _guard = self.stripe(&map, &player.id).lock().await;
                self.feed.publish(&map, self.left(player, false)).await?;
            }
            self.after_departure(&map, &player.id).await?;
        }
        self.announce(crate::feed::Notice::PlayerDeleted { player: player.id.clone() }).await;
        tracing::info!(player = %player.id, "player deleted");
        Ok(())
    }

    // --- devices -------------------------------------------------------------------------

    pub async fn create_device(
        &self,
        player: &Player,
        req: CreateDevice,
    ) -> Result<DeviceCreated, CoreError> {
        let name = Name::parse("name", &req.name)?.into_string();
        let max = self.limits.devices_per_player;
        if self.store.devices_of(&player.id).await?.len() >= max {
            return Err(CoreError::BadRequest(format!(
                "a player has at most {max} devices: revoke one before adding another"
            )));
        }
        let secret = DeviceSecret::generate();
        let record = DeviceRecord {
            id: DeviceId::generate(),
            player: player.id.clone(),
            name,
            secret_hash: secret.hash(),
            created_at: now_millis(),
            last_seen: None,
        };
        self.store.create_device(record.clone()).await?;
        tracing::info!(player = %player.id, device = %record.id, "device created");
        Ok(DeviceCreated {
            id: record.id.into_string(),
            name: record.name,
            secret: secret.expose().to_owned(),
            created_at: record.created_at,
        })
    }

    pub async fn devices(&self, player: &Player) -> Result<Devices, CoreError> {
        let devices = self.store.devices_of(&player.id).await?;
        Ok(Devices {
            devices: devices
                .into_iter()
                .map(|d| Device {
                    id: d.id.into_string(),
                    name: d.name,
                    created_at: d.created_at,
                    last_seen: d.last_seen,
                })
                .collect(),
        })
    }

    pub async fn delete_device(&self, player: &Player, id: &str) -> Result<(), CoreError> {
        let not_found = || CoreError::NotFound(format!("no device {id}"));
        let id = DeviceId::parse(id).ok_or_else(not_found)?;
        if !self.store.delete_device(&player.id, &id).await? {
            return Err(not_found());
        }
        tracing::info!(player = %player.id, device = %id, "device revoked");
        Ok(())
    }

    /// The player a device credential belongs to.
    pub async fn authenticate_device(&self, id: &str, secret: &str) -> Result<Player, CoreError> {
        let id = DeviceId::parse(id).ok_or(CoreError::Unauthorized)?;
        let device = self.store.device(&id).await?.ok_or(CoreError::Unauthorized)?;
        if !DeviceSecret::matches(&device.secret_hash, secret) {
            return Err(CoreError::Unauthorized);
        }
        let record = self.store.player(&device.player).await?.ok_or(CoreError::Unauthorized)?;
        let now = now_millis();
        if stale(device.last_seen, now) {
            // Only what the Phones page shows: a failure here must not refuse the report.
            let seen = DeviceRecord { last_seen: Some(now), ..device };
            if let Err(err) = self.store.touch_device(&seen).await {
                tracing::warn!(device = %seen.id, error = %err, "could not record when a device was seen");
            }
        }
        Ok(Player { id: record.id, name: record.name, session: None })
    }

    /// The latest location of everyone who shares a map with the player (not the player),
    /// most recent first, at most `limit`: what a phone app shows as friends.
    pub async fn co_members(&self, player: &Player, limit: usize) -> Result<Vec<PlayerLocation>, CoreError> {
        let mut latest: HashMap<String, PlayerLocation> = HashMap::new();
        for map in self.store.map_ids_of(&player.id).await?.iter() {
            // The player's map index may name a map just left (on Redis).
            if !self.store.is_member(map, &player.id).await? {
                continue;
            }
            for location in self.unexpired_snapshot(self.feed.snapshot(map).await?).locations {
                if location.player == player.id.as_str() {
                    continue;
                }
                match latest.get(&location.player) {
                    Some(known) if known.fix.ts >= location.fix.ts => {}
                    _ => {
                        latest.insert(location.player.clone(), location);
                    }
                }
            }
        }
        let mut friends: Vec<PlayerLocation> = latest.into_values().collect();
        friends.sort_by(|a, b| b.fix.ts.cmp(&a.fix.ts).then_with(|| a.player.cmp(&b.player)));
        friends.truncate(limit);
        Ok(friends)
    }

    // --- maps --------------------------------------------------------------------------

    pub async fn create_map(&self, owner: &Player, req: CreateMap) -> Result<MapCreated, CoreError> {
        let name = Name::parse("name", &req.name)?.into_string();
        let visibility = req.visibility.unwrap_or_default();
        let invite_code =
            (visibility == Visibility::Private).then(|| InviteCode::generate().as_str().to_owned());
        let record = MapRecord {
            id: MapId::generate(),
            name,
            owner: owner.id.clone(),
            visibility,
            invite_code,
            created_at: now_millis(),
        };
        self.store.create_map(record.clone()).await?;
        tracing::info!(map = %record.id, owner = %owner.id, "map created");
        Ok(MapCreated {
            id: record.id.into_string(),
            name: record.name,
            owner: record.owner.into_string(),
            visibility: record.visibility,
            created_at: record.created_at,
            invite_code: record.invite_code,
        })
    }

    /// A page of `GET /maps`: at most `limit` public maps after the cursor `after`, those
    /// whose name contains `q` ignoring case, with the cursor of the next page when more may
    /// follow. With `q`, at most [`PUBLIC_SCAN_BUDGET`] index entries are read per request:
    /// past it the page may be short (even empty) and `next` says where to go on.
    pub async fn public_maps(
        &self,
        limit: Option<usize>,
        after: Option<&str>,
        q: Option<&str>,
    ) -> Result<PublicMaps, CoreError> {
        let limit = limit.unwrap_or(PUBLIC_PAGE_DEFAULT);
        if !(1..=PUBLIC_PAGE_MAX).contains(&limit) {
            return Err(CoreError::bad_request("limit", format!("must be from 1 to {PUBLIC_PAGE_MAX}")));
        }
        let mut position = match after {
            Some(raw) => Some(
                PublicCursor::decode(raw)
                    .ok_or_else(|| CoreError::bad_request("after", "malformed cursor"))?,
            ),
            None => None,
        };
        let needle = match q {
            Some(q) if q.chars().count() > Name::MAX_CHARS => {
                return Err(CoreError::bad_request("q", format!("at most {} characters", Name::MAX_CHARS)));
            }
            Some(q) if !q.is_empty() => Some(q.to_lowercase()),
            _ => None,
        };
        let budget = if needle.is_some() { PUBLIC_SCAN_BUDGET } else { usize::MAX };
        let (mut found, mut scanned) = (Vec::with_capacity(limit), 0usize);
        loop {
            let wanted = if needle.is_some() { PUBLIC_SCAN_CHUNK } else { limit + 1 - found.len() };
            let wanted = wanted.min(budget - scanned);
            if wanted == 0 {
                // The scan budget is spent: the client goes on from the last entry read.
                return Ok(public_page(found, position.map(|c| c.encode())));
            }
            let entries = self.store.public_maps(position.as_ref(), wanted).await?;
            let exhausted = entries.len() < wanted;
            for (cursor, record) in entries {
                scanned += 1;
                let matching =
                    record.filter(|r| needle.as_ref().is_none_or(|n| r.name.to_lowercase().contains(n)));
                if let Some(record) = matching {
                    if found.len() == limit {
                        let next = found.last().map(|(c, _): &(PublicCursor, MapRecord)| c.encode());
                        return Ok(public_page(found, next));
                    }
                    found.push((cursor.clone(), record));
                }
                position = Some(cursor);
            }
            if exhausted {
                return Ok(public_page(found, None));
            }
        }
    }

    /// The map, which must exist (404) and have `player` as a member (403).
    pub async fn member_map(&self, player: &Player, map: &str) -> Result<MapRecord, CoreError> {
        let record = self.existing_map(map).await?;
        if !self.store.is_member(&record.id, &player.id).await? {
            return Err(CoreError::Forbidden(format!("not a member of map {map}")));
        }
        Ok(record)
    }

    async fn existing_map(&self, map: &str) -> Result<MapRecord, CoreError> {
        let not_found = || CoreError::NotFound(format!("no map {map}"));
        let id = MapId::parse(map).ok_or_else(not_found)?;
        self.store.map(&id).await?.ok_or_else(not_found)
    }

    pub async fn map_detail(&self, player: &Player, map: &str) -> Result<MapDetail, CoreError> {
        let record = self.member_map(player, map).await?;
        self.detail(record).await
    }

    async fn detail(&self, record: MapRecord) -> Result<MapDetail, CoreError> {
        let members = self.store.members(&record.id).await?;
        Ok(MapDetail {
            id: record.id.into_string(),
            name: record.name,
            owner: record.owner.into_string(),
            visibility: record.visibility,
            created_at: record.created_at,
            members: members
                .into_iter()
                .map(|(id, name)| PlayerSummary { id: id.into_string(), name })
                .collect(),
            invite_code: record.invite_code,
        })
    }

    pub async fn join(&self, player: &Player, map: &str, req: JoinMap) -> Result<MapDetail, CoreError> {
        let record = self.existing_map(map).await?;
        if let Some(code) = &record.invite_code {
            let presented = req.invite_code.as_deref().unwrap_or_default();
            let already = self.store.is_member(&record.id, &player.id).await?;
            if !already && !InviteCode::from_stored(code.clone()).matches(presented) {
                return Err(CoreError::Forbidden("wrong or missing invite_code".into()));
            }
        }
        {
            let _guard = self.stripe(&record.id, &player.id).lock().await;
            let latest = match self.store.is_member(&record.id, &player.id).await? {
                true => None, // Already a member: the join publishes nothing.
                false => {
                    let latest = self.store.latest(&player.id).await?;
                    let kept = latest.filter(|fix| !self.limits.trail_max_age.expired(fix.ts, now_millis()));
                    kept.map(|fix| self.located(player, fix))
                }
            };
            let change = Change::Joined { player: player.id.to_string(), name: player.name.clone(), latest };
            match self.feed.publish_membership(&*self.store, &record.id, change).await? {
                Some(_) => tracing::info!(map = %record.id, player = %player.id, "joined"),
                None if self.store.map(&record.id).await?.is_none() => {
                    return Err(CoreError::NotFound(format!("no map {map}")));
                }
                None => {} // Already a member.
            }
        }
        // The record as it is now: the owner or the name may have changed since it was read.
        let record = self.existing_map(map).await?;
        self.detail(record).await
    }

    pub async fn leave(&self, player: &Player, map: &str) -> Result<(), CoreError> {
        let record = self.existing_map(map).await?;
        self.leave_map(player, &record.id, false).await
    }

    /// `player` leaves `map` (or is removed from it), with its `left` event; then the map is
    /// handed on or deleted if that was its owner or its last member.
    async fn leave_map(&self, player: &Player, map: &MapId, removed: bool) -> Result<(), CoreError> {
        {
            let _guard = self.stripe(map, &player.id).lock().await;
            if self.feed.publish_membership(&*self.store, map, self.left(player, removed)).await?.is_none() {
                drop(_guard);
                // Not a member (any more): the retry of a leave whose hand-over failed ends it.
                return self.after_departure(map, &player.id).await;
            }
            tracing::info!(%map, player = %player.id, removed, "left");
        }
        self.after_departure(map, &player.id).await
    }

    fn left(&self, player: &Player, removed: bool) -> Change {
        Change::Left { player: player.id.to_string(), name: player.name.clone(), removed }
    }

    fn located(&self, player: &Player, fix: Fix) -> PlayerLocation {
        PlayerLocation { player: player.id.to_string(), name: player.name.clone(), fix }
    }

    // --- locations ---------------------------------------------------------------------

    /// Stores the point in the player's trail and publishes it to every map the player is
    /// in; answers how many maps were informed.
    pub async fn post_location(&self, player: &Player, input: &LocationInput) -> Result<Accepted, CoreError> {
        let fix = validate_fix(input, now_millis())?;
        self.record(player, fix).await
    }

    /// [`Marauder::post_location`] for several points, oldest first, taken whole: none is
    /// stored unless every one is valid.
    pub async fn post_locations(&self, player: &Player, inputs: &[LocationInput]) -> Result<(), CoreError> {
        let now = now_millis();
        let fixes: Vec<Fix> =
            inputs.iter().map(|input| validate_fix(input, now)).collect::<Result<_, _>>()?;
        self.record_all(player, fixes).await.map(drop)
    }

    /// `location` frames a WebSocket client sent back to back, oldest first, each answered on
    /// its own (as frames are): the valid ones are stored and published together, in order,
    /// so that a run of them costs the backend one write rather than one each. Answers, per
    /// input, `None` or the error its frame gets.
    pub async fn post_location_frames(
        &self,
        player: &Player,
        inputs: &[LocationInput],
    ) -> Vec<Option<CoreError>> {
        let now = now_millis();
        let checked: Vec<Result<Fix, CoreError>> =
            inputs.iter().map(|input| validate_fix(input, now)).collect();
        let fixes: Vec<Fix> = checked.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
        let failed = match fixes.is_empty() {
            true => None,
            false => self.record_all(player, fixes).await.err(),
        };
        checked
            .into_iter()
            .map(|c| match c {
                Err(err) => Some(err),
                Ok(_) => failed.clone(),
            })
            .collect()
    }

    async fn record(&self, player: &Player, fix: Fix) -> Result<Accepted, CoreError> {
        self.record_all(player, vec![fix]).await
    }

    /// Appends valid points (oldest first) to the trail and publishes them to each of the
    /// player's maps, as consecutive events of each: to the maps the store remembers at once,
    /// beside the append, then to any other map the append answers. Answers how many maps
    /// were informed.
    async fn record_all(&self, player: &Player, fixes: Vec<Fix>) -> Result<Accepted, CoreError> {
        let locations: Vec<PlayerLocation> =
            fixes.iter().map(|fix| self.located(player, fix.clone())).collect();
        let hint = self.store.map_ids_hint(&player.id).unwrap_or_default();
        let append = self.store.append_trails_and_map_ids(&player.id, &fixes);
        let early = hint.iter().map(|map| self.feed.publish_locations(map, locations.clone()));
        let (maps, early) = futures_util::future::join(append, join_all(early)).await;
        let mut informed = 0;
        for published in early {
            informed += u64::from(published?.is_some());
        }
        for map in maps?.iter().filter(|map| !hint.contains(map)) {
            let published = self.feed.publish_locations(map, locations.clone()).await?;
            informed += u64::from(published.is_some());
        }
        Ok(Accepted { maps: informed })
    }

    pub async fn locations(&self, player: &Player, map: &str) -> Result<Locations, CoreError> {
        let record = self.member_map(player, map).await?;
        let snapshot = self.unexpired_snapshot(self.feed.snapshot(&record.id).await?);
        Ok(Locations { map: record.id.into_string(), seq: snapshot.seq, locations: snapshot.locations })
    }

    // --- live ----------------------------------------------------------------------------

    pub async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool, CoreError> {
        Ok(self.store.is_member(map, player).await?)
    }

    pub async fn snapshot(&self, map: &MapId) -> Result<Snapshot, CoreError> {
        Ok(self.unexpired_snapshot(self.feed.snapshot(map).await?))
    }

    pub async fn replay(&self, map: &MapId, since: u64) -> Result<Replay, CoreError> {
        Ok(match self.feed.replay(map, since).await? {
            Replay::Reset(snapshot) => Replay::Reset(self.unexpired_snapshot(snapshot)),
            events => events,
        })
    }

    /// A snapshot without the members' locations older than `--trail-max-age`: a map shows
    /// no position the trails no longer keep (the feed may still hold it, or load it from a
    /// trail the sweeper has not reached yet).
    fn unexpired_snapshot(&self, mut snapshot: Snapshot) -> Snapshot {
        if let Some(cutoff) = self.limits.trail_max_age.cutoff(now_millis()) {
            snapshot.locations.retain(|location| location.fix.ts >= cutoff);
        }
        snapshot
    }

    /// Has `map`'s events delivered to this handler's sink while the answer is held.
    pub async fn listen(&self, map: &MapId) -> Result<Listening, CoreError> {
        Ok(self.feed.listen(map).await?)
    }

    /// Whether the backends can take writes now (`/readyz`); the error's detail is the reason,
    /// meant for an operator.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ready().await?;
        self.feed.ready().await
    }

    /// Makes everything acknowledged durable; called once on shutdown.
    pub async fn flush(&self) -> Result<(), CoreError> {
        self.feed.flush().await?;
        self.store.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_seen_is_rewritten_once_a_minute_or_when_the_clock_went_back() {
        assert!(stale(None, 5));
        assert!(!stale(Some(1_000), 60_999));
        assert!(stale(Some(1_000), 61_000));
        assert!(stale(Some(90_000), 1_000), "a clock set back must not freeze it");
    }
}
