//! Sessions and link codes in the database: a player's signed-in devices, each one token, and
//! the one-time codes that sign another device in. It owns the rows of [`codec::SESSIONS`],
//! [`codec::PLAYER_SESSIONS`] and [`codec::LINK_CODES`] (written in the writer's transaction,
//! read in a reader's), and the one-time move of a database from before sessions, whose
//! players each had one token ([`codec::TOKENS`]), into them. Not when to cache or forget.

use marauder_core::protocol::Millis;
use marauder_core::{
    LinkCodeRecord, PlayerId, PlayerRecord, SessionId, SessionRecord, StoreError, TokenHash, now_millis,
};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableError, WriteTransaction};

use crate::codec::{self, db_err};
use crate::store::read_player;

type Result<T> = std::result::Result<T, StoreError>;

/// Writes the session, in the transaction of the player's creation or on its own.
pub fn insert(txn: &WriteTransaction, session: &SessionRecord) -> Result<()> {
    let hash = &session.token_hash.0;
    txn.open_table(codec::SESSIONS)
        .map_err(db_err)?
        .insert(hash, session.encode().as_slice())
        .map_err(db_err)?;
    txn.open_table(codec::PLAYER_SESSIONS)
        .map_err(db_err)?
        .insert((session.player.as_str(), session.id.as_str()), hash)
        .map_err(db_err)?;
    Ok(())
}

/// Adds a session to a player who still exists; answers whether it did (a player deleted
/// meanwhile gains none: its token opens nothing).
pub fn create(txn: &WriteTransaction, session: &SessionRecord) -> Result<bool> {
    let players = txn.open_table(codec::PLAYERS).map_err(db_err)?;
    if players.get(session.player.as_str()).map_err(db_err)?.is_none() {
        return Ok(false);
    }
    drop(players);
    insert(txn, session).map(|()| true)
}

/// Stores when the session was last seen, if it still exists.
pub fn touch(txn: &WriteTransaction, hash: &TokenHash, at: Millis) -> Result<bool> {
    let mut sessions = txn.open_table(codec::SESSIONS).map_err(db_err)?;
    let current =
        sessions.get(&hash.0).map_err(db_err)?.map(|v| SessionRecord::decode(v.value())).transpose()?;
    let Some(mut session) = current else { return Ok(false) };
    session.last_seen = Some(at);
    sessions.insert(&hash.0, session.encode().as_slice()).map_err(db_err)?;
    Ok(true)
}

/// Removes the session if it is the player's; answers its record.
pub fn delete(txn: &WriteTransaction, player: &PlayerId, id: &SessionId) -> Result<Option<SessionRecord>> {
    let mut index = txn.open_table(codec::PLAYER_SESSIONS).map_err(db_err)?;
    let Some(hash) = index.remove((player.as_str(), id.as_str())).map_err(db_err)?.map(|v| *v.value()) else {
        return Ok(None);
    };
    let mut sessions = txn.open_table(codec::SESSIONS).map_err(db_err)?;
    let removed = sessions.remove(&hash).map_err(db_err)?;
    removed.map(|v| SessionRecord::decode(v.value())).transpose()
}

/// Removes every session of a player being deleted; answers their token hashes.
pub fn delete_all(txn: &WriteTransaction, player: &PlayerId) -> Result<Vec<[u8; 32]>> {
    let id = player.as_str();
    let mut index = txn.open_table(codec::PLAYER_SESSIONS).map_err(db_err)?;
    let mut rows = Vec::new();
    for row in index.range((id, "")..).map_err(db_err)? {
        let (key, hash) = row.map_err(db_err)?;
        if key.value().0 != id {
            break;
        }
        rows.push((key.value().1.to_owned(), *hash.value()));
    }
    let mut sessions = txn.open_table(codec::SESSIONS).map_err(db_err)?;
    for (session, hash) in &rows {
        index.remove((id, session.as_str())).map_err(db_err)?;
        sessions.remove(hash).map_err(db_err)?;
    }
    Ok(rows.into_iter().map(|(_, hash)| hash).collect())
}

