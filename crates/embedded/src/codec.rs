//! The tables of the database and how records are encoded in them.

use marauder_core::protocol::{Fix, Millis, Visibility};
use marauder_core::{MapId, MapRecord, PlayerId, PlayerRecord, StoreError, TokenHash};
use redb::{Database, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::internal;

/// player id → [`StoredPlayer`]
pub const PLAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("players");
/// SHA-256 of a token → player id
pub const TOKENS: TableDefinition<&[u8; 32], &str> = TableDefinition::new("tokens");
/// map id → [`StoredMap`]
pub const MAPS: TableDefinition<&str, &[u8]> = TableDefinition::new("maps");
/// (map, player) → (): a map's members
pub const MEMBERS: TableDefinition<(&str, &str), ()> = TableDefinition::new("members");
/// (player, map) → (): a player's maps (the same facts, indexed the other way)
pub const MEMBERSHIPS: TableDefinition<(&str, &str), ()> = TableDefinition::new("memberships");
/// (player, ts, unique) → [`Fix`] as JSON
pub const TRAILS: TableDefinition<(&str, i64, u64), &[u8]> = TableDefinition::new("trails");
/// player → number of points in its trail
pub const TRAIL_LEN: TableDefinition<&str, u64> = TableDefinition::new("trail_len");
/// map → a seq no event has reached yet (every seq handed out is below it)
pub const SEQ_RESERVED: TableDefinition<&str, u64> = TableDefinition::new("seq_reserved");

pub fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(|e| internal("creating tables", e))?;
    {
        let fail = |e: redb::TableError| internal("creating tables", e);
        txn.open_table(PLAYERS).map_err(fail)?;
        txn.open_table(TOKENS).map_err(fail)?;
        txn.open_table(MAPS).map_err(fail)?;
        txn.open_table(MEMBERS).map_err(fail)?;
        txn.open_table(MEMBERSHIPS).map_err(fail)?;
        txn.open_table(TRAILS).map_err(fail)?;
        txn.open_table(TRAIL_LEN).map_err(fail)?;
        txn.open_table(SEQ_RESERVED).map_err(fail)?;
    }
    txn.commit().map_err(|e| internal("creating tables", e))
}

#[derive(Serialize, Deserialize)]
struct StoredPlayer {
    name: String,
    token_hash: [u8; 32],
    created_at: Millis,
}

pub fn encode_player(p: &PlayerRecord) -> Vec<u8> {
    let stored = StoredPlayer { name: p.name.clone(), token_hash: p.token_hash.0, created_at: p.created_at };
    serde_json::to_vec(&stored).expect("a player always encodes")
}

pub fn decode_player(id: &str, bytes: &[u8]) -> Result<PlayerRecord, StoreError> {
    let stored: StoredPlayer = serde_json::from_slice(bytes).map_err(|e| internal("decoding a player", e))?;
    Ok(PlayerRecord {
        id: stored_id(PlayerId::parse(id))?,
        name: stored.name,
        token_hash: TokenHash(stored.token_hash),
        created_at: stored.created_at,
    })
}

#[derive(Serialize, Deserialize)]
struct StoredMap {
    name: String,
    owner: String,
    visibility: Visibility,
    invite_code: Option<String>,
    created_at: Millis,
}

pub fn encode_map(m: &MapRecord) -> Vec<u8> {
    let stored = StoredMap {
        name: m.name.clone(),
        owner: m.owner.to_string(),
        visibility: m.visibility,
        invite_code: m.invite_code.clone(),
        created_at: m.created_at,
    };
    serde_json::to_vec(&stored).expect("a map always encodes")
}

pub fn decode_map(id: &str, bytes: &[u8]) -> Result<MapRecord, StoreError> {
    let stored: StoredMap = serde_json::from_slice(bytes).map_err(|e| internal("decoding a map", e))?;
    Ok(MapRecord {
        id: stored_id(MapId::parse(id))?,
        name: stored.name,
        owner: stored_id(PlayerId::parse(&stored.owner))?,
        visibility: stored.visibility,
        invite_code: stored.invite_code,
        created_at: stored.created_at,
    })
}

pub fn encode_fix(fix: &Fix) -> Vec<u8> {
    serde_json::to_vec(fix).expect("a fix always encodes")
}

pub fn decode_fix(bytes: &[u8]) -> Result<Fix, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| internal("decoding a trail point", e))
}

fn stored_id<T>(id: Option<T>) -> Result<T, StoreError> {
    id.ok_or_else(|| StoreError::Internal("a stored id is malformed".into()))
}

/// Maps any redb error into a [`StoreError`]: a local database failing is internal.
pub fn db_err(err: impl Into<redb::Error>) -> StoreError {
    internal("database", err.into())
}
