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
mod secret;
mod service;
mod store;

pub use device::{DeviceId, DeviceSecret, split_identifier};
pub use domain::{MapId, Name, PlayerId, now_millis, validate_fix};
pub use error::CoreError;
pub use feed::{Change, EVENTS_PUBLISHED, EventSink, Feed, Listening, Replay, Snapshot, count_published};
pub use secret::{InviteCode, Token, TokenHash};
pub use service::{Limits, Marauder, Player};
pub use store::{DeviceRecord, MapRecord, PlayerRecord, PublicCursor, Store, StoreError};

pub use marauder_protocol as protocol;

/// Trail points kept per player by default, on every backend (`--trail-retention`).
pub const TRAIL_RETENTION: u64 = 10_000;
/// Events kept per map for `since` resume by default (`--recent-events`; the contract asks
/// for at least 1000).
pub const RECENT_EVENTS: usize = 1024;
