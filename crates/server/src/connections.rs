//! The WebSocket sessions of each player on this handler: enforces the per-player cap, and
//! ends a player's sessions when the player is deleted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use marauder_core::PlayerId;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Connections {
    players: Mutex<HashMap<PlayerId, Vec<(u64, CancellationToken)>>>,
    next: std::sync::atomic::AtomicU64,
}

/// A registered session; dropping it unregisters. `ended` fires when the player is deleted.
pub struct Registration {
    connections: Arc<Connections>,
    player: PlayerId,
    id: u64,
    pub ended: CancellationToken,
}

impl Connections {
    /// Registers a session, unless the player already has `cap` of them.
    pub fn register(self: &Arc<Self>, player: &PlayerId, cap: usize) -> Option<Registration> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ended = CancellationToken::new();
        let mut players = self.players.lock().unwrap();
        let sessions = players.entry(player.clone()).or_default();
        if sessions.len() >= cap {
            return None;
        }
        sessions.push((id, ended.clone()));
        crate::metrics::websockets_changed(1.0);
        Some(Registration { connections: self.clone(), player: player.clone(), id, ended })
    }

    /// Ends every session of the player.
    pub fn end_all(&self, player: &PlayerId) {
        if let Some(sessions) = self.players.lock().unwrap().get(player) {
            sessions.iter().for_each(|(_, ended)| ended.cancel());
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        crate::metrics::websockets_changed(-1.0);
        let mut players = self.connections.players.lock().unwrap();
        if let Some(sessions) = players.get_mut(&self.player) {
            sessions.retain(|(id, _)| *id != self.id);
            if sessions.is_empty() {
                players.remove(&self.player);
            }
        }
    }
}
