//! Each map's event sequence: the gap-free `seq`, the buffer of recent events for `since`
//! resume, the latest location of every member for snapshots, and delivery to this
//! handler's subscribers in `seq` order.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use marauder_protocol::{Event, EventBody, Place, PlayerLocation, Visibility};

use serde::{Deserialize, Serialize};

use crate::domain::{MapId, PlayerId, SessionId};
use crate::store::{Store, StoreError};

/// A change to publish to one map, as the core decided it. The feed turns it into an
/// [`Event`] with the next seq and executes what [`Change::requires_member`],
/// [`Change::membership`] and [`Change::latest`] say, atomically with the seq: a backend
/// reads these, it never re-decides them.
#[derive(Debug, Clone)]
pub enum Change {
    Location(PlayerLocation),
    /// `latest` is the joiner's newest point, which the map's snapshot shows from now on.
    Joined {
        player: String,
        name: String,
        latest: Option<PlayerLocation>,
    },
    /// `removed`: the owner removed the player.
    Left {
        player: String,
        name: String,
        removed: bool,
    },
    /// `latest` is the player's newest point under the new name, if the player has one.
    Renamed {
        player: String,
        name: String,
        latest: Option<PlayerLocation>,
    },
    MapUpdated {
        name: String,
        visibility: Visibility,
        owner: String,
    },
    /// The map's last event: the feed forgets the map after it (every later change publishes
    /// nothing) and lets its state go.
    Deleted,
    /// A member drew a place: published, and the place added, only while the map has fewer
    /// than `max` places.
    PlaceAdded {
        place: Place,
        max: usize,
    },
    /// A place (its id) goes, with every member's state for it: published only if it was there.
    PlaceRemoved {
        place: String,
    },
}

/// What a change does to the map's places (and the members' states for them). Besides, a
/// member's place states go with its latest location ([`Latest::Remove`], [`Latest::Clear`])
/// and when it joins ([`Membership::Add`]): its first position after joining sets them
/// without an event. A location's effect on them is [`crate::places::crossings`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlaceChange<'a> {
    Unchanged,
    /// Added unless the map already has `max` places (then nothing is published).
    Add(&'a Place, usize),
    /// Removed; nothing is published if there is no such place.
    Remove(&'a str),
    /// Every place goes: the map is deleted.
    Clear,
}

/// What a change does to the set of members whose changes a map accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership<'a> {
    Unchanged,
    Add(&'a str),
    Remove(&'a str),
    /// Every member goes: the map is deleted.
    Clear,
}

/// What a change does to the map's latest locations (the snapshot).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latest<'a> {
    Unchanged,
    /// Kept for its player unless the map holds one with a greater `ts`.
    Offer(&'a PlayerLocation),
    /// The player's location goes.
    Remove(&'a str),
    /// Every location goes.
    Clear,
}

impl Change {
    /// The event's `kind` (as counted and as on the wire).
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Location(_) => "location",
            Change::Joined { .. } => "joined",
            Change::Left { .. } => "left",
            Change::Renamed { .. } => "renamed",
            Change::MapUpdated { .. } => "map_updated",
            Change::Deleted => "map_deleted",
            Change::PlaceAdded { .. } => "place_added",
            Change::PlaceRemoved { .. } => "place_removed",
        }
    }

    /// The player who must be a member when the change is published; if not (a location or a
    /// rename racing a leave), the feed publishes nothing and answers `None`.
    pub fn requires_member(&self) -> Option<&str> {
        match self {
            Change::Location(location) => Some(&location.player),
            Change::Renamed { player, .. } => Some(player),
            Change::PlaceAdded { place, .. } => Some(&place.created_by),
            _ => None,
        }
    }

    pub fn places(&self) -> PlaceChange<'_> {
        match self {
            Change::PlaceAdded { place, max } => PlaceChange::Add(place, *max),
            Change::PlaceRemoved { place } => PlaceChange::Remove(place),
            Change::Deleted => PlaceChange::Clear,
            _ => PlaceChange::Unchanged,
        }
    }

    pub fn membership(&self) -> Membership<'_> {
        match self {
            Change::Joined { player, .. } => Membership::Add(player),
            Change::Left { player, .. } => Membership::Remove(player),
            Change::Deleted => Membership::Clear,
            _ => Membership::Unchanged,
        }
    }

    pub fn latest(&self) -> Latest<'_> {
        match self {
            Change::Location(location) => Latest::Offer(location),
            Change::Joined { latest, .. } | Change::Renamed { latest, .. } => {
                latest.as_ref().map_or(Latest::Unchanged, Latest::Offer)
            }
            Change::Left { player, .. } => Latest::Remove(player),
            Change::Deleted => Latest::Clear,
            Change::MapUpdated { .. } | Change::PlaceAdded { .. } | Change::PlaceRemoved { .. } => {
                Latest::Unchanged
            }
        }
    }

    /// The event's body, without its seq.
    pub fn into_body(self) -> EventBody {
        match self {
            Change::Location(location) => EventBody::Location(location),
            Change::Joined { player, name, .. } => EventBody::Joined { player, name },
            Change::Left { player, name, removed } => {
                EventBody::Left { player, name, removed: removed.then_some(true) }
            }
            Change::Renamed { player, name, .. } => EventBody::Renamed { player, name },
            Change::MapUpdated { name, visibility, owner } => {
                EventBody::MapUpdated { name, visibility, owner }
            }
            Change::Deleted => EventBody::MapDeleted {},
            Change::PlaceAdded { place, .. } => EventBody::PlaceAdded { place },
            Change::PlaceRemoved { place } => EventBody::PlaceRemoved { place },
        }
    }
}

