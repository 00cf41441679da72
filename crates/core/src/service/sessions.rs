//! Players and their sessions: one player, many signed-in devices. A session is one token;
//! a one-time link code brings another device in as the same player; a rename reaches every
//! map the player is in.

use marauder_protocol::{
    CreatePlayer, LinkCode as LinkCodeAnswer, Me, Millis, PlayerCreated, RedeemLinkCode, RenamePlayer,
    SessionInfo, Sessions,
};

use super::{Marauder, Player, stale};
use crate::LINK_CODE_TTL_MS;
use crate::domain::{Name, PlayerId, SessionId, now_millis};
use crate::error::CoreError;
use crate::feed::{Change, Notice};
use crate::secret::{LinkCode, Token, TokenHash};
use crate::store::{LinkCodeRecord, PlayerRecord, SessionRecord};

/// What the server knows of the client that signs in: kept with the session so a person can
/// tell their devices apart.
#[derive(Debug, Clone, Copy, Default)]
pub struct Client<'a> {
    pub user_agent: Option<&'a str>,
}

fn new_session(player: &PlayerId, client: Client<'_>, now: Millis) -> (Token, SessionRecord) {
    let token = Token::generate();
    let record = SessionRecord {
        id: SessionId::generate(),
        player: player.clone(),
        token_hash: token.hash(),
        created_at: now,
        last_seen: None,
        agent: SessionRecord::agent_from(client.user_agent),
    };
    (token, record)
}

/// The answer that signs a device in: the player and the new session's token.
fn signed_in(player: PlayerRecord, token: &Token) -> PlayerCreated {
    PlayerCreated {
        id: player.id.into_string(),
        name: player.name,
        token: token.expose().to_owned(),
        created_at: player.created_at,
    }
}

fn too_many_sessions(max: usize) -> CoreError {
    CoreError::BadRequest(format!(
        "a player has at most {max} signed-in devices: sign one out before adding another"
    ))
}

fn link_code_refused() -> CoreError {
    CoreError::Forbidden("this link code is unknown, used or expired: make a new one".into())
}

impl Marauder {
    pub async fn create_player(
        &self,
        req: CreatePlayer,
        client: Client<'_>,
    ) -> Result<PlayerCreated, CoreError> {
        let name = Name::parse("name", &req.name)?.into_string();
        let record = PlayerRecord { id: PlayerId::generate(), name, created_at: now_millis() };
        let (token, session) = new_session(&record.id, client, record.created_at);
        self.store.create_player(record.clone(), session).await?;
        tracing::info!(player = %record.id, "player created");
        Ok(signed_in(record, &token))
    }

    /// The player a bearer token belongs to, and the session it opens.
    pub async fn authenticate(&self, presented: &str) -> Result<Player, CoreError> {
        let Some((session, record)) = self.session_of(presented).await? else {
            return Err(CoreError::Unauthorized);
        };
        let now = now_millis();
        if stale(session.last_seen, now) {
            // Only what the sessions list shows: a failure here must not refuse the request.
            let seen = SessionRecord { last_seen: Some(now), ..session.clone() };
            if let Err(err) = self.store.touch_session(&seen).await {
                tracing::warn!(session = %seen.id, error = %err, "could not record when a session was seen");
            }
        }
        Ok(Player { id: record.id, name: record.name, session: Some(session.id) })
    }

    /// A one-time code that signs another device in as `player`, for [`LINK_CODE_TTL_MS`].
    pub async fn create_link_code(&self, player: &Player) -> Result<LinkCodeAnswer, CoreError> {
        self.room_for_a_session(&player.id).await?;
        let code = LinkCode::generate();
        let expires_at = now_millis() + LINK_CODE_TTL_MS;
        let record = LinkCodeRecord {
            hash: code.hash(),
            player: player.id.clone(),
            expires_at,
            session: player.session.clone(),
        };
        self.store.create_link_code(record).await?;
        tracing::info!(player = %player.id, "link code created");
        Ok(LinkCodeAnswer { code: code.expose().to_owned(), expires_at })
    }

