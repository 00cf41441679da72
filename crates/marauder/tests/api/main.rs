//! The contract, end to end: a real server on port 0, driven through the client library.

mod helpers;

mod errors;
mod live;
mod locations;
mod maps;
mod phones;
mod players;
mod web;
