//! What a map's owner may do (rename it, change its visibility, replace its invite code,
//! remove a member, delete it), and the preview an invite screen shows before one joins.

use marauder_protocol::{InviteCodeAnswer, MapDetail, MapPreview, UpdateMap};
use reqwest::{Method, StatusCode};

use crate::{Client, Result};

impl Client {
    /// Renames the map and/or changes its visibility (the owner only).
    pub async fn update_map(&self, id: &str, update: &UpdateMap) -> Result<MapDetail> {
        let req = self.request(Method::PATCH, &format!("/api/v1/maps/{id}")).json(update);
        self.call(req, StatusCode::OK).await
    }

    /// A new invite code for a private map; the old one opens nothing from then on.
    pub async fn new_invite_code(&self, id: &str) -> Result<InviteCodeAnswer> {
        self.call(self.request(Method::POST, &format!("/api/v1/maps/{id}/invite-code")), StatusCode::OK).await
    }

    /// Removes a member from the map (the owner only).
    pub async fn remove_member(&self, map: &str, player: &str) -> Result<()> {
        let req = self.request(Method::DELETE, &format!("/api/v1/maps/{map}/members/{player}"));
        self.call(req, StatusCode::NO_CONTENT).await
    }

    /// Deletes the map (the owner only).
    pub async fn delete_map(&self, id: &str) -> Result<()> {
        self.call(self.request(Method::DELETE, &format!("/api/v1/maps/{id}")), StatusCode::NO_CONTENT).await
    }

    /// What an invite screen shows: a private map needs membership or its invite code.
    pub async fn preview(&self, id: &str, invite_code: Option<&str>) -> Result<MapPreview> {
        let mut req = self.request(Method::GET, &format!("/api/v1/maps/{id}/preview"));
        if let Some(code) = invite_code {
            req = req.query(&[("invite_code", code)]);
        }
        self.call(req, StatusCode::OK).await
    }
}
