//! The tables of the database and how records are encoded in them.

use marauder_core::StoreError;
use marauder_core::protocol::Fix;
use redb::{Database, TableDefinition};

use crate::internal;

/// player id → [`PlayerRecord::encode`]
pub const PLAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("players");
/// SHA-256 of a token → player id
pub const TOKENS: TableDefinition<&[u8; 32], &str> = TableDefinition::new("tokens");
/// map id → [`MapRecord::encode`]
pub const MAPS: TableDefinition<&str, &[u8]> = TableDefinition::new("maps");
/// (map, player) → (): a map's members
pub const MEMBERS: TableDefinition<(&str, &str), ()> = TableDefinition::new("members");
/// (player, map) → (): a player's maps (the same facts, indexed the other way)
pub const MEMBERSHIPS: TableDefinition<(&str, &str), ()> = TableDefinition::new("memberships");
/// device id → [`DeviceRecord::encode`]
pub const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");
/// (player, device) → (): a player's devices
pub const PLAYER_DEVICES: TableDefinition<(&str, &str), ()> = TableDefinition::new("player_devices");
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
        txn.open_table(DEVICES).map_err(fail)?;
        txn.open_table(PLAYER_DEVICES).map_err(fail)?;
        txn.open_table(TRAILS).map_err(fail)?;
        txn.open_table(TRAIL_LEN).map_err(fail)?;
        txn.open_table(SEQ_RESERVED).map_err(fail)?;
    }
    txn.commit().map_err(|e| internal("creating tables", e))
}

pub fn encode_fix(fix: &Fix) -> Vec<u8> {
    serde_json::to_vec(fix).expect("a fix always encodes")
}

pub fn decode_fix(bytes: &[u8]) -> Result<Fix, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| internal("decoding a trail point", e))
}

/// Maps any redb error into a [`StoreError`]: a local database failing is internal.
pub fn db_err(err: impl Into<redb::Error>) -> StoreError {
    internal("database", err.into())
}
