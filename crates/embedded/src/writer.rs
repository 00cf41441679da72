//! The one thread that writes to the database. It drains every request queued while the
//! previous commit ran and applies them, with the pending trail points, in one transaction:
//! one fsync for many acknowledgements (group commit). After an I/O fault it refuses writes
//! (503) while [`Recovery`] reopens the database and probes it until a commit succeeds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use marauder_core::protocol::{Millis, Place};
use marauder_core::{
    DeviceId, DeviceRecord, LinkCodeRecord, MapId, MapRecord, PlayerId, PlayerRecord, SessionId,
    SessionRecord, StoreError, TokenHash,
};
use redb::{Database, Durability, ReadableTable, WriteTransaction};
use tokio::sync::oneshot;

use crate::codec::{self, db_err};
use crate::db::Db;
use crate::places::PresenceBuffer;
use crate::recovery::Recovery;
use crate::trails::{Batch, Committed, TrailBuffer};
use crate::{Options, internal};

pub enum Op {
    /// A player with its first session.
    CreatePlayer(PlayerRecord, SessionRecord),
    RenamePlayer(PlayerId, String),
    DeletePlayer(PlayerId),
    /// A session of a player who still exists.
    CreateSession(SessionRecord),
    /// Set the session's `last_seen`, if it still exists.
    TouchSession(TokenHash, Millis),
    /// Revoke the session if it is the player's.
    DeleteSession(PlayerId, SessionId),
    CreateLinkCode(LinkCodeRecord),
    TakeLinkCode(TokenHash),
    CreateDevice(DeviceRecord),
    /// Set the device's `last_seen`, if it still exists.
    TouchDevice(DeviceId, Millis),
    /// Revoke the device if it is the player's.
    DeleteDevice(PlayerId, DeviceId),
    CreateMap(MapRecord),
    /// (expected, new): a compare and set.
    UpdateMap(Box<(MapRecord, MapRecord)>),
    DeleteMap(MapId),
    AddMember(MapId, PlayerId),
    RemoveMember(MapId, PlayerId),
    /// Add the place unless the map has this many already.
    AddPlace(MapId, Box<Place>, usize),
    RemovePlace(MapId, String),
    /// Raise each map's reserved seq to at least the given value.
    ReserveSeqs(Vec<(MapId, u64)>),
    /// Write maps' recent events out (and, for maps leaving memory, their exact seqs).
    Spill(Vec<crate::spill::Spill>),
    /// Drop what the feed keeps of a deleted map (seq reservation, recent events).
    ForgetFeed(MapId),
    /// Commit the pending trail points now.
    Flush,
    /// A step of the erasure of trail points older than the cutoff ([`crate::retention`]).
    EraseTrails(Millis, usize, crate::retention::Start),
}

pub enum Reply {
    Done,
    Changed(bool),
    Maps(Vec<MapId>),
    /// A deleted map's former members; `None`: there was no such map.
    Members(Option<Vec<PlayerId>>),
    Session(Option<SessionRecord>),
    LinkCode(Option<LinkCodeRecord>),
    /// What an erasure step did, and where the next starts (`None`: a new round).
    Erased(marauder_core::retention::Erased, Option<crate::retention::Start>),
}

type Request = (Op, oneshot::Sender<Result<Reply, StoreError>>);

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Request>,
    /// Members' place states for the next commit ([`crate::places`]).
    pub presence: Arc<PresenceBuffer>,
}

impl Writer {
    /// Starts the writer thread; it commits what is left and ends when every [`Writer`]
    /// handle is dropped.
    pub fn start(
        db: Db,
        trails: Arc<TrailBuffer>,
        options: Options,
    ) -> Result<(Writer, std::thread::JoinHandle<()>), StoreError> {
        let (tx, rx) = mpsc::channel();
        let presence = Arc::new(PresenceBuffer::default());
        let pending = Pending { trails, presence: presence.clone() };
        let thread = std::thread::Builder::new()
            .name("marauder-writer".into())
            .spawn(move || run(db, pending, options, rx))
            .map_err(|e| internal("starting the writer", e))?;
        Ok((Writer { tx, presence }, thread))
    }

    /// Queues `op` and waits until it is committed.
    pub async fn call(&self, op: Op) -> Result<Reply, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((op, reply)).map_err(|_| internal("writer", "stopped"))?;
        answer.await.map_err(|_| internal("writer", "stopped"))?
    }
}

/// Requests taken into one transaction at most, so one commit never waits on too many.
const MAX_BATCH: usize = 4096;

