//! The durable state behind the service: players, maps, memberships and trails.
//!
//! Every write is durable when its future completes, except trail points, which a backend
//! may group-commit a short window later (the embedded one: at most ~100 ms) but must show to
//! reads at once.

use std::sync::Arc;

use async_trait::async_trait;
use marauder_protocol::{Fix, Millis, Visibility};

use crate::domain::{MapId, PlayerId};
use crate::secret::TokenHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached; the operation wrote nothing.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("backend failure: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlayerRecord {
    pub id: PlayerId,
    pub name: String,
    pub token_hash: TokenHash,
    pub created_at: Millis,
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

type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_player(&self, player: PlayerRecord) -> Result<()>;
    async fn player(&self, id: &PlayerId) -> Result<Option<PlayerRecord>>;
    async fn player_by_token(&self, hash: &TokenHash) -> Result<Option<PlayerRecord>>;
    /// Removes the player, its token, its memberships and its trail; answers the maps it was
    /// a member of. Maps it owns remain.
    async fn delete_player(&self, id: &PlayerId) -> Result<Vec<MapId>>;

    /// Creates the map with its owner as the first member.
    async fn create_map(&self, map: MapRecord) -> Result<()>;
    async fn map(&self, id: &MapId) -> Result<Option<MapRecord>>;
    /// Public maps with their member counts.
    async fn public_maps(&self) -> Result<Vec<(MapRecord, u64)>>;
    /// Members with their names, in a stable order.
    async fn members(&self, map: &MapId) -> Result<Vec<(PlayerId, String)>>;
    async fn is_member(&self, map: &MapId, player: &PlayerId) -> Result<bool>;
    /// The maps a player belongs to.
    async fn maps_of(&self, player: &PlayerId) -> Result<Vec<MapRecord>>;
    /// The ids of the maps a player belongs to: asked on every location, so a backend
    /// should answer it from memory where it can.
    async fn map_ids_of(&self, player: &PlayerId) -> Result<Arc<[MapId]>>;
    /// Whether the player was not a member before.
    async fn add_member(&self, map: &MapId, player: &PlayerId) -> Result<bool>;
    /// Whether the player was a member before.
    async fn remove_member(&self, map: &MapId, player: &PlayerId) -> Result<bool>;

    async fn append_trail(&self, player: &PlayerId, fix: &Fix) -> Result<()>;
    /// Points with `ts > since`, oldest first, at most `limit`.
    async fn trail(&self, player: &PlayerId, since: Option<Millis>, limit: usize) -> Result<Vec<Fix>>;
    /// The point with the greatest `ts`.
    async fn latest(&self, player: &PlayerId) -> Result<Option<Fix>>;

    /// Makes everything acknowledged so far durable (on shutdown).
    async fn flush(&self) -> Result<()>;
}
