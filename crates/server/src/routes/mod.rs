//! The HTTP routes; each module owns its `router()`. Handlers extract, call the core, and
//! map the result.

mod admin;
mod devices;
mod health;
mod locations;
mod maps;
mod metrics;
mod openapi;
mod own_trail;
mod phones;
mod places;
mod players;
mod sessions;
mod trail_files;
pub mod web;
pub mod ws;

use axum::Router;

use crate::state::AppState;

pub fn api(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(players::router())
        .merge(own_trail::router())
        .merge(sessions::router())
        .merge(devices::router())
        .merge(phones::router())
        .merge(maps::router())
        .merge(admin::router())
        .merge(places::router())
        .merge(locations::router())
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .merge(ws::router(state))
        .merge(web::router())
}