/// What waits in memory for the writer's next commit.
struct Pending {
    trails: Arc<TrailBuffer>,
    presence: Arc<PresenceBuffer>,
}

fn run(db: Db, pending: Pending, options: Options, rx: mpsc::Receiver<Request>) {
    let trails = &pending.trails;
    let mut next_trail_commit = Instant::now() + options.trail_commit_interval;
    let mut recovery: Option<Recovery> = None;
    loop {
        // While recovering, the trail points wait for the next attempt, which commits them.
        let deadline = recovery.as_ref().map_or(next_trail_commit, Recovery::next_attempt);
        let (requests, closing) = receive(&rx, deadline);
        if recovery.is_none()
            && let Some(reason) = db.take_broken()
        {
            recovery = Some(Recovery::start(&db, reason));
        }
        if let Some(r) = &mut recovery
            && (r.is_due() || closing)
            && r.attempt(&db, trails, &options)
        {
            recovery = None;
        }
        if recovery.is_some() {
            refuse(&db, requests);
            if closing {
                let lost = trails.pending_len();
                tracing::error!(
                    points = lost,
                    "stopping with the store still failing: these trail points are lost"
                );
                return;
            }
            continue;
        }
        let trails_due = Instant::now() >= next_trail_commit || closing;
        // Checked at the trails' pace; on closing the log is folded, whatever it holds.
        let fold_due =
            trails_due && (closing || trails.fold_due(options.trail_fold_points, options.trail_fold_after));
        let idle = trails.is_empty() && pending.presence.is_empty() && !fold_due;
        if requests.is_empty() && (!trails_due || idle) {
            if trails_due {
                next_trail_commit = Instant::now() + options.trail_commit_interval;
            }
            if closing {
                return;
            }
            continue;
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = requests.into_iter().unzip();
        // An erasure works on the trails table, and a flush leaves every point there: the
        // log is folded in their commit, before them (an erasure's at the start of a round:
        // its later steps, 20 ms apart, would fold all the time, and what a round misses is
        // erased by the next; reads leave expired points out meanwhile).
        let fold_now =
            ops.iter().any(|op| matches!(op, Op::Flush | Op::EraseTrails(_, _, std::ops::Bound::Unbounded)));
        let outcome = if !ops.is_empty() && !fold_now && trails.pending_len() > PIGGYBACK_POINTS {
            // Acknowledged writes do not wait behind a large batch of trail points.
            match commit_logged(&db, &Batch::default(), None, &pending.presence, ops, replies, &options) {
                Err(StoreError::Unavailable(reason)) => Err(reason),
                _ if trails_due => commit_trails(&db, &pending, Vec::new(), Vec::new(), &options, fold_due),
                _ => Ok(()),
            }
        } else {
            // A few pending points ride along with the writes; or the points are due. A fold
            // that is only due comes in a commit of its own, after the writes.
            match commit_trails(&db, &pending, ops, replies, &options, fold_now) {
                Ok(()) if fold_due && !fold_now => {
                    commit_trails(&db, &pending, Vec::new(), Vec::new(), &options, true)
                }
                outcome => outcome,
            }
        };
        if let Err(reason) = outcome {
            recovery = Some(Recovery::start(&db, reason));
        }
        if trails_due {
            next_trail_commit = Instant::now() + options.trail_commit_interval;
        }
        if closing && recovery.is_none() {
            return;
        }
    }
}

/// Takes the next request (waiting until `deadline` at most) and every one queued behind it;
/// answers whether every [`Writer`] is gone.
fn receive(rx: &mpsc::Receiver<Request>, deadline: Instant) -> (Vec<Request>, bool) {
    let mut requests = Vec::new();
    let mut closing = false;
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(request) => requests.push(request),
        Err(RecvTimeoutError::Timeout) => {}
        Err(RecvTimeoutError::Disconnected) => closing = true,
    }
    while requests.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(request) => requests.push(request),
            Err(_) => break,
        }
    }
    (requests, closing)
}

/// Answers every request with the fault: refused whole, nothing written, the client may retry.
fn refuse(db: &Db, requests: Vec<Request>) {
    let reason = db.fault().unwrap_or_else(|| "store: recovering".into());
    for (_, reply) in requests {
        let _ = reply.send(Err(StoreError::Unavailable(reason.clone())));
    }
}

