//! The Redis backend against a real `redis-server` and a three-master Redis Cluster that the
//! tests start themselves: sessions, link codes, map administration, join order, and the feed's
//! publish of every kind of change, arrivals and departures across handlers, with the keys
//! checked as Redis holds them.

mod conformance;
mod feed;
mod listener;
mod maps;
mod places;
mod proxy;
mod retries;
mod servers;
mod sessions;
mod trail_index;

use marauder_core::protocol::Visibility;
use marauder_core::protocol::{Fix, PlayerLocation};
use marauder_core::{MapId, MapRecord, PlayerId, PlayerRecord, SessionId, SessionRecord, Store, Token};
use servers::Backend;

/// Creates a player with one session created at `created_at`; answers both.
pub async fn player(backend: &Backend, name: &str, created_at: i64) -> (PlayerRecord, SessionRecord) {
    let record = PlayerRecord { id: PlayerId::generate(), name: name.to_owned(), created_at };
    let session = session(&record.id, created_at);
    backend.redis.store.create_player(record.clone(), session.clone()).await.unwrap();
    (record, session)
}

pub fn session(player: &PlayerId, created_at: i64) -> SessionRecord {
    SessionRecord {
        id: SessionId::generate(),
        player: player.clone(),
        token_hash: Token::generate().hash(),
        created_at,
        last_seen: None,
        agent: Some("Test/1.0".into()),
    }
}

pub async fn map(backend: &Backend, owner: &PlayerId, visibility: Visibility) -> MapRecord {
    let record = MapRecord {
        id: MapId::generate(),
        name: "Hogwarts".into(),
        owner: owner.clone(),
        visibility,
        invite_code: (visibility == Visibility::Private).then(|| "a-code".into()),
        created_at: 1,
    };
    backend.redis.store.create_map(record.clone()).await.unwrap();
    record
}

pub fn located(player: &PlayerRecord, name: &str, ts: i64) -> PlayerLocation {
    let fix = Fix { lat: 51.5, lon: -0.1, accuracy: None, altitude: None, speed: None, heading: None, ts };
    PlayerLocation { player: player.id.to_string(), name: name.to_owned(), fix }
}
