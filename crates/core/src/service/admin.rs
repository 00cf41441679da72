//! Map administration: what a map's owner may change (name, visibility, invite code,
//! members, the map's existence), how ownership passes on when the owner goes, and the
//! preview an invite screen shows before one joins.

use marauder_protocol::{InviteCodeAnswer, MapDetail, MapPreview, PlayerSummary, UpdateMap, Visibility};

use super::{Marauder, Player};
use crate::domain::{MapId, Name, PlayerId};
use crate::error::CoreError;
use crate::feed::Change;
use crate::secret::InviteCode;
use crate::store::MapRecord;

/// How often a hand-over is retried when the chosen member leaves meanwhile.
const HAND_OVER_ATTEMPTS: usize = 8;

fn map_updated(record: &MapRecord) -> Change {
    Change::MapUpdated {
        name: record.name.clone(),
        visibility: record.visibility,
        owner: record.owner.to_string(),
    }
}

impl Marauder {
    /// The map, which must exist (404) and be `player`'s (403). An owner who has just left is
    /// no longer one, even before the hand-over is written.
    async fn owned_map(&self, player: &Player, map: &str) -> Result<MapRecord, CoreError> {
        let record = self.existing_map(map).await?;
        if record.owner != player.id || !self.store.is_member(&record.id, &player.id).await? {
            return Err(CoreError::Forbidden(format!("only the owner of map {map} may change it")));
        }
        Ok(record)
    }

    /// Renames the map and/or changes its visibility: private gets a new invite code, public
    /// drops it. A change publishes `map_updated`; asking for what already is changes nothing.
    pub async fn update_map(
        &self,
        player: &Player,
        map: &str,
        req: UpdateMap,
    ) -> Result<MapDetail, CoreError> {
        let name = req.name.as_deref().map(|n| Name::parse("name", n)).transpose()?;
        let change = |record: &MapRecord| {
            let mut updated = record.clone();
            if let Some(name) = &name {
                updated.name = name.as_str().to_owned();
            }
            if let Some(visibility) = req.visibility.filter(|v| *v != record.visibility) {
                updated.visibility = visibility;
                updated.invite_code =
                    (visibility == Visibility::Private).then(|| InviteCode::generate().as_str().to_owned());
            }
            Ok(updated)
        };
        let updated = self.change_owned_map(player, map, change, true).await?;
        self.detail(updated).await
    }

    /// A new invite code for a private map; the old one opens nothing from then on.
    pub async fn new_invite_code(&self, player: &Player, map: &str) -> Result<InviteCodeAnswer, CoreError> {
        let code = InviteCode::generate().as_str().to_owned();
        let change = |record: &MapRecord| {
            if record.visibility == Visibility::Public {
                return Err(CoreError::BadRequest(
                    "a public map has no invite code: anyone may join it".into(),
                ));
            }
            Ok(MapRecord { invite_code: Some(code.clone()), ..record.clone() })
        };
        self.change_owned_map(player, map, change, false).await?;
        tracing::info!(%map, "invite code replaced");
        Ok(InviteCodeAnswer { invite_code: code })
    }

    /// Applies `change` to the owner's map as it is now, by compare and set: when the record
    /// changed meanwhile (a hand-over, another edit) it is read again, ownership checked
    /// again and `change` applied again. With `announce`, a change publishes `map_updated`;
    /// on this handler changes of one map and their events go one at a time, so the last event
    /// tells the stored state. Answers the record as stored.
    async fn change_owned_map(
        &self,
        player: &Player,
        map: &str,
        change: impl Fn(&MapRecord) -> Result<MapRecord, CoreError>,
        announce: bool,
    ) -> Result<MapRecord, CoreError> {
        let id = self.existing_map(map).await?.id;
        for _ in 0..HAND_OVER_ATTEMPTS {
            // Changes made here wait for each other: only another handler's (or a hand-over)
            // can make the compare and set fail.
            let _serial = self.map_stripe(&id).lock().await;
            let record = self.owned_map(player, map).await?;
            let updated = change(&record)?;
            if updated == record {
                return Ok(record);
            }
            if self.store.update_map(&record, updated.clone()).await? {
                if announce {
                    self.feed.publish(&updated.id, map_updated(&updated)).await?;
                    tracing::info!(map = %updated.id, "map updated");
                }
                return Ok(updated);
            }
        }
        Err(CoreError::Unavailable(format!("map {map} kept changing while it was being changed")))
    }

