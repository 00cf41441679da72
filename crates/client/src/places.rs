//! A map's places (contract "Places: arrivals and departures"): drawing, listing, reading
//! (with who is inside) and removing them. Arrivals and departures come as events.

use marauder_protocol::{CreatePlace, Place, PlaceDetail, Places};
use reqwest::{Method, StatusCode};

use crate::{Client, Result};

impl Client {
    /// Draws a place on the map (a member); the map gets `place_added`.
    pub async fn create_place(&self, map: &str, place: &CreatePlace) -> Result<Place> {
        let req = self.request(Method::POST, &format!("/api/v1/maps/{map}/places")).json(place);
        self.call(req, StatusCode::CREATED).await
    }

    /// The map's places, oldest first.
    pub async fn places(&self, map: &str) -> Result<Places> {
        self.call(self.request(Method::GET, &format!("/api/v1/maps/{map}/places")), StatusCode::OK).await
    }

    /// One place, with the members inside it.
    pub async fn place(&self, map: &str, id: &str) -> Result<PlaceDetail> {
        self.call(self.request(Method::GET, &format!("/api/v1/maps/{map}/places/{id}")), StatusCode::OK).await
    }

    /// Removes a place (its creator or the map's owner); the map gets `place_removed`.
    pub async fn delete_place(&self, map: &str, id: &str) -> Result<()> {
        let req = self.request(Method::DELETE, &format!("/api/v1/maps/{map}/places/{id}"));
        self.call(req, StatusCode::NO_CONTENT).await
    }
}