/// Commits the pending trail points with `ops`, to the trail log, or with the logged points
/// straight to the trails table when it `fold`s; on failure the points go back where they
/// were. Fails with the reason when the store hit an I/O fault.
fn commit_trails(
    db: &Db,
    pending: &Pending,
    ops: Vec<Op>,
    replies: Vec<oneshot::Sender<Result<Reply, StoreError>>>,
    options: &Options,
    fold: bool,
) -> Result<(), String> {
    let trails = &pending.trails;
    // A player deleted in this commit keeps none of its points in memory: its store call may
    // have forgotten them already, before they are logged here.
    let deleted: Vec<PlayerId> = ops
        .iter()
        .filter_map(|op| match op {
            Op::DeletePlayer(player) => Some(player.clone()),
            _ => None,
        })
        .collect();
    let folding = fold.then(|| trails.start_fold());
    let result = commit_logged(
        db,
        &trails.start_commit(),
        folding.as_deref(),
        &pending.presence,
        ops,
        replies,
        options,
    );
    drop(folding);
    let (committed, outcome) = match result {
        Ok(_) if fold => (Committed::Folded, Ok(())),
        Ok(mut not_logged) => {
            not_logged.extend(deleted);
            (Committed::Logged { not_logged }, Ok(()))
        }
        Err(StoreError::Unavailable(reason)) => (Committed::Failed, Err(reason)),
        Err(StoreError::Internal(_)) => (Committed::Failed, Ok(())),
    };
    let failed = matches!(committed, Committed::Failed);
    trails.finish_commit(committed);
    if fold {
        trails.finish_fold(!failed);
    }
    outcome
}

/// Trail points an acknowledged write takes into its own commit.
const PIGGYBACK_POINTS: usize = 4096;

/// Commits and answers every request; a failed commit answers each with the error, which
/// it also answers. Answers the players of `batch` whose points are not in the log.
fn commit_logged(
    db: &Db,
    batch: &Batch,
    fold: Option<&Batch>,
    presence: &PresenceBuffer,
    ops: Vec<Op>,
    replies: Vec<oneshot::Sender<Result<Reply, StoreError>>>,
    options: &Options,
) -> Result<Vec<PlayerId>, StoreError> {
    let started = Instant::now();
    let (op_count, points) = (ops.len(), batch.values().map(Vec::len).sum::<usize>());
    let folded = fold.map_or(0, |fold| fold.values().map(Vec::len).sum::<usize>());
    let states = presence.take();
    let committed = commit(db, batch, fold, &states, ops, options);
    if committed.is_err() {
        presence.put_back(states);
    }
    match committed {
        Ok((results, not_logged)) => {
            // Named in marauder_server::metrics, which describes it.
            metrics::histogram!("marauder_store_commit_duration_seconds").record(started.elapsed());
            tracing::debug!(ops = op_count, points, folded, took = ?started.elapsed(), "committed");
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
            Ok(not_logged)
        }
        Err(err) => {
            tracing::error!(error = %err, points, "commit failed; its trail points wait for the next");
            if let StoreError::Unavailable(reason) = &err {
                // Before anyone hears of the failure: whoever then asks is told it is not ready.
                db.set_fault(reason.clone());
            }
            for reply in replies {
                let _ = reply.send(Err(match &err {
                    StoreError::Unavailable(reason) => StoreError::Unavailable(reason.clone()),
                    StoreError::Internal(_) => internal("commit", &err),
                }));
            }
            Err(err)
        }
    }
}

/// What a commit answers: each op's result, and the players of its batch whose points are
/// not in the log.
type Results = (Vec<Result<Reply, StoreError>>, Vec<PlayerId>);

/// One transaction: the trail points (to the log; or, with a fold, the logged points and
/// these to the trails table, the log emptied) and the members' place states first, then each
/// op in order. An op that fails answers its error without undoing the others (each op
/// checks before it writes).
fn commit(
    db: &Db,
    batch: &Batch,
    fold: Option<&Batch>,
    states: &HashMap<(MapId, String), String>,
    ops: Vec<Op>,
    options: &Options,
) -> Result<Results, StoreError> {
    let db = db.get()?;
    let txn = begin(&db)?;
    let retention = options.trail_retention;
    let not_logged = match fold {
        Some(fold) => {
            write_trails(&txn, fold, retention, 0)?;
            write_trails(&txn, batch, retention, 0)?;
            clear_log(&txn)?;
            Vec::new()
        }
        None => write_trails(&txn, batch, retention, STRAIGHT_POINTS)?,
    };
    crate::places::write_presence(&txn, states)?;
    let results: Vec<_> = ops.into_iter().map(|op| apply(&txn, op)).collect();
    if let Err(err) = txn.commit() {
        // An op that failed part way poisons the transaction: its I/O error is the cause.
        let cause = results.iter().find_map(|result| match result {
            Err(StoreError::Unavailable(reason)) => Some(reason.clone()),
            _ => None,
        });
        return Err(cause.map_or_else(|| db_err(err), StoreError::Unavailable));
    }
    Ok((results, not_logged))
}

