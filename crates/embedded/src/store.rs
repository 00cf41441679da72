//! [`Store`] on redb: each read runs in a read transaction on the blocking pool (a redb read
//! can wait on the disk, which must not stall an async worker); writes go through the
//! group-committing [`Writer`]. The location path reads nothing from redb: the map ids come
//! from [`MembershipCache`] and trail points go to the [`TrailBuffer`].

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use marauder_core::protocol::{Fix, Millis, Place};
use marauder_core::retention::Erased;
use marauder_core::{
    DeviceId, DeviceRecord, LinkCodeRecord, MapId, MapRecord, PlayerId, PlayerRecord, PublicCursor,
    SessionId, SessionRecord, Store, StoreError, TokenHash, TrailCursor, TrailPage, TrailRange,
};
use redb::ReadTransaction;

use crate::codec::{self, db_err};
use crate::db::Db;
use crate::memberships::MembershipCache;
use crate::retention::SweepCursor;
use crate::sessions;
use crate::tokens::TokenCache;
use crate::trails::{Points, TrailBuffer};
use crate::writer::{Op, Reply, Writer};

pub struct EmbeddedStore {
    db: Db,
    writer: Writer,
    caches: Arc<Caches>,
    /// Where the erasure of expired trail points goes on ([`crate::retention`]).
    sweep: SweepCursor,
}

type Result<T> = std::result::Result<T, StoreError>;

/// How often a sender waiting for room in the trail buffer looks at the store's health.
const FAULT_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

impl EmbeddedStore {
    pub(crate) fn new(db: Db, writer: Writer, trails: Arc<TrailBuffer>) -> Self {
        let caches =
            Caches { trails, memberships: MembershipCache::default(), tokens: TokenCache::default() };
        EmbeddedStore { db, writer, caches: Arc::new(caches), sweep: SweepCursor::default() }
    }

    /// Runs `read` in a read transaction on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.db.read_blocking(read).await
    }

    async fn changed(&self, op: Op) -> Result<bool> {
        changed(self.writer.call(op).await?)
    }

    /// Runs a write, then brings the caches up to date with what it committed (`after`), on
    /// a task of its own that the caller waits for: the writer commits whether or not the
    /// caller is still there, so the caches must follow even when the request is dropped
    /// midway (its client gone), or a revoked token would go on working from the cache.
    async fn write_then(
        &self,
        op: Op,
        after: impl FnOnce(&Caches, &Reply) + Send + 'static,
    ) -> Result<Reply> {
        let (writer, caches) = (self.writer.clone(), self.caches.clone());
        let task = tokio::spawn(async move {
            let reply = writer.call(op).await?;
            after(&caches, &reply);
            Ok(reply)
        });
        task.await.map_err(|e| crate::internal("a store write", e))?
    }

    /// A change of `player`'s memberships: its map ids are read again after it.
    async fn membership_write(&self, op: Op, player: &PlayerId) -> Result<Reply> {
        let player = player.clone();
        self.write_then(op, move |caches, _| caches.memberships.forget(&player)).await
    }
}

/// What the store keeps in memory beside the database, each filled from it and dropped after
/// the writes that make an entry stale.
pub(crate) struct Caches {
    trails: Arc<TrailBuffer>,
    memberships: MembershipCache,
    tokens: TokenCache,
}

fn changed(reply: Reply) -> Result<bool> {
    match reply {
        Reply::Changed(changed) => Ok(changed),
        _ => unreachable!("this op answers Changed"),
    }
}

pub(crate) fn read_player(txn: &ReadTransaction, id: &str) -> Result<Option<PlayerRecord>> {
    let players = txn.open_table(codec::PLAYERS).map_err(db_err)?;
    let row = players.get(id).map_err(db_err)?;
    row.map(|v| PlayerRecord::decode(id, v.value())).transpose()
}

fn read_device(txn: &ReadTransaction, id: &str) -> Result<Option<DeviceRecord>> {
    let devices = txn.open_table(codec::DEVICES).map_err(db_err)?;
    let row = devices.get(id).map_err(db_err)?;
    row.map(|v| DeviceRecord::decode(id, v.value())).transpose()
}

fn read_map(txn: &ReadTransaction, id: &str) -> Result<Option<MapRecord>> {
    let maps = txn.open_table(codec::MAPS).map_err(db_err)?;
    let row = maps.get(id).map_err(db_err)?;
    row.map(|v| MapRecord::decode(id, v.value())).transpose()
}

