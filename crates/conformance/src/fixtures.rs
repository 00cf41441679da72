//! What the cases start from (players and maps made through the [`Store`], as the core makes
//! them) and the changes and answers they compare, written once.

use marauder_core::protocol::{EventBody, Fix, PlayerLocation, Visibility};
use marauder_core::{
    Change, Feed, MapId, MapRecord, PlayerId, PlayerRecord, Replay, SessionId, SessionRecord, Snapshot,
    Store, Token,
};

use crate::Handler;

/// A new player (with one session, as sign-up makes it).
pub(crate) async fn player(store: &dyn Store, name: &str) -> PlayerRecord {
    let record = PlayerRecord { id: PlayerId::generate(), name: name.to_owned(), created_at: 1 };
    let session = SessionRecord {
        id: SessionId::generate(),
        player: record.id.clone(),
        token_hash: Token::generate().hash(),
        created_at: 1,
        last_seen: None,
        agent: None,
    };
    store.create_player(record.clone(), session).await.expect("creates a player");
    record
}

/// A new public map of `owner`, who is its first member (and whose joining publishes
/// nothing: a map starts at seq 0).
pub(crate) async fn map(store: &dyn Store, owner: &PlayerRecord) -> MapId {
    let record = MapRecord {
        id: MapId::generate(),
        name: "Hogwarts".into(),
        owner: owner.id.clone(),
        visibility: Visibility::Public,
        invite_code: None,
        created_at: 1,
    };
    store.create_map(record.clone()).await.expect("creates a map");
    record.id
}

/// A handler with a map of its own: the owner, the map, and the handler listening to it.
pub(crate) async fn owned_map(handler: &Handler) -> (PlayerRecord, MapId, marauder_core::Listening) {
    let owner = player(&*handler.store, "Luna").await;
    let id = map(&*handler.store, &owner).await;
    let listening = handler.feed.listen(&id).await.expect("listens");
    (owner, id, listening)
}

pub(crate) fn at(player: &PlayerRecord, name: &str, ts: i64) -> PlayerLocation {
    let fix =
        Fix { lat: 51.5, lon: -0.1, accuracy: Some(5.0), altitude: None, speed: None, heading: None, ts };
    PlayerLocation { player: player.id.to_string(), name: name.to_owned(), fix }
}

/// The player's location under its record's name.
pub(crate) fn location(player: &PlayerRecord, ts: i64) -> Change {
    Change::Location(at(player, &player.name, ts))
}

pub(crate) fn joined(player: &PlayerRecord, latest: Option<PlayerLocation>) -> Change {
    Change::Joined { player: player.id.to_string(), name: player.name.clone(), latest }
}

pub(crate) fn left(player: &PlayerRecord, removed: bool) -> Change {
    Change::Left { player: player.id.to_string(), name: player.name.clone(), removed }
}

/// A membership change as the core makes it: with its event, in one step.
pub(crate) async fn membership(handler: &Handler, map: &MapId, change: Change) -> Option<u64> {
    let kind = change.kind();
    let published = handler.feed.publish_membership(&*handler.store, map, change).await;
    published.unwrap_or_else(|err| panic!("{kind}: {err}"))
}

pub(crate) async fn publish(feed: &dyn Feed, map: &MapId, change: Change) -> Option<u64> {
    let kind = change.kind();
    feed.publish(map, change).await.unwrap_or_else(|err| panic!("{kind}: {err}"))
}

/// A snapshot as (seq, [(player, name, ts)]), by player.
pub(crate) fn summary(snapshot: Snapshot) -> (u64, Vec<(String, String, i64)>) {
    let mut locations: Vec<_> =
        snapshot.locations.into_iter().map(|l| (l.player, l.name, l.fix.ts)).collect();
    locations.sort();
    (snapshot.seq, locations)
}

pub(crate) async fn snapshot(feed: &dyn Feed, map: &MapId) -> (u64, Vec<(String, String, i64)>) {
    summary(feed.snapshot(map).await.expect("a snapshot"))
}

/// (player, name, ts) of a location, as [`summary`] lists it.
pub(crate) fn held(location: &PlayerLocation) -> (String, String, i64) {
    (location.player.clone(), location.name.clone(), location.fix.ts)
}

/// The events of a replay that must not be a reset, as (seq, body).
pub(crate) fn events(replay: Replay) -> Vec<(u64, EventBody)> {
    match replay {
        Replay::Events(events) => events.iter().map(|e| (e.seq, e.body.clone())).collect(),
        Replay::Reset(snapshot) => panic!("events expected, got a reset at seq {}", snapshot.seq),
    }
}

/// The snapshot of a replay that must be a reset.
pub(crate) fn reset(replay: Replay) -> (u64, Vec<(String, String, i64)>) {
    match replay {
        Replay::Reset(snapshot) => summary(snapshot),
        Replay::Events(events) => panic!("a reset expected, got {} events", events.len()),
    }
}

/// The body `change` publishes.
pub(crate) fn body(change: &Change) -> EventBody {
    change.clone().into_body()
}

/// Says that a case across handlers does not apply to this backend.
pub(crate) fn skipped(case: &str) {
    eprintln!("skipped: {case} needs two handlers on one state, which this backend does not have");
}
