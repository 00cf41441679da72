//! Places on a map (contract "Places: arrivals and departures"): drawn and removed by its
//! members, read by them with who is inside. Arrivals and departures are not made here but
//! where a location is published ([`crate::places::crossings`], run by each feed).

use marauder_protocol::{CreatePlace, Place, PlaceDetail, Places};

use super::{Marauder, Player};
use crate::domain::{Name, now_millis};
use crate::error::CoreError;
use crate::feed::Change;
use crate::places::{MAX_PLACES_PER_MAP, MAX_RADIUS_M, MIN_RADIUS_M, fences, valid_radius};
use crate::secret::random_id;

impl Marauder {
    pub async fn create_place(
        &self,
        player: &Player,
        map: &str,
        req: CreatePlace,
    ) -> Result<Place, CoreError> {
        let record = self.member_map(player, map).await?;
        let name = Name::parse("name", &req.name)?.into_string();
        if !(req.lat.is_finite() && (-90.0..=90.0).contains(&req.lat)) {
            return Err(CoreError::bad_request("lat", "must be in [-90, 90]"));
        }
        if !(req.lon.is_finite() && (-180.0..=180.0).contains(&req.lon)) {
            return Err(CoreError::bad_request("lon", "must be in [-180, 180]"));
        }
        if !valid_radius(req.radius) {
            return Err(CoreError::bad_request(
                "radius",
                format!("must be from {MIN_RADIUS_M} to {MAX_RADIUS_M} metres"),
            ));
        }
        let place = Place {
            id: random_id(),
            name,
            lat: req.lat,
            lon: req.lon,
            radius: req.radius,
            created_by: player.id.to_string(),
            created_at: now_millis(),
        };
        let change = Change::PlaceAdded { place: place.clone(), max: MAX_PLACES_PER_MAP };
        if self.feed.publish_place(&*self.store, &record.id, change).await?.is_some() {
            tracing::info!(map = %record.id, place = %place.id, player = %player.id, "place added");
            return Ok(place);
        }
        // Nothing changed: say why, as the map is now.
        self.member_map(player, map).await?;
        Err(CoreError::BadRequest(format!("a map has at most {MAX_PLACES_PER_MAP} places")))
    }

    /// The map's places, oldest first.
    pub async fn places(&self, player: &Player, map: &str) -> Result<Places, CoreError> {
        let record = self.member_map(player, map).await?;
        let places = fences(self.store.places(&record.id).await?).into_iter().map(|f| f.place).collect();
        Ok(Places { places })
    }

    pub async fn place(&self, player: &Player, map: &str, place: &str) -> Result<PlaceDetail, CoreError> {
        let record = self.member_map(player, map).await?;
        let place = self.find_place(&record.id, map, place).await?;
        let inside = self.feed.inside(&record.id, &place.id).await?;
        Ok(PlaceDetail { place, inside })
    }

    /// By the place's creator or the map's owner (another member gets 403).
    pub async fn delete_place(&self, player: &Player, map: &str, place: &str) -> Result<(), CoreError> {
        let record = self.member_map(player, map).await?;
        let found = self.find_place(&record.id, map, place).await?;
        if found.created_by != player.id.as_str() && record.owner != player.id {
            return Err(CoreError::Forbidden("only its creator or the map's owner removes a place".into()));
        }
        let change = Change::PlaceRemoved { place: found.id.clone() };
        if self.feed.publish_place(&*self.store, &record.id, change).await?.is_none() {
            // Removed meanwhile (or the map went).
            self.member_map(player, map).await?;
            return Err(CoreError::NotFound(format!("no place {place} on map {map}")));
        }
        tracing::info!(map = %record.id, place = %found.id, player = %player.id, "place removed");
        Ok(())
    }

    async fn find_place(&self, map: &crate::MapId, raw_map: &str, place: &str) -> Result<Place, CoreError> {
        let found = self.store.places(map).await?.into_iter().find(|p| p.id == place);
        found.ok_or_else(|| CoreError::NotFound(format!("no place {place} on map {raw_map}")))
    }
}