/// The second halves of the `(first, second)` keys whose first half is `first`.
pub(crate) fn pairs_of(
    txn: &ReadTransaction,
    table: redb::TableDefinition<'static, (&str, &str), ()>,
    first: &str,
) -> Result<Vec<String>> {
    let table = txn.open_table(table).map_err(db_err)?;
    let mut out = Vec::new();
    for row in table.range((first, "")..).map_err(db_err)? {
        let (key, _) = row.map_err(db_err)?;
        let (a, b) = key.value();
        if a != first {
            break;
        }
        out.push(b.to_owned());
    }
    Ok(out)
}

/// The player's committed points of `range` after `after` (oldest first, at most `limit`),
/// merged with its uncommitted ones. A point's tie is the unique part of its key.
pub(crate) fn trail_points(
    txn: &ReadTransaction,
    uncommitted: Points,
    player: &PlayerId,
    (range, after): (TrailRange, Option<TrailCursor>),
    limit: usize,
) -> Result<TrailPage> {
    let id = player.as_str();
    let first = match after {
        Some(cursor) => cursor,
        // The first key after every point of `ts == since` (whose ties go up to u64::MAX).
        None => {
            range.since.map_or(TrailCursor { ts: i64::MIN, tie: 0 }, |s| TrailCursor { ts: s, tie: u64::MAX })
        }
    };
    let last = TrailCursor { ts: range.until.unwrap_or(i64::MAX), tie: u64::MAX };
    let inclusive = after.is_none() && range.since.is_none();
    if first > last || (!inclusive && first == last) {
        return Ok(TrailPage { points: Vec::new(), last: None });
    }
    let lower = (id, first.ts, first.tie);
    let lower = if inclusive { Bound::Included(lower) } else { Bound::Excluded(lower) };
    let bounds = (lower, Bound::Included((id, last.ts, last.tie)));
    let table = txn.open_table(codec::TRAILS).map_err(db_err)?;
    let mut points: Vec<(TrailCursor, Fix)> = Vec::new();
    for row in table.range::<(&str, i64, u64)>(bounds).map_err(db_err)?.take(limit) {
        let (key, value) = row.map_err(db_err)?;
        let (_, ts, tie) = key.value();
        points.push((TrailCursor { ts, tie }, codec::decode_fix(value.value())?));
    }
    let uncommitted = uncommitted.into_iter().map(|(tie, fix)| (TrailCursor { ts: fix.ts, tie }, fix));
    points.extend(uncommitted.filter(|(at, _)| (*at > first || (inclusive && *at == first)) && *at <= last));
    points.sort_by_key(|(at, _)| *at);
    // A point being committed right now can be both in the table and in the buffer.
    points.dedup_by_key(|(at, _)| *at);
    points.truncate(limit);
    let last = points.last().map(|(at, _)| *at);
    Ok(TrailPage { points: points.into_iter().map(|(_, fix)| fix).collect(), last })
}

