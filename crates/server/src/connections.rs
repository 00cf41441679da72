//! The WebSocket sockets of each player on this handler: enforces the per-player cap, ends a
//! player's sockets when the player is deleted and one session's when that session (its token)
//! is revoked, and keeps the player's current name in one cell its sockets share, so that a
//! rename reaches the `location` events they publish from then on.
//!
//! It knows players, sessions and sockets on this handler only; what happens on another
//! handler reaches it as a [`Notice`] through the feed (`Connections::apply`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use marauder_core::{Notice, Player, PlayerId, SessionId};

use crate::outbox::{Outbox, Stop};

#[derive(Default)]
pub struct Connections {
    players: Mutex<HashMap<PlayerId, PlayerSockets>>,
    next: AtomicU64,
    /// The server is shutting down: every socket, and any registered from now on, stops.
    closing: AtomicBool,
}

struct PlayerSockets {
    name: Arc<NameCell>,
    sockets: Vec<Socket>,
}

struct Socket {
    id: u64,
    /// The session whose token opened it (`None`: not opened by a token).
    session: Option<SessionId>,
    /// Where its session hears that it must end.
    outbox: Arc<Outbox>,
}

/// A registered socket; dropping it unregisters.
pub struct Registration {
    connections: Arc<Connections>,
    player: PlayerId,
    id: u64,
    /// The socket's outgoing queue, which also carries why it must end ([`Stop`]).
    pub outbox: Arc<Outbox>,
    /// The player's current name, shared by its sockets on this handler.
    pub name: Arc<NameCell>,
}

/// A player's name, changed by a rename and read by its sockets: a version read lock-free on
/// the location path, the name copied only when the version moved.
pub struct NameCell {
    version: AtomicU64,
    name: Mutex<String>,
}

impl NameCell {
    fn new(name: &str) -> NameCell {
        NameCell { version: AtomicU64::new(0), name: Mutex::new(name.to_owned()) }
    }

    /// Sets the name; answers the one it replaces.
    pub fn set(&self, name: &str) -> String {
        let mut current = self.name.lock().unwrap();
        if *current == name {
            return current.clone();
        }
        // Bumped under the lock: a reader that sees the new version reads the new name.
        self.version.fetch_add(1, Ordering::Release);
        std::mem::replace(&mut *current, name.to_owned())
    }

    /// The name, if it changed since the version `seen` (which it then advances).
    pub fn changed(&self, seen: &mut u64) -> Option<String> {
        if self.version.load(Ordering::Acquire) == *seen {
            return None;
        }
        let current = self.name.lock().unwrap();
        *seen = self.version.load(Ordering::Acquire);
        Some(current.clone())
    }

