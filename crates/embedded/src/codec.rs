//! The tables of the database and how records are encoded in them.

use marauder_core::StoreError;
use marauder_core::protocol::Fix;
use redb::{Database, TableDefinition};

use crate::internal;

/// player id → [`PlayerRecord::encode`]
pub const PLAYERS: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("players");
/// SHA-256 of a token → player id: the one token of each player from before sessions, read
/// once by [`crate::sessions::migrate`] and then deleted.
pub const TOKENS: TableDefinition<'static, &[u8; 32], &str> = TableDefinition::new("tokens");
/// SHA-256 of a session's token → [`SessionRecord::encode`]
pub const SESSIONS: TableDefinition<'static, &[u8; 32], &[u8]> = TableDefinition::new("sessions");
/// (player, session id) → SHA-256 of its token: a player's sessions
pub const PLAYER_SESSIONS: TableDefinition<'static, (&str, &str), &[u8; 32]> =
    TableDefinition::new("player_sessions");
/// SHA-256 of a link code → [`LinkCodeRecord::encode`]
pub const LINK_CODES: TableDefinition<'static, &[u8; 32], &[u8]> = TableDefinition::new("link_codes");
/// map id → [`MapRecord::encode`]
pub const MAPS: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("maps");
/// (map, player) → (): a map's members
pub const MEMBERS: TableDefinition<'static, (&str, &str), ()> = TableDefinition::new("members");
/// (player, map) → (): a player's maps (the same facts, indexed the other way)
pub const MEMBERSHIPS: TableDefinition<'static, (&str, &str), ()> = TableDefinition::new("memberships");
/// (map, player) → when the player joined, from [`COUNTERS`]' `joins`: members in join order.
/// A membership from before this table has no row and counts as the earliest.
pub const JOINED: TableDefinition<'static, (&str, &str), u64> = TableDefinition::new("joined");
/// name → a counter that only grows (`joins`: the last join number handed out)
pub const COUNTERS: TableDefinition<'static, &str, u64> = TableDefinition::new("counters");
/// device id → [`DeviceRecord::encode`]
pub const DEVICES: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("devices");
/// (player, device) → (): a player's devices
pub const PLAYER_DEVICES: TableDefinition<'static, (&str, &str), ()> = TableDefinition::new("player_devices");
/// (player, ts, unique) → [`Fix`] as JSON
pub const TRAILS: TableDefinition<'static, (&str, i64, u64), &[u8]> = TableDefinition::new("trails");
/// unique → (player, [`Fix`] as JSON): trail points committed in the order they came, not yet
/// folded into [`TRAILS`] ([`crate::trails`]); emptied by every fold
pub const TRAIL_LOG: TableDefinition<'static, u64, (&str, &[u8])> = TableDefinition::new("trail_log");
/// player → number of points in its trail ([`TRAILS`])
pub const TRAIL_LEN: TableDefinition<'static, &str, u64> = TableDefinition::new("trail_len");
/// map → a seq no event has reached yet (every seq handed out is below it)
pub const SEQ_RESERVED: TableDefinition<'static, &str, u64> = TableDefinition::new("seq_reserved");
/// (map, seq) → a recent event as JSON, written when the map leaves memory ([`crate::spill`])
pub const RECENT: TableDefinition<'static, (&str, u64), &[u8]> = TableDefinition::new("recent");
/// (map, place id) → the place as JSON ([`crate::places`])
pub const PLACES: TableDefinition<'static, (&str, &str), &[u8]> = TableDefinition::new("places");
/// (map, member) → the member's place states ([`marauder_core::places::PlaceStates::encode`])
pub const PRESENCE: TableDefinition<'static, (&str, &str), &str> = TableDefinition::new("presence");
/// map → (first, last): the seqs of its contiguous recent events in [`RECENT`]
pub const RECENT_RANGE: TableDefinition<'static, &str, (u64, u64)> = TableDefinition::new("recent_range");

pub fn create_tables(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(|e| internal("creating tables", e))?;
    {
        let fail = |e: redb::TableError| internal("creating tables", e);
        txn.open_table(PLAYERS).map_err(fail)?;
        txn.open_table(SESSIONS).map_err(fail)?;
        txn.open_table(PLAYER_SESSIONS).map_err(fail)?;
        txn.open_table(LINK_CODES).map_err(fail)?;
        txn.open_table(MAPS).map_err(fail)?;
        txn.open_table(MEMBERS).map_err(fail)?;
        txn.open_table(MEMBERSHIPS).map_err(fail)?;
        txn.open_table(JOINED).map_err(fail)?;
        txn.open_table(COUNTERS).map_err(fail)?;
        txn.open_table(DEVICES).map_err(fail)?;
        txn.open_table(PLAYER_DEVICES).map_err(fail)?;
        txn.open_table(TRAILS).map_err(fail)?;
        txn.open_table(TRAIL_LEN).map_err(fail)?;
        txn.open_table(TRAIL_LOG).map_err(fail)?;
        txn.open_table(SEQ_RESERVED).map_err(fail)?;
        txn.open_table(RECENT).map_err(fail)?;
        txn.open_table(RECENT_RANGE).map_err(fail)?;
        txn.open_table(PLACES).map_err(fail)?;
        txn.open_table(PRESENCE).map_err(fail)?;
    }
    txn.commit().map_err(|e| internal("creating tables", e))
}

pub fn encode_fix(fix: &Fix) -> Vec<u8> {
    serde_json::to_vec(fix).expect("a fix always encodes")
}

pub fn decode_fix(bytes: &[u8]) -> Result<Fix, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| internal("decoding a trail point", e))
}

/// Maps any redb error into a [`StoreError`]. An I/O error (or redb refusing to go on after
/// one) is `Unavailable`, a 503: redb is copy-on-write, so the transaction it broke wrote
/// nothing, and the writer reopens the database once the cause is gone. Anything else (a
/// corrupt file, a bug) is internal.
pub fn db_err(err: impl Into<redb::Error>) -> StoreError {
    let err = err.into();
    match io_fault(&err) {
        Some(reason) => StoreError::Unavailable(reason),
        None => internal("database", err),
    }
}

/// The reason an operator reads for an I/O failure, or `None` if `err` is not one.
fn io_fault(err: &redb::Error) -> Option<String> {
    match err {
        // A full disk is the operator's to fix, and the store goes on by itself after: the
        // client may retry, nothing it sent was half-written. So a 503, never a 500.
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            Some("store: disk full, retrying".into())
        }
        redb::Error::Io(io) => Some(format!("store: I/O error ({}), retrying", io.kind())),
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
            Some("store: reopening the database after an I/O error".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_failures_are_503s_with_a_reason_and_other_failures_are_internal() {
        let full = redb::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(matches!(db_err(full), StoreError::Unavailable(r) if r == "store: disk full, retrying"));
        let eio = redb::Error::Io(std::io::Error::other("EIO"));
        assert!(
            matches!(db_err(eio), StoreError::Unavailable(r) if r == "store: I/O error (other error), retrying")
        );
        assert!(matches!(db_err(redb::Error::PreviousIo), StoreError::Unavailable(_)));
        assert!(matches!(db_err(redb::Error::Corrupted("x".into())), StoreError::Internal(_)));
    }
}
