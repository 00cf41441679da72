//! Each map's event sequence: the gap-free `seq`, the buffer of recent events for `since`
//! resume, the latest location of every member for snapshots, and delivery to this
//! handler's subscribers in `seq` order.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use marauder_protocol::{Event, PlayerLocation};

use crate::domain::MapId;
use crate::store::StoreError;

/// A change to publish to one map. The feed turns it into an [`Event`] with the next seq.
#[derive(Debug, Clone)]
pub enum Change {
    Location(PlayerLocation),
    /// `latest` is the joiner's newest point, which the map's snapshot shows from now on.
    Joined {
        player: String,
        name: String,
        latest: Option<PlayerLocation>,
    },
    Left {
        player: String,
        name: String,
    },
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

/// Receives every event published to every map, in seq order per map.
pub trait EventSink: Send + Sync + 'static {
    /// Must not block: it runs on the publishing path.
    fn deliver(&self, map: &MapId, event: Arc<Event>);
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
    /// Gives `change` the map's next seq, buffers it, applies it to the map's latest
    /// locations and hands it to the sink, atomically with respect to other publishes and
    /// snapshots of the same map. Answers the seq, or `None` when the change no longer
    /// applies (a location from a player who has left the map meanwhile).
    async fn publish(&self, map: &MapId, change: Change) -> Result<Option<u64>, StoreError>;
    async fn snapshot(&self, map: &MapId) -> Result<Snapshot, StoreError>;
    async fn replay(&self, map: &MapId, since: u64) -> Result<Replay, StoreError>;
    /// From when this returns until the answer is dropped, every event of `map` published
    /// by any handler reaches this handler's sink, in seq order.
    async fn listen(&self, map: &MapId) -> Result<Listening, StoreError>;
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
    static KNOWN: OnceLock<[(&str, metrics::Counter); 3]> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        ["location", "joined", "left"].map(|kind| (kind, metrics::counter!(EVENTS_PUBLISHED, "kind" => kind)))
    });
    match known.iter().find(|(known, _)| *known == kind) {
        Some((_, counter)) => counter.increment(1),
        None => metrics::counter!(EVENTS_PUBLISHED, "kind" => kind).increment(1),
    }
}
