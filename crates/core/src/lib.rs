//! Marauder's domain core: validated types, the rules of players, maps and locations, and
//! the two narrow traits every backend implements, [`Store`] (durable state) and [`Feed`]
//! (each map's event sequence).
//!
//! It knows nothing of HTTP, WebSocket framing, redb or Redis: the server crate turns
//! requests into calls on [`Marauder`], and the composition root picks the backends.

mod device;
mod domain;
mod error;
mod feed;
pub mod places;
pub mod retention;
mod secret;
mod service;
mod store;

pub use device::{DeviceId, DeviceSecret, split_identifier};
pub use domain::{MapId, Name, PlayerId, SessionId, now_millis, validate_fix};
pub use error::CoreError;
pub use feed::{
    Change, EVENTS_PUBLISHED, EventSink, Feed, Latest, Listening, Membership, Notice, PlaceChange, Replay,
    Snapshot, count_published,
};
pub use secret::{InviteCode, LinkCode, Token, TokenHash};
pub use service::{Client, Limits, Marauder, Player};
pub use store::{
    DeviceRecord, LinkCodeRecord, MapRecord, PlayerRecord, PublicCursor, SessionRecord, Store, StoreError,
    TrailCursor, TrailPage, TrailRange,
};

pub use marauder_protocol as protocol;

/// Trail points kept per player by default, on every backend (`--trail-retention`).
pub const TRAIL_RETENTION: u64 = 10_000;
/// How long a link code works.
pub const LINK_CODE_TTL_MS: protocol::Millis = 10 * 60 * 1000;
/// Events kept per map for `since` resume by default (`--recent-events`; the contract asks
/// for at least 1000).
pub const RECENT_EVENTS: usize = 1024;
