//! Sessions and link codes on Redis. A session's record lives under its token's hash (one
//! key, the authority: what it holds opens the player); the player's session index
//! (`{player}:sessions`, session id → token hash) finds them for the list and for revoking.
//! Steps are ordered so that an interruption leaves only what readers ignore: a session is
//! indexed before its record is written and unindexed after its record is gone, and a listed
//! session whose record is missing is skipped. Link codes are keys that expire with the code.

use futures_util::future::try_join_all;
use marauder_core::{
    LinkCodeRecord, PlayerId, PlayerRecord, SessionId, SessionRecord, Store, StoreError, TokenHash,
    now_millis,
};
use redis::{AsyncCommands, Script};

use super::RedisStore;
use crate::conn::store_err;
use crate::keys::{hex, parse_hex};

type Result<T> = std::result::Result<T, StoreError>;

/// Replaces the token key's value only if it still is what was read: a legacy token is
/// migrated once, by whichever reader gets there first. KEYS: token. ARGV: expected, new.
const SWAP: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

pub(super) struct Scripts {
    swap: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts { swap: Script::new(SWAP) }
    }
}

/// What a token key holds: a session, or (written before sessions) a bare player id.
enum TokenValue {
    Session(SessionRecord),
    Legacy(PlayerId),
}

fn token_value(bytes: &[u8]) -> Result<Option<TokenValue>> {
    if bytes.first() == Some(&b'{') {
        return SessionRecord::decode(bytes).map(|s| Some(TokenValue::Session(s)));
    }
    Ok(std::str::from_utf8(bytes).ok().and_then(PlayerId::parse).map(TokenValue::Legacy))
}