/// The player's point with the greatest `ts`, committed or not.
pub(crate) fn latest_point(
    txn: &ReadTransaction,
    uncommitted: Points,
    player: &PlayerId,
) -> Result<Option<Fix>> {
    let id = player.as_str();
    let table = txn.open_table(codec::TRAILS).map_err(db_err)?;
    let committed =
        match table.range((id, i64::MIN, 0)..=(id, i64::MAX, u64::MAX)).map_err(db_err)?.next_back() {
            Some(row) => {
                let (key, value) = row.map_err(db_err)?;
                Some((key.value().1, key.value().2, codec::decode_fix(value.value())?))
            }
            None => None,
        };
    let uncommitted = uncommitted.into_iter().map(|(unique, fix)| (fix.ts, unique, fix));
    Ok(committed
        .into_iter()
        .chain(uncommitted)
        .max_by_key(|(ts, unique, _)| (*ts, *unique))
        .map(|(_, _, fix)| fix))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_player(&self, player: PlayerRecord, session: SessionRecord) -> Result<()> {
        self.writer.call(Op::CreatePlayer(player, session)).await.map(drop)
    }

    async fn player(&self, id: &PlayerId) -> Result<Option<PlayerRecord>> {
        let id = id.clone();
        self.read(move |txn| read_player(txn, id.as_str())).await
    }

    async fn rename_player(&self, id: &PlayerId, name: &str) -> Result<bool> {
        let player = id.clone();
        let op = Op::RenamePlayer(id.clone(), name.to_owned());
        changed(self.write_then(op, move |caches, _| caches.tokens.forget_player(&player)).await?)
    }

    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>> {
        let player = id.clone();
        let forget = move |caches: &Caches, _: &Reply| {
            caches.trails.forget(&player);
            caches.tokens.forget_player(&player);
            caches.memberships.forget(&player);
        };
        match self.write_then(Op::DeletePlayer(id.clone()), forget).await? {
            Reply::Maps(maps) => Ok(maps),
            _ => unreachable!("DeletePlayer answers Maps"),
        }
    }

    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<(SessionRecord, PlayerRecord)>> {
        let hash = hash.0;
        if let Some(found) = self.caches.tokens.get(&hash) {
            return Ok(Some(found));
        }
        let read_at = self.caches.tokens.epoch();
        let found = self.read(move |txn| sessions::by_token(txn, &hash)).await?;
        if let Some(found) = &found {
            self.caches.tokens.fill(hash, read_at, found.clone());
        }
        Ok(found)
    }

    async fn create_session(&self, session: SessionRecord) -> Result<()> {
        self.writer.call(Op::CreateSession(session)).await.map(drop)
    }

    async fn sessions_of(&self, player: &PlayerId) -> Result<Vec<SessionRecord>> {
        let player = player.clone();
        self.read(move |txn| sessions::of(txn, &player)).await
    }

    async fn touch_session(&self, session: &SessionRecord) -> Result<()> {
        let Some(at) = session.last_seen else { return Ok(()) };
        let hash = session.token_hash;
        let seen = move |caches: &Caches, reply: &Reply| {
            if matches!(reply, Reply::Changed(true)) {
                caches.tokens.seen(&hash.0, at);
            }
        };
        self.write_then(Op::TouchSession(hash, at), seen).await.map(drop)
    }

    async fn delete_session(&self, player: &PlayerId, id: &SessionId) -> Result<Option<SessionRecord>> {
        let forget = |caches: &Caches, reply: &Reply| {
            if let Reply::Session(Some(session)) = reply {
                caches.tokens.forget(&session.token_hash.0);
            }
        };
        match self.write_then(Op::DeleteSession(player.clone(), id.clone()), forget).await? {
            Reply::Session(session) => Ok(session),
            _ => unreachable!("DeleteSession answers Session"),
        }
    }

    async fn create_link_code(&self, code: LinkCodeRecord) -> Result<()> {
        self.writer.call(Op::CreateLinkCode(code)).await.map(drop)
    }

    async fn take_link_code(&self, hash: &TokenHash) -> Result<Option<LinkCodeRecord>> {
        match self.writer.call(Op::TakeLinkCode(*hash)).await? {
            Reply::LinkCode(code) => Ok(code),
            _ => unreachable!("TakeLinkCode answers LinkCode"),
        }
    }

    async fn create_device(&self, device: DeviceRecord) -> Result<()> {
        self.writer.call(Op::CreateDevice(device)).await.map(|_| ())
    }

    async fn device(&self, id: &DeviceId) -> Result<Option<DeviceRecord>> {
        let id = id.clone();
        self.read(move |txn| read_device(txn, id.as_str())).await
    }

    async fn devices_of(&self, player: &PlayerId) -> Result<Vec<DeviceRecord>> {
        let player = player.clone();
        self.read(move |txn| {
            let mut out = Vec::new();
            for id in pairs_of(txn, codec::PLAYER_DEVICES, player.as_str())? {
                out.extend(read_device(txn, &id)?);
            }
            out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(out)
        })
        .await
    }

    async fn touch_device(&self, device: &DeviceRecord) -> Result<()> {
        let Some(at) = device.last_seen else { return Ok(()) };
        self.writer.call(Op::TouchDevice(device.id.clone(), at)).await.map(|_| ())
    }

    async fn delete_device(&self, player: &PlayerId, id: &DeviceId) -> Result<bool> {
        self.changed(Op::DeleteDevice(player.clone(), id.clone())).await
    }

    async fn create_map(&self, map: MapRecord) -> Result<()> {
        let owner = map.owner.clone();
        self.membership_write(Op::CreateMap(map), &owner).await.map(drop)
    }

    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>> {
        let id = id.clone();
        self.read(move |txn| read_map(txn, id.as_str())).await
    }

    async fn update_map(&self, expected: &MapRecord, map: MapRecord) -> Result<bool> {
        changed(self.writer.call(Op::UpdateMap(Box::new((expected.clone(), map)))).await?)
    }

    async fn delete_map(&self, id: &MapId) -> Result<bool> {
        // Each former member's map ids are read again: the location path stops at once.
        let forget = |caches: &Caches, reply: &Reply| {
            if let Reply::Members(Some(members)) = reply {
                members.iter().for_each(|player| caches.memberships.forget(player));
            }
        };
        match self.write_then(Op::DeleteMap(id.clone()), forget).await? {
            Reply::Members(members) => Ok(members.is_some()),
            _ => unreachable!("DeleteMap answers Members"),
        }
    }

    async fn public_maps(
        &self,
        after: Option<&PublicCursor>,
        count: usize,
    ) -> Result<Vec<(PublicCursor, Option<MapRecord>)>> {
        let after = after.cloned();
        self.read(move |txn| crate::public::page(txn, after.as_ref(), count)).await
    }

    async fn members(&self, map: &MapId) -> Result<Vec<(PlayerId, String)>> {
        let map = map.clone();
        self.read(move |txn| crate::maps::members(txn, &map)).await
    }

    async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        let (map, player) = (map.clone(), player.clone());
        self.read(move |txn| {
            let members = txn.open_table(codec::MEMBERS).map_err(db_err)?;
            Ok(members.get((map.as_str(), player.as_str())).map_err(db_err)?.is_some())
        })
        .await
    }

    async fn maps_of(&self, player: &PlayerId) -> Result<Vec<MapRecord>> {
        let player = player.clone();
        self.read(move |txn| {
            let mut out = Vec::new();
            for id in pairs_of(txn, codec::MEMBERSHIPS, player.as_str())? {
                out.extend(read_map(txn, &id)?);
            }
            Ok(out)
        })
        .await
    }

    async fn add_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        changed(self.membership_write(Op::AddMember(map.clone(), player.clone()), player).await?)
    }

    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool> {
        changed(self.membership_write(Op::RemoveMember(map.clone(), player.clone()), player).await?)
    }

    async fn map_ids_of(&self, player: &PlayerId) -> Result<Arc<[MapId]>> {
        if let Some(maps) = self.caches.memberships.get(player) {
            return Ok(maps);
        }
        let read_at = self.caches.memberships.epoch();
        let owner = player.clone();
        let ids = self.read(move |txn| pairs_of(txn, codec::MEMBERSHIPS, owner.as_str())).await?;
        let maps: Arc<[MapId]> = ids.iter().filter_map(|id| MapId::parse(id)).collect();
        self.caches.memberships.fill(player, read_at, maps.clone());
        Ok(maps)
    }

    async fn places(&self, map: &MapId) -> Result<Vec<Place>> {
        let map = map.clone();
        self.read(move |txn| crate::places::read(&txn.open_table(codec::PLACES).map_err(db_err)?, &map)).await
    }

    async fn add_place(&self, map: &MapId, place: &Place, max: usize) -> Result<bool> {
        self.changed(Op::AddPlace(map.clone(), Box::new(place.clone()), max)).await
    }

    async fn remove_place(&self, map: &MapId, place: &str) -> Result<bool> {
        self.changed(Op::RemovePlace(map.clone(), place.to_owned())).await
    }

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()> {
        // While the store cannot write, points wait in memory for its recovery as long as
        // there is room; past it a sender is refused rather than left waiting for the disk.
        loop {
            if self.caches.trails.try_push(player, fix.clone()) {
                return Ok(());
            }
            if let Some(reason) = self.db.fault() {
                return Err(StoreError::Unavailable(reason));
            }
            // Full until the next commit: wait for it, but look at the store's health again
            // now and then, so that a fault meanwhile answers 503 instead of keeping the
            // sender waiting through the whole outage.
            if tokio::time::timeout(FAULT_CHECK, self.caches.trails.push(player, fix.clone())).await.is_ok() {
                return Ok(());
            }
        }
    }

    async fn trail_page(
        &self,
        player: &PlayerId,
        range: TrailRange,
        after: Option<TrailCursor>,
        limit: usize,
    ) -> Result<TrailPage> {
        // The points in memory are copied before the read begins: a point a commit or fold
        // takes out of memory afterwards is in the read's snapshot (both: deduplicated).
        let (uncommitted, player) = (self.caches.trails.points_of(player), player.clone());
        self.read(move |txn| trail_points(txn, uncommitted, &player, (range, after), limit)).await
    }

    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>> {
        let (uncommitted, player) = (self.caches.trails.points_of(player), player.clone());
        self.read(move |txn| latest_point(txn, uncommitted, &player)).await
    }

    async fn erase_trails_before(&self, cutoff: Millis, budget: usize) -> Result<Erased> {
        // The cursor moves on only with the step's answer: a failed step is tried again from
        // where it started.
        let from = self.sweep.take();
        match self.writer.call(Op::EraseTrails(cutoff, budget, from.clone())).await {
            Ok(Reply::Erased(erased, next)) => {
                self.sweep.put(next);
                Ok(erased)
            }
            Ok(_) => unreachable!("an erasure answers Erased"),
            Err(err) => {
                self.sweep.put(Some(from));
                Err(err)
            }
        }
    }

    async fn ready(&self) -> Result<()> {
        match self.db.fault() {
            Some(reason) => Err(StoreError::Unavailable(reason)),
            None => Ok(()),
        }
    }

    async fn flush(&self) -> Result<()> {
        self.writer.call(Op::Flush).await.map(|_| ())
    }
}