    /// The version a socket starts from: changes before it are already in its name.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl Connections {
    /// Registers a socket of `player` (opened by `player.session`) with its outgoing queue,
    /// unless the player already has `cap` of them. The first socket of a player brings its
    /// name; later ones share it.
    pub fn register(
        self: &Arc<Self>,
        player: &Player,
        cap: usize,
        outbox: Arc<Outbox>,
    ) -> Option<Registration> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut players = self.players.lock().unwrap();
        let entry = players.entry(player.id.clone()).or_insert_with(|| PlayerSockets {
            name: Arc::new(NameCell::new(&player.name)),
            sockets: Vec::new(),
        });
        if entry.sockets.len() >= cap {
            if entry.sockets.is_empty() {
                players.remove(&player.id);
            }
            return None;
        }
        // Checked under the lock `stop_all` takes: a socket registered after it stops at once.
        if self.closing.load(Ordering::Acquire) {
            outbox.stop(Stop::Shutdown);
        }
        let socket = Socket { id, session: player.session.clone(), outbox: outbox.clone() };
        let registration = Registration {
            connections: self.clone(),
            player: player.id.clone(),
            id,
            outbox,
            name: entry.name.clone(),
        };
        entry.sockets.push(socket);
        crate::metrics::websockets_changed(1.0);
        Some(registration)
    }

    /// Ends every socket of the player (deleted).
    pub fn end_all(&self, player: &PlayerId) {
        if let Some(entry) = self.players.lock().unwrap().get(player) {
            entry.sockets.iter().for_each(|socket| socket.outbox.stop(Stop::Deleted));
        }
    }

    /// Ends every socket, and any registered from now on (the server is shutting down).
    pub fn stop_all(&self) {
        let players = self.players.lock().unwrap();
        self.closing.store(true, Ordering::Release);
        for socket in players.values().flat_map(|entry| &entry.sockets) {
            socket.outbox.stop(Stop::Shutdown);
        }
    }

    /// Ends the sockets that `session` of the player opened (revoked).
    pub fn end_session(&self, player: &PlayerId, session: &SessionId) {
        if let Some(entry) = self.players.lock().unwrap().get(player) {
            let opened_by = |socket: &&Socket| socket.session.as_ref() == Some(session);
            entry.sockets.iter().filter(opened_by).for_each(|socket| socket.outbox.stop(Stop::Revoked));
        }
    }

    /// Does what a notice from any handler (this one included) asks of this one's sockets.
    pub fn apply(&self, notice: &Notice) {
        match notice {
            Notice::SessionRevoked { player, session } => self.end_session(player, session),
            Notice::PlayerDeleted { player } => self.end_all(player),
            Notice::Renamed { player, name } => {
                if let Some(cell) = self.name(player) {
                    cell.set(name);
                }
            }
        }
    }

    /// The player's name cell, if it has sockets here.
    pub fn name(&self, player: &PlayerId) -> Option<Arc<NameCell>> {
        self.players.lock().unwrap().get(player).map(|entry| entry.name.clone())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        crate::metrics::websockets_changed(-1.0);
        let mut players = self.connections.players.lock().unwrap();
        if let Some(entry) = players.get_mut(&self.player) {
            entry.sockets.retain(|socket| socket.id != self.id);
            if entry.sockets.is_empty() {
                players.remove(&self.player);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> Arc<Outbox> {
        Outbox::new(1024)
    }

    fn player(id: &str, name: &str, session: Option<&str>) -> Player {
        Player {
            id: PlayerId::parse(id).unwrap(),
            name: name.into(),
            session: session.map(|s| SessionId::parse(s).unwrap()),
        }
    }

    #[test]
    fn revoking_a_session_ends_its_sockets_and_no_other() {
        let connections = Arc::new(Connections::default());
        let laptop = player("ppppppppppppppp1", "Ron", Some("ssssssssssssss01"));
        let phone = player("ppppppppppppppp1", "Ron", Some("ssssssssssssss02"));
        let other = player("ppppppppppppppp2", "Ginny", Some("ssssssssssssss01"));
        let (a, b) = (
            connections.register(&laptop, 16, outbox()).unwrap(),
            connections.register(&laptop, 16, outbox()).unwrap(),
        );
        let c = connections.register(&phone, 16, outbox()).unwrap();
        let d = connections.register(&other, 16, outbox()).unwrap();
        let session = laptop.session.clone().unwrap();
        connections.apply(&Notice::SessionRevoked { player: laptop.id.clone(), session });
        let stopped = |all: [&Registration; 4]| all.map(|r| r.outbox.stopped());
        let revoked = Some(Stop::Revoked);
        assert_eq!(stopped([&a, &b, &c, &d]), [revoked, revoked, None, None], "the laptop session's two");
        connections.apply(&Notice::PlayerDeleted { player: laptop.id.clone() });
        assert_eq!(
            stopped([&a, &b, &c, &d]),
            [revoked, revoked, Some(Stop::Deleted), None],
            "every socket of the player, no one else's; the first reason stays"
        );
    }

    #[test]
    fn shutting_down_stops_every_socket_and_any_registered_after() {
        let connections = Arc::new(Connections::default());
        let a = connections.register(&player("ppppppppppppppp1", "Ron", None), 16, outbox()).unwrap();
        let b = connections.register(&player("ppppppppppppppp2", "Ginny", None), 16, outbox()).unwrap();
        assert_eq!([&a, &b].map(|r| r.outbox.stopped()), [None, None]);
        connections.stop_all();
        assert_eq!([&a, &b].map(|r| r.outbox.stopped()), [Some(Stop::Shutdown); 2]);
        let late = connections.register(&player("ppppppppppppppp3", "Luna", None), 16, outbox()).unwrap();
        assert_eq!(late.outbox.stopped(), Some(Stop::Shutdown));
    }

    #[test]
    fn the_cap_counts_a_players_sockets_and_frees_on_drop() {
        let connections = Arc::new(Connections::default());
        let ron = player("ppppppppppppppp1", "Ron", None);
        let first = connections.register(&ron, 2, outbox()).unwrap();
        let _second = connections.register(&ron, 2, outbox()).unwrap();
        assert!(connections.register(&ron, 2, outbox()).is_none());
        assert!(connections.register(&player("ppppppppppppppp2", "G", None), 2, outbox()).is_some());
        drop(first);
        assert!(connections.register(&ron, 2, outbox()).is_some());
        assert!(connections.register(&player("ppppppppppppppp3", "H", None), 0, outbox()).is_none());
        assert!(connections.name(&PlayerId::parse("ppppppppppppppp3").unwrap()).is_none(), "no entry left");
    }

    #[test]
    fn a_players_sockets_share_one_name_until_the_last_goes() {
        let connections = Arc::new(Connections::default());
        let ron = player("ppppppppppppppp1", "Ron", None);
        let a = connections.register(&ron, 16, outbox()).unwrap();
        let b = connections.register(&player("ppppppppppppppp1", "stale", None), 16, outbox()).unwrap();
        let (mut seen_a, mut seen_b) = (a.name.version(), b.name.version());
        assert_eq!(a.name.changed(&mut seen_a), None);
        assert_eq!(connections.name(&ron.id).unwrap().set("Ronald"), "Ron", "the first socket's name");
        assert_eq!(a.name.changed(&mut seen_a).as_deref(), Some("Ronald"));
        assert_eq!(b.name.changed(&mut seen_b).as_deref(), Some("Ronald"));
        assert_eq!(a.name.changed(&mut seen_a), None, "seen once");
        connections.apply(&Notice::Renamed { player: ron.id.clone(), name: "Won-Won".into() });
        assert_eq!(b.name.changed(&mut seen_b).as_deref(), Some("Won-Won"), "a notice from any handler");
        drop((a, b));
        let c = connections.register(&player("ppppppppppppppp1", "Ronnie", None), 16, outbox()).unwrap();
        assert_eq!(c.name.set("x"), "Ronnie", "a new first socket brings its own name");
    }
}
