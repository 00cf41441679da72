//! A player's account across devices: one-time link codes that sign another device in, the
//! signed-in sessions (listed and revoked), and renaming oneself.

use marauder_protocol::{LinkCode, Me, PlayerCreated, RedeemLinkCode, RenamePlayer, Sessions};
use reqwest::{Method, StatusCode};

use crate::{Client, Result};

impl Client {
    /// A one-time code that signs another device in as this player (10 minutes, once).
    pub async fn create_link_code(&self) -> Result<LinkCode> {
        self.call(self.request(Method::POST, "/api/v1/players/me/link-codes"), StatusCode::CREATED).await
    }

    /// Redeems a link code: the player it names, with a new token. Sent without this
    /// client's token, as a device that is not signed in yet does.
    pub async fn redeem_link_code(&self, code: &str) -> Result<PlayerCreated> {
        let req =
            self.anonymous(Method::POST, "/api/v1/sessions").json(&RedeemLinkCode { code: code.into() });
        self.call(req, StatusCode::CREATED).await
    }

    /// The player's signed-in sessions, oldest first.
    pub async fn sessions(&self) -> Result<Sessions> {
        self.call(self.request(Method::GET, "/api/v1/players/me/sessions"), StatusCode::OK).await
    }

    /// Signs a session out; `id` may be `current`.
    pub async fn revoke_session(&self, id: &str) -> Result<()> {
        let req = self.request(Method::DELETE, &format!("/api/v1/players/me/sessions/{id}"));
        self.call(req, StatusCode::NO_CONTENT).await
    }

    /// Gives the player a new name; answers `GET /players/me` as it then is.
    pub async fn rename(&self, name: &str) -> Result<Me> {
        let req = self.request(Method::PATCH, "/api/v1/players/me").json(&RenamePlayer { name: name.into() });
        self.call(req, StatusCode::OK).await
    }
}