    /// The owner removes a member: `left` with `removed`, and the member's subscriptions end.
    pub async fn remove_member(&self, player: &Player, map: &str, member: &str) -> Result<(), CoreError> {
        let record = self.owned_map(player, map).await?;
        let not_member = || CoreError::NotFound(format!("no member {member} in map {map}"));
        let member = PlayerId::parse(member).ok_or_else(not_member)?;
        if member == player.id {
            return Err(CoreError::BadRequest(
                "the owner cannot remove themselves: leave the map instead".into(),
            ));
        }
        if !self.store.is_member(&record.id, &member).await? {
            return Err(not_member());
        }
        let name = self.store.player(&member).await?.map(|p| p.name).unwrap_or_default();
        let removed = Player { id: member, name, session: None };
        self.leave_map(&removed, &record.id, true).await
    }

    /// Deletes the map: a 404 everywhere from then on; every subscription ends with `deleted`.
    pub async fn delete_map(&self, player: &Player, map: &str) -> Result<(), CoreError> {
        let record = self.owned_map(player, map).await?;
        self.drop_map(&record.id).await
    }

    /// The store first, so that the map is gone for every request; then its last event, after
    /// which the feed publishes nothing more to it.
    async fn drop_map(&self, map: &MapId) -> Result<(), CoreError> {
        if !self.store.delete_map(map).await? {
            return Ok(());
        }
        tracing::info!(%map, "map deleted");
        if let Err(err) = self.feed.publish(map, Change::Deleted).await {
            // The map is gone, so a retry would be a 404: its subscribers must still hear the
            // end, so the feed is retried until it takes it.
            tracing::warn!(%map, error = %err, "publishing map_deleted failed; retrying in the background");
            tokio::spawn(self.clone().publish_deleted(map.clone()));
        }
        Ok(())
    }

    /// Retries `map_deleted` with backoff, for about ten minutes: a feed that was unavailable
    /// is usually back well before.
    async fn publish_deleted(self, map: MapId) {
        let mut wait = std::time::Duration::from_millis(250);
        for _ in 0..16 {
            tokio::time::sleep(wait).await;
            match self.feed.publish(&map, Change::Deleted).await {
                Ok(_) => return,
                Err(err) => tracing::warn!(%map, error = %err, "publishing map_deleted failed again"),
            }
            wait = (wait * 2).min(std::time::Duration::from_secs(60));
        }
        tracing::error!(%map, "map_deleted was never published: its subscribers end when they resubscribe");
    }

    /// After `gone` left `map`: a map without members is deleted, and one whose owner left
    /// passes to the member who joined earliest (announced with `map_updated`).
    pub(super) async fn after_departure(&self, map: &MapId, gone: &PlayerId) -> Result<(), CoreError> {
        for _ in 0..HAND_OVER_ATTEMPTS {
            let Some(record) = self.store.map(map).await? else {
                return Ok(());
            };
            let members = self.store.members(map).await?;
            let Some((heir, _)) = members.first() else {
                return self.drop_map(map).await;
            };
            if record.owner != *gone && members.iter().any(|(id, _)| *id == record.owner) {
                return Ok(());
            }
            let updated = MapRecord { owner: heir.clone(), ..record.clone() };
            let _serial = self.map_stripe(map).lock().await;
            // Changed meanwhile (another edit, or already handed on): read it again.
            if !self.store.update_map(&record, updated.clone()).await? {
                continue;
            }
            // The heir may have left between the read and the write: then choose again.
            if self.store.is_member(map, heir).await? {
                self.feed.publish(map, map_updated(&updated)).await?;
                tracing::info!(%map, owner = %heir, "ownership passed on");
                return Ok(());
            }
        }
        tracing::warn!(%map, "members kept leaving while the map was handed on; it stays as it is");
        Ok(())
    }

    /// What an invite screen shows: any signed-in player may preview a public map; a private
    /// one needs membership or its invite code (a wrong code is a 403).
    pub async fn preview(
        &self,
        player: &Player,
        map: &str,
        invite_code: Option<&str>,
    ) -> Result<MapPreview, CoreError> {
        let record = self.existing_map(map).await?;
        let member = self.store.is_member(&record.id, &player.id).await?;
        if let (Some(code), false) = (&record.invite_code, member)
            && !InviteCode::from_stored(code.clone()).matches(invite_code.unwrap_or_default())
        {
            return Err(CoreError::Forbidden("wrong or missing invite_code".into()));
        }
        let members = self.store.members(&record.id).await?;
        let owner_name = match members.iter().find(|(id, _)| *id == record.owner) {
            Some((_, name)) => name.clone(),
            None => self.store.player(&record.owner).await?.map(|p| p.name).unwrap_or_default(),
        };
        Ok(MapPreview {
            id: record.id.into_string(),
            name: record.name,
            visibility: record.visibility,
            owner: PlayerSummary { id: record.owner.into_string(), name: owner_name },
            members: members.len() as u64,
            member,
        })
    }
}