/// The session a token's hash opens, with its player.
pub fn by_token(txn: &ReadTransaction, hash: &[u8; 32]) -> Result<Option<(SessionRecord, PlayerRecord)>> {
    let sessions = txn.open_table(codec::SESSIONS).map_err(db_err)?;
    let Some(row) = sessions.get(hash).map_err(db_err)? else { return Ok(None) };
    let session = SessionRecord::decode(row.value())?;
    Ok(read_player(txn, session.player.as_str())?.map(|player| (session, player)))
}

/// The player's sessions, oldest first (ties by id).
pub fn of(txn: &ReadTransaction, player: &PlayerId) -> Result<Vec<SessionRecord>> {
    let id = player.as_str();
    let index = txn.open_table(codec::PLAYER_SESSIONS).map_err(db_err)?;
    let sessions = txn.open_table(codec::SESSIONS).map_err(db_err)?;
    let mut out = Vec::new();
    for row in index.range((id, "")..).map_err(db_err)? {
        let (key, hash) = row.map_err(db_err)?;
        if key.value().0 != id {
            break;
        }
        if let Some(value) = sessions.get(hash.value()).map_err(db_err)? {
            out.push(SessionRecord::decode(value.value())?);
        }
    }
    out.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
    Ok(out)
}

/// Keeps the code, and drops every expired one: the table holds at most the codes of the
/// last ten minutes, which the per-address rate limit bounds.
pub fn create_link_code(txn: &WriteTransaction, code: &LinkCodeRecord) -> Result<()> {
    let mut codes = txn.open_table(codec::LINK_CODES).map_err(db_err)?;
    let now = now_millis();
    let mut expired = Vec::new();
    for row in codes.iter().map_err(db_err)? {
        let (hash, value) = row.map_err(db_err)?;
        // One that no longer decodes is no use to anyone either.
        if LinkCodeRecord::decode(value.value()).is_ok_and(|c| c.expires_at > now) {
            continue;
        }
        expired.push(*hash.value());
    }
    for hash in &expired {
        codes.remove(hash).map_err(db_err)?;
    }
    codes.insert(&code.hash.0, code.encode().as_slice()).map_err(db_err)?;
    Ok(())
}

/// Removes the code and answers it: the writer runs one op at a time, so of two racing
/// redemptions only the first finds it.
pub fn take_link_code(txn: &WriteTransaction, hash: &TokenHash) -> Result<Option<LinkCodeRecord>> {
    let mut codes = txn.open_table(codec::LINK_CODES).map_err(db_err)?;
    let removed = codes.remove(&hash.0).map_err(db_err)?;
    removed.map(|v| LinkCodeRecord::decode(v.value())).transpose()
}

/// On a database from before sessions: each player's one token becomes its first session
/// (created when the player was), the token's table goes, and the player records lose the
/// token. Runs once: afterwards there is no such table.
pub fn migrate(db: &Database) -> Result<()> {
    match db.begin_read().map_err(db_err)?.open_table(codec::TOKENS) {
        Ok(_) => {}
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(err) => return Err(db_err(err)),
    }
    let txn = db.begin_write().map_err(db_err)?;
    let mut moved = 0usize;
    {
        let tokens = txn.open_table(codec::TOKENS).map_err(db_err)?;
        let mut players = txn.open_table(codec::PLAYERS).map_err(db_err)?;
        for row in tokens.iter().map_err(db_err)? {
            let (hash, player) = row.map_err(db_err)?;
            let id = player.value().to_owned();
            let Some(bytes) = players.get(id.as_str()).map_err(db_err)?.map(|v| v.value().to_vec()) else {
                continue; // A token whose player is gone opens nothing.
            };
            let record = PlayerRecord::decode(&id, &bytes)?;
            // As before sessions: a token opened its player only if the record held it too.
            let Some(token_hash) = PlayerRecord::legacy_token_hash(&bytes).filter(|h| h.0 == *hash.value())
            else {
                continue;
            };
            let session = SessionRecord {
                id: SessionId::generate(),
                player: record.id.clone(),
                token_hash,
                created_at: record.created_at,
                last_seen: None,
                agent: None,
            };
            insert(&txn, &session)?;
            players.insert(id.as_str(), record.encode().as_slice()).map_err(db_err)?;
            moved += 1;
        }
    }
    txn.delete_table(codec::TOKENS).map_err(db_err)?;
    txn.commit().map_err(db_err)?;
    tracing::info!(sessions = moved, "moved each player's token into a session");
    Ok(())
}