/// A map's state at one seq: every member's latest location.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub seq: u64,
    pub locations: Vec<PlayerLocation>,
}

/// What a resume from `since` gets.
#[derive(Debug, Clone)]
pub enum Replay {
    /// Exactly the events after `since`, in order (possibly none).
    Events(Vec<Arc<Event>>),
    /// They are no longer buffered (or `since` is ahead of the map): start over.
    Reset(Snapshot),
}

/// A word about one player for the live connections of every handler: what a handler must
/// do to the player's WebSockets, whichever handler took the request that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The session's token was revoked: the WebSockets it opened close (4001).
    SessionRevoked { player: PlayerId, session: SessionId },
    /// The player was deleted: every WebSocket of the player closes.
    PlayerDeleted { player: PlayerId },
    /// The player's WebSockets put this name in their `location` events from now on.
    Renamed { player: PlayerId, name: String },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
enum WireNotice {
    SessionRevoked { player: String, session: String },
    PlayerDeleted { player: String },
    Renamed { player: String, name: String },
}

impl Notice {
    /// The notice as a backend carries it between handlers.
    pub fn encode(&self) -> String {
        let wire = match self {
            Notice::SessionRevoked { player, session } => {
                WireNotice::SessionRevoked { player: player.to_string(), session: session.to_string() }
            }
            Notice::PlayerDeleted { player } => WireNotice::PlayerDeleted { player: player.to_string() },
            Notice::Renamed { player, name } => {
                WireNotice::Renamed { player: player.to_string(), name: name.clone() }
            }
        };
        serde_json::to_string(&wire).expect("a notice always encodes")
    }

    pub fn decode(json: &str) -> Option<Notice> {
        Some(match serde_json::from_str(json).ok()? {
            WireNotice::SessionRevoked { player, session } => Notice::SessionRevoked {
                player: PlayerId::parse(&player)?,
                session: SessionId::parse(&session)?,
            },
            WireNotice::PlayerDeleted { player } => {
                Notice::PlayerDeleted { player: PlayerId::parse(&player)? }
            }
            WireNotice::Renamed { player, name } => {
                Notice::Renamed { player: PlayerId::parse(&player)?, name }
            }
        })
    }
}

/// Receives every event published to every map, in seq order per map, and every notice.
pub trait EventSink: Send + Sync + 'static {
    /// Must not block: it runs on the publishing path.
    fn deliver(&self, map: &MapId, event: Arc<Event>);

    /// A notice from any handler ([`Feed::announce`]). Must not block. A sink that serves no
    /// connections ignores it.
    fn notice(&self, _notice: &Notice) {}
}