/// The commit that ends a recovery: the pending trail points alone (possibly none). Answers
/// the players whose points are not in the log.
pub(crate) fn commit_pending(db: &Db, batch: &Batch, options: &Options) -> Result<Vec<PlayerId>, StoreError> {
    let db = db.get()?;
    let txn = begin(&db)?;
    let not_logged = write_trails(&txn, batch, options.trail_retention, STRAIGHT_POINTS)?;
    txn.commit().map_err(db_err)?;
    Ok(not_logged)
}

/// Folds what the trail log holds into the trails table (at start: what a stop left there,
/// unfolded). The log holds at most a fold's worth of points and whatever was pending.
pub(crate) fn fold_log(db: &Database, retention: u64) -> Result<usize, StoreError> {
    let txn = begin(db)?;
    let mut batch = Batch::new();
    let mut points = 0;
    for row in txn.open_table(codec::TRAIL_LOG).map_err(db_err)?.iter().map_err(db_err)? {
        let (unique, value) = row.map_err(db_err)?;
        let (player, fix) = value.value();
        // A row that does not decode is a bug's, not a point: left out, said.
        match (PlayerId::parse(player), codec::decode_fix(fix)) {
            (Some(player), Ok(fix)) => batch.entry(player).or_default().push((unique.value(), fix)),
            _ => tracing::error!(unique = unique.value(), "a trail log row that does not decode; skipped"),
        }
        points += 1;
    }
    if points == 0 {
        txn.abort().map_err(db_err)?;
        return Ok(0);
    }
    write_trails(&txn, &batch, retention, 0)?;
    clear_log(&txn)?;
    txn.commit().map_err(db_err)?;
    Ok(points)
}

/// Empties the trail log: its pages are freed whole, not row by row.
fn clear_log(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.delete_table(codec::TRAIL_LOG).map_err(db_err)?;
    txn.open_table(codec::TRAIL_LOG).map_err(db_err)?;
    Ok(())
}

fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write().map_err(db_err)?;
    txn.set_durability(Durability::Immediate).map_err(|e| internal("durability", e))?;
    Ok(txn)
}

/// A player with this many points in one commit has them written straight to the trails
/// table: they share its leaf, and the log would only write them twice (an ingest of many
/// points a player); fewer go to the log (10,000 players a point each a commit).
const STRAIGHT_POINTS: usize = 4;

/// Writes the points of players who still exist (a player may have been deleted after their
/// points were acknowledged): to the trails table, keeping the `retention` newest of each
/// trail, or to the log for a player with fewer than `straight` points in the batch (in key
/// order of their unique part, the order they came: appends at the log's end). Answers the
/// players whose points are not in the log, when `straight` lets any go there.
fn write_trails(
    txn: &WriteTransaction,
    batch: &Batch,
    retention: u64,
    straight: usize,
) -> Result<Vec<PlayerId>, StoreError> {
    let players = txn.open_table(codec::PLAYERS).map_err(db_err)?;
    let mut log = txn.open_table(codec::TRAIL_LOG).map_err(db_err)?;
    let mut points = txn.open_table(codec::TRAILS).map_err(db_err)?;
    let mut lengths = txn.open_table(codec::TRAIL_LEN).map_err(db_err)?;
    let mut not_logged = Vec::new();
    for (player, fixes) in batch {
        let id = player.as_str();
        let gone = players.get(id).map_err(db_err)?.is_none();
        if !gone && fixes.len() < straight {
            for (unique, fix) in fixes {
                log.insert(*unique, (id, codec::encode_fix(fix).as_slice())).map_err(db_err)?;
            }
            continue;
        }
        if straight > 0 {
            not_logged.push(player.clone());
        }
        if gone {
            continue;
        }
        // Counted as added only when new: a point written twice (a fold after a crash that
        // left it in the log) is one point.
        let mut added = 0;
        for (unique, fix) in fixes {
            let key = (id, fix.ts, *unique);
            added +=
                u64::from(points.insert(key, codec::encode_fix(fix).as_slice()).map_err(db_err)?.is_none());
        }
        let mut len = lengths.get(id).map_err(db_err)?.map_or(0, |v| v.value()) + added;
        if len > retention {
            let excess = (len - retention) as usize;
            let oldest: Vec<(i64, u64)> = points
                .range((id, i64::MIN, 0)..=(id, i64::MAX, u64::MAX))
                .map_err(db_err)?
                .take(excess)
                .map(|entry| entry.map(|(k, _)| (k.value().1, k.value().2)))
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            for (ts, unique) in oldest {
                points.remove((id, ts, unique)).map_err(db_err)?;
            }
            len = retention;
        }
        lengths.insert(id, len).map_err(db_err)?;
    }
    Ok(not_logged)
}