impl RedisStore {
    /// Writes the session: the index first, then the record (the authority).
    pub(super) async fn put_session(&self, session: &SessionRecord) -> Result<()> {
        let _: () = self
            .conn()
            .hset(self.keys.player_sessions(&session.player), session.id.as_str(), hex(&session.token_hash))
            .await
            .map_err(store_err)?;
        let _: () = self
            .conn()
            .set(self.keys.token(&session.token_hash), session.encode())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn token_value(&self, hash: &TokenHash) -> Result<Option<TokenValue>> {
        let bytes: Option<Vec<u8>> = self.conn().get(self.keys.token(hash)).await.map_err(store_err)?;
        Ok(match bytes {
            Some(bytes) => token_value(&bytes)?,
            None => None,
        })
    }

    pub(super) async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(SessionRecord, PlayerRecord)>> {
        // Twice at most: a legacy token migrated by a racing reader is a session the second time.
        for _ in 0..2 {
            let session = match self.token_value(hash).await? {
                None => return Ok(None),
                Some(TokenValue::Session(session)) => session,
                Some(TokenValue::Legacy(player)) => match self.migrate_token(hash, &player).await? {
                    Some(session) => session,
                    None => continue,
                },
            };
            // A session whose player is gone (its deletion interrupted) opens nothing.
            return Ok(self.player(&session.player).await?.map(|player| (session, player)));
        }
        Ok(None)
    }

    /// Turns a token written before sessions into a session created with its player, indexed
    /// first; `None` if another reader migrated it meanwhile (or the player is gone).
    async fn migrate_token(&self, hash: &TokenHash, player: &PlayerId) -> Result<Option<SessionRecord>> {
        let Some(record) = self.player(player).await? else {
            return Ok(None);
        };
        let session = SessionRecord {
            id: SessionId::generate(),
            player: player.clone(),
            token_hash: TokenHash(hash.0),
            created_at: record.created_at,
            last_seen: None,
            agent: None,
        };
        let index = self.keys.player_sessions(player);
        let _: () = self
            .conn()
            .hset(&index, session.id.as_str(), hex(&session.token_hash))
            .await
            .map_err(store_err)?;
        let swapped: u64 = self
            .scripts
            .sessions
            .swap
            .key(self.keys.token(hash))
            .arg(player.as_str())
            .arg(session.encode())
            .invoke_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        if swapped == 1 {
            tracing::info!(%player, session = %session.id, "a token from before sessions became a session");
            return Ok(Some(session));
        }
        // Ours was never written: its index entry names nothing.
        let _: () = self.conn().hdel(&index, session.id.as_str()).await.map_err(store_err)?;
        Ok(None)
    }

    pub(super) async fn list_sessions(&self, player: &PlayerId) -> Result<Vec<SessionRecord>> {
        let index: Vec<(String, String)> =
            self.conn().hgetall(self.keys.player_sessions(player)).await.map_err(store_err)?;
        let listed: Vec<(String, TokenHash)> =
            index.into_iter().filter_map(|(id, hash)| Some((id, parse_hex(&hash)?))).collect();
        let values = try_join_all(listed.iter().map(|(_, hash)| self.token_value(hash))).await?;
        let mut sessions: Vec<SessionRecord> = listed
            .iter()
            .zip(values)
            .filter_map(|((id, _), value)| match value {
                // Skipped: a record not written yet or revoked already, or another's.
                Some(TokenValue::Session(s)) if s.id.as_str() == id && &s.player == player => Some(s),
                _ => None,
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(sessions)
    }

    pub(super) async fn touch(&self, session: &SessionRecord) -> Result<()> {
        // XX: only if it still exists, so a session revoked meanwhile is not brought back.
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.token(&session.token_hash))
            .arg(session.encode())
            .arg("XX")
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    pub(super) async fn revoke(&self, player: &PlayerId, id: &SessionId) -> Result<Option<SessionRecord>> {
        let index = self.keys.player_sessions(player);
        let hash: Option<String> = self.conn().hget(&index, id.as_str()).await.map_err(store_err)?;
        let Some(hash) = hash.as_deref().and_then(parse_hex) else {
            return Ok(None);
        };
        // An entry without its record stays: it may be a session being created right now.
        let Some(TokenValue::Session(session)) = self.token_value(&hash).await? else {
            return Ok(None);
        };
        if &session.id != id || &session.player != player {
            return Ok(None);
        }
        // The record first: once it is gone the token opens nothing.
        let _: () = self.conn().del(self.keys.token(&hash)).await.map_err(store_err)?;
        let _: () = self.conn().hdel(&index, id.as_str()).await.map_err(store_err)?;
        Ok(Some(session))
    }

    /// Every session of the player goes (their index with the player's other keys, after).
    pub(super) async fn revoke_all(&self, player: &PlayerId, legacy: Option<TokenHash>) -> Result<()> {
        let index: Vec<(String, String)> =
            self.conn().hgetall(self.keys.player_sessions(player)).await.map_err(store_err)?;
        let hashes = index.iter().filter_map(|(_, hash)| parse_hex(hash)).chain(legacy);
        let keys: Vec<String> = hashes.map(|hash| self.keys.token(&hash)).collect();
        // One key at a time: in a cluster the token keys live on different slots.
        for key in keys {
            let _: () = self.conn().del(key).await.map_err(store_err)?;
        }
        Ok(())
    }

    pub(super) async fn put_link_code(&self, code: &LinkCodeRecord) -> Result<()> {
        // Expires with the code; at least a millisecond, as PX takes no zero.
        let ttl = code.expires_at.saturating_sub(now_millis()).max(1);
        let _: () = redis::cmd("SET")
            .arg(self.keys.link_code(&code.hash))
            .arg(code.encode())
            .arg("PX")
            .arg(ttl)
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        Ok(())
    }

    pub(super) async fn take_code(&self, hash: &TokenHash) -> Result<Option<LinkCodeRecord>> {
        // GETDEL: of racing takers, exactly one reads it.
        let bytes: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(self.keys.link_code(hash))
            .query_async(&mut self.conn())
            .await
            .map_err(store_err)?;
        bytes.map(|b| LinkCodeRecord::decode(&b)).transpose()
    }
}
