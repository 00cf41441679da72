//! The contract, end to end: a real server on port 0, driven through the client library.

mod helpers;

mod admin;
mod deletion;
mod errors;
mod handlers;
mod hygiene;
mod limits;
mod live;
mod locations;
mod maps;
mod memory;
mod metrics;
mod openapi;
mod phones;
mod phones_places;
mod places;
mod places_across;
mod players;
mod public_maps;
mod rename;
mod retention;
mod sessions;
mod trail_files;
mod web;