    /// Redeems a link code: a new session of its player. The code works once, whatever the
    /// outcome after it is taken.
    pub async fn redeem_link_code(
        &self,
        req: RedeemLinkCode,
        client: Client<'_>,
    ) -> Result<PlayerCreated, CoreError> {
        if !LinkCode::well_formed(&req.code) {
            return Err(link_code_refused());
        }
        let taken = self.store.take_link_code(&TokenHash::of(&req.code)).await?;
        let now = now_millis();
        let Some(code) = taken.filter(|c| c.hash.matches(&req.code) && c.expires_at > now) else {
            return Err(link_code_refused());
        };
        let player = self.store.player(&code.player).await?.ok_or_else(link_code_refused)?;
        let sessions = self.store.sessions_of(&player.id).await?;
        // Made by a session that has been signed out while others remain (a stolen token,
        // revoked): the code went with it. With no session left it is the way back in.
        let orphaned = code.session.as_ref().is_some_and(|made_by| sessions.iter().all(|s| s.id != *made_by));
        if orphaned && !sessions.is_empty() {
            return Err(link_code_refused());
        }
        if sessions.len() >= self.limits.sessions_per_player {
            return Err(too_many_sessions(self.limits.sessions_per_player));
        }
        let (token, session) = new_session(&player.id, client, now);
        self.store.create_session(session.clone()).await?;
        tracing::info!(player = %player.id, session = %session.id, "signed in with a link code");
        Ok(signed_in(player, &token))
    }

    /// Announces `notice` to every handler. Its cause is already stored: a broker that fails
    /// here leaves other handlers' sockets as they are until they reconnect, which is logged.
    pub(super) async fn announce(&self, notice: Notice) {
        if let Err(err) = self.feed.announce(notice).await {
            tracing::warn!(error = %err, "could not announce a player's change to every handler");
        }
    }

    async fn room_for_a_session(&self, player: &PlayerId) -> Result<(), CoreError> {
        let max = self.limits.sessions_per_player;
        if self.store.sessions_of(player).await?.len() >= max {
            return Err(too_many_sessions(max));
        }
        Ok(())
    }

    /// Whether `presented` still opens a session: an open WebSocket's periodic check, which
    /// a notice lost on the way cannot defeat. Reads only (`last_seen` is not written).
    pub async fn still_signed_in(&self, presented: &str) -> Result<bool, CoreError> {
        Ok(self.session_of(presented).await?.is_some())
    }

    /// The session a presented token opens, with its player: garbage is refused before any
    /// lookup, and the hash compared in constant time.
    async fn session_of(&self, presented: &str) -> Result<Option<(SessionRecord, PlayerRecord)>, CoreError> {
        if !TokenHash::well_formed(presented) {
            return Ok(None);
        }
        let found = self.store.session_by_token(&TokenHash::of(presented)).await?;
        Ok(found.filter(|(session, _)| session.token_hash.matches(presented)))
    }

    pub async fn sessions(&self, player: &Player) -> Result<Sessions, CoreError> {
        let sessions = self.store.sessions_of(&player.id).await?;
        Ok(Sessions {
            sessions: sessions
                .into_iter()
                .map(|s| SessionInfo {
                    current: player.session.as_ref() == Some(&s.id),
                    id: s.id.into_string(),
                    created_at: s.created_at,
                    last_seen: s.last_seen,
                    agent: s.agent,
                })
                .collect(),
        })
    }

    /// Revokes one of the player's sessions (`current`: the one making the request); answers
    /// its id, whose WebSockets the server then closes.
    pub async fn revoke_session(&self, player: &Player, id: &str) -> Result<SessionId, CoreError> {
        let not_found = || CoreError::NotFound(format!("no session {id}"));
        let id = match id {
            "current" => player.session.clone().ok_or_else(not_found)?,
            other => SessionId::parse(other).ok_or_else(not_found)?,
        };
        let revoked = self.store.delete_session(&player.id, &id).await?.ok_or_else(not_found)?;
        tracing::info!(player = %player.id, session = %revoked.id, "session revoked");
        // The token opens nothing any more; closing its sockets on every handler follows.
        let notice = Notice::SessionRevoked { player: player.id.clone(), session: revoked.id.clone() };
        self.announce(notice).await;
        Ok(revoked.id)
    }

    /// Renames the player, then tells each of its maps (`renamed`, with its latest point under
    /// the new name for the snapshots).
    pub async fn rename(&self, player: &Player, req: RenamePlayer) -> Result<Me, CoreError> {
        let name = Name::parse("name", &req.name)?.into_string();
        if !self.store.rename_player(&player.id, &name).await? {
            return Err(CoreError::Unauthorized);
        }
        let renamed = Player { name: name.clone(), ..player.clone() };
        // The sockets take the name before the `renamed` events go out, so that no location
        // published after them carries the old one.
        self.announce(Notice::Renamed { player: player.id.clone(), name: name.clone() }).await;
        let latest = self.store.latest(&player.id).await?.map(|fix| self.located(&renamed, fix));
        for map in self.store.map_ids_of(&player.id).await?.iter() {
            let _guard = self.stripe(map, &player.id).lock().await;
            let change =
                Change::Renamed { player: player.id.to_string(), name: name.clone(), latest: latest.clone() };
            self.feed.publish(map, change).await?;
        }
        tracing::info!(player = %player.id, "renamed");
        self.me(&renamed).await
    }
}