fn apply(txn: &WriteTransaction, op: Op) -> Result<Reply, StoreError> {
    use crate::{maps, players, sessions};
    match op {
        Op::CreatePlayer(player, session) => players::create(txn, &player, &session).map(|()| Reply::Done),
        Op::RenamePlayer(player, name) => players::rename(txn, &player, &name).map(Reply::Changed),
        Op::DeletePlayer(player) => players::delete(txn, &player).map(Reply::Maps),
        Op::CreateSession(session) => sessions::create(txn, &session).map(Reply::Changed),
        Op::TouchSession(hash, at) => sessions::touch(txn, &hash, at).map(Reply::Changed),
        Op::DeleteSession(player, id) => sessions::delete(txn, &player, &id).map(Reply::Session),
        Op::CreateLinkCode(code) => sessions::create_link_code(txn, &code).map(|()| Reply::Done),
        Op::TakeLinkCode(hash) => sessions::take_link_code(txn, &hash).map(Reply::LinkCode),
        Op::CreateDevice(device) => {
            txn.open_table(codec::DEVICES)
                .map_err(db_err)?
                .insert(device.id.as_str(), device.encode().as_slice())
                .map_err(db_err)?;
            txn.open_table(codec::PLAYER_DEVICES)
                .map_err(db_err)?
                .insert((device.player.as_str(), device.id.as_str()), ())
                .map_err(db_err)?;
            Ok(Reply::Done)
        }
        Op::TouchDevice(device, at) => {
            let mut devices = txn.open_table(codec::DEVICES).map_err(db_err)?;
            let current = devices
                .get(device.as_str())
                .map_err(db_err)?
                .map(|v| DeviceRecord::decode(device.as_str(), v.value()))
                .transpose()?;
            if let Some(mut record) = current {
                record.last_seen = Some(at);
                devices.insert(device.as_str(), record.encode().as_slice()).map_err(db_err)?;
            }
            Ok(Reply::Done)
        }
        Op::DeleteDevice(player, device) => {
            let key = (player.as_str(), device.as_str());
            let owned =
                txn.open_table(codec::PLAYER_DEVICES).map_err(db_err)?.remove(key).map_err(db_err)?.is_some();
            if owned {
                txn.open_table(codec::DEVICES).map_err(db_err)?.remove(device.as_str()).map_err(db_err)?;
            }
            Ok(Reply::Changed(owned))
        }
        Op::CreateMap(map) => maps::create(txn, &map).map(|()| Reply::Done),
        Op::UpdateMap(change) => maps::update(txn, &change.0, &change.1).map(Reply::Changed),
        Op::DeleteMap(map) => maps::delete(txn, &map).map(Reply::Members),
        Op::AddMember(map, player) => maps::add_member(txn, &map, &player).map(Reply::Changed),
        Op::RemoveMember(map, player) => maps::set_member(txn, &map, &player, false).map(Reply::Changed),
        Op::AddPlace(map, place, max) => crate::places::add(txn, &map, &place, max).map(Reply::Changed),
        Op::RemovePlace(map, place) => crate::places::remove(txn, &map, &place).map(Reply::Changed),
        Op::ReserveSeqs(seqs) => {
            let mut table = txn.open_table(codec::SEQ_RESERVED).map_err(db_err)?;
            for (map, at_least) in seqs {
                let current = table.get(map.as_str()).map_err(db_err)?.map_or(0, |v| v.value());
                table.insert(map.as_str(), current.max(at_least)).map_err(db_err)?;
            }
            Ok(Reply::Done)
        }
        Op::Spill(spills) => crate::spill::write(txn, spills).map(|_| Reply::Done),
        Op::ForgetFeed(map) => crate::spill::forget(txn, &map).map(|()| Reply::Done),
        Op::Flush => Ok(Reply::Done),
        Op::EraseTrails(cutoff, budget, from) => crate::retention::erase(txn, cutoff, budget, from)
            .map(|(erased, next)| Reply::Erased(erased, next)),
    }
}