/// Held while this handler wants a map's events handed to its sink; dropping it ends that.
/// A backend that delivers every map's events anyway hands out [`Listening::always`].
pub struct Listening(#[allow(dead_code)] Option<Box<dyn Send + Sync>>);

impl Listening {
    pub fn always() -> Listening {
        Listening(None)
    }

    /// Listening that ends when `guard` is dropped.
    pub fn until_dropped(guard: impl Send + Sync + 'static) -> Listening {
        Listening(Some(Box::new(guard)))
    }
}

#[async_trait]
pub trait Feed: Send + Sync + 'static {
    /// Gives `change` the map's next seq, buffers it, applies its [`Change::membership`] and
    /// [`Change::latest`] and hands it to the sink, atomically with respect to other publishes
    /// and snapshots of the same map. A location is followed at once, in the same step, by
    /// the `arrived`/`departed` events [`crate::places::crossings`] decides from the map's
    /// places and the member's states, which the backend keeps. Answers the seq of the last
    /// event published, or `None` when the change no longer applies
    /// ([`Change::requires_member`] is not a member, or the map was deleted).
    async fn publish(&self, map: &MapId, change: Change) -> Result<Option<u64>, StoreError>;

    /// Publishes one player's `locations` (oldest first) as consecutive [`Change::Location`]s
    /// of `map`, each as [`Feed::publish`] would; a backend over the network does it in one
    /// step. Answers the seq of the last one published, `None` if none was (the player is
    /// not a member).
    async fn publish_locations(
        &self,
        map: &MapId,
        locations: Vec<PlayerLocation>,
    ) -> Result<Option<u64>, StoreError> {
        let mut last = None;
        for location in locations {
            match self.publish(map, Change::Location(location)).await? {
                Some(seq) => last = Some(seq),
                None => break,
            }
        }
        Ok(last)
    }

    /// Changes `player`'s membership of `map` as `change` says ([`Change::Joined`] adds,
    /// [`Change::Left`] removes) and publishes it, as one step: the event is published if and
    /// only if the member set changed, so a retry, or a join and a leave racing on two
    /// handlers, can never leave a member set that the map's last membership event
    /// contradicts. Answers the seq, or `None` when nothing changed (already a member, not a
    /// member, or the map has no record).
    ///
    /// The default is for a backend whose handler is the only one (the core serialises each
    /// (map, player) pair on it): the store's change, then the event, the change undone if
    /// the event cannot be published. A backend shared by several handlers does both in one
    /// atomic step.
    async fn publish_membership(
        &self,
        store: &dyn Store,
        map: &MapId,
        change: Change,
    ) -> Result<Option<u64>, StoreError> {
        let (player, join) = match change.membership() {
            Membership::Add(player) => (player, true),
            Membership::Remove(player) => (player, false),
            _ => return Err(StoreError::Internal(format!("{} is not a membership change", change.kind()))),
        };
        let Some(player) = PlayerId::parse(player) else {
            return Ok(None);
        };
        let changed = match join {
            true => store.add_member(map, &player).await?,
            false => store.remove_member(map, &player).await?,
        };
        if !changed {
            return Ok(None);
        }
        match self.publish(map, change).await {
            Ok(seq) => Ok(seq),
            Err(err) => {
                // A change nobody was told of, which a retry would not announce: undone.
                let _ = match join {
                    true => store.remove_member(map, &player).await,
                    false => store.add_member(map, &player).await,
                };
                Err(err)
            }
        }
    }

    /// Adds or removes a place as `change` says ([`Change::PlaceAdded`],
    /// [`Change::PlaceRemoved`]) and publishes it, as one step: published if and only if the
    /// places changed. Answers the seq, or `None` when nothing changed (the map is full, the
    /// place is not there, the creator is no member, or the map is gone).
    ///
    /// The default, like [`Feed::publish_membership`]'s, is for a backend whose handler is
    /// the only one: the store's change, then the event, the change undone if the event
    /// cannot be published.
    async fn publish_place(
        &self,
        store: &dyn Store,
        map: &MapId,
        change: Change,
    ) -> Result<Option<u64>, StoreError> {
        // What undoes the store's change if the event is not published.
        let (changed, undo) = match change.places() {
            PlaceChange::Add(place, max) => (store.add_place(map, place, max).await?, Err(place.id.clone())),
            PlaceChange::Remove(id) => match store.places(map).await?.into_iter().find(|p| p.id == id) {
                Some(place) => (store.remove_place(map, id).await?, Ok(place)),
                None => (false, Err(String::new())),
            },
            _ => return Err(StoreError::Internal(format!("{} is not a change of places", change.kind()))),
        };
        if !changed {
            return Ok(None);
        }
        let published = self.publish(map, change).await;
        if !matches!(published, Ok(Some(_))) {
            // The creator left meanwhile, the map went, or the event failed: a change nobody
            // was told of, which a retry would not announce.
            let _ = match undo {
                Err(added) => store.remove_place(map, &added).await,
                Ok(removed) => store.add_place(map, &removed, usize::MAX).await,
            };
        }
        published
    }

    /// The members whose state for `place` is inside (sorted).
    async fn inside(&self, map: &MapId, place: &str) -> Result<Vec<String>, StoreError>;

    async fn snapshot(&self, map: &MapId) -> Result<Snapshot, StoreError>;
    async fn replay(&self, map: &MapId, since: u64) -> Result<Replay, StoreError>;
    /// From when this returns until the answer is dropped, every event of `map` published
    /// by any handler reaches this handler's sink, in seq order.
    async fn listen(&self, map: &MapId) -> Result<Listening, StoreError>;
    /// Hands `notice` to the sink of every handler (this one included), at most once each. A
    /// handler not connected to the broker when it is sent misses it (its sockets then hold
    /// only what the store refuses anyway: a revoked token's next request is a 401).
    async fn announce(&self, notice: Notice) -> Result<(), StoreError>;
    /// Makes the current seq of every map durable (on shutdown).
    async fn flush(&self) -> Result<(), StoreError>;

    /// Whether publishes and deliveries can go through now; `Unavailable` with the reason when
    /// they cannot. A feed that keeps its state with the store's has nothing more to check.
    async fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The counter of events published, by kind (`/metrics`; named here because each backend
/// counts what it publishes, once, whichever handler delivers it).
pub const EVENTS_PUBLISHED: &str = "marauder_events_published_total";

/// Counts one event published. It runs under a map's lock on the publishing path, so the
/// handles of the known kinds are looked up once, not per event.
pub fn count_published(kind: &'static str) {
    static KNOWN: OnceLock<[(&str, metrics::Counter); 10]> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        [
            "location",
            "joined",
            "left",
            "renamed",
            "map_updated",
            "map_deleted",
            "place_added",
            "place_removed",
            "arrived",
            "departed",
        ]
        .map(|kind| (kind, metrics::counter!(EVENTS_PUBLISHED, "kind" => kind)))
    });
    match known.iter().find(|(known, _)| *known == kind) {
        Some((_, counter)) => counter.increment(1),
        None => metrics::counter!(EVENTS_PUBLISHED, "kind" => kind).increment(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_travel_as_json_and_refuse_malformed_ids() {
        let player = PlayerId::parse("p1").unwrap();
        let notices = [
            Notice::SessionRevoked { player: player.clone(), session: SessionId::parse("s1").unwrap() },
            Notice::PlayerDeleted { player: player.clone() },
            Notice::Renamed { player, name: "Ron \"W\"".into() },
        ];
        for notice in notices {
            assert_eq!(Notice::decode(&notice.encode()), Some(notice));
        }
        assert_eq!(
            Notice::PlayerDeleted { player: PlayerId::parse("p1").unwrap() }.encode(),
            r#"{"notice":"player_deleted","player":"p1"}"#
        );
        assert_eq!(Notice::decode(r#"{"notice":"player_deleted","player":"a b"}"#), None);
        assert_eq!(Notice::decode(r#"{"notice":"dance"}"#), None);
    }
}
