//! Before the run: the server (started here or given), the players, the maps and the
//! memberships, created with bounded concurrency.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use marauder_client::Client;
use marauder_client::protocol::PlayerCreated;

use super::BenchArgs;
use crate::process::{ServerProcess, Usage};

pub struct World {
    pub server: Option<ServerProcess>,
    _data: Option<tempfile::TempDir>,
    pub url: String,
    pub client: Client,
    pub players: Vec<PlayerCreated>,
    /// Map ids; client `i` is in map `i % k`.
    pub maps: Vec<String>,
    /// Player id → client index.
    pub index: Arc<FxHashMap<String, u32>>,
}

impl World {
    pub async fn prepare(args: &BenchArgs) -> anyhow::Result<World> {
        let (server, data, url) = match &args.url {
            Some(url) => (None, None, url.clone()),
            None => {
                let data = tempfile::tempdir()?;
                let exe = std::env::current_exe()?;
                let extra: Vec<_> =
                    args.serve_args.iter().filter(|a| !a.is_empty()).map(Into::into).collect();
                let server = ServerProcess::start(&exe, &data.path().join("data"), &extra)?;
                let url = server.url.clone();
                (Some(server), Some(data), url)
            }
        };
        let client = Client::new(&url);
        let n = args.clients;
        let players: Vec<PlayerCreated> = futures_util::stream::iter(0..n)
            .map(|i| {
                let client = client.clone();
                async move { client.create_player(&format!("Player {i}")).await }
            })
            .buffered(args.setup_concurrency)
            .try_collect()
            .await
            .context("creating players")?;
        let mut maps = Vec::with_capacity(args.maps);
        for (g, owner) in players.iter().take(args.maps).enumerate() {
            let map = client.with_token(&owner.token).create_map(&format!("Bench map {g}"), None).await?;
            maps.push(map.id);
        }
        futures_util::stream::iter(players.iter().enumerate().skip(args.maps))
            .map(|(i, player)| {
                let client = client.with_token(&player.token);
                let map = maps[i % args.maps].clone();
                async move { client.join(&map, None).await }
            })
            .buffer_unordered(args.setup_concurrency)
            .try_collect::<Vec<_>>()
            .await
            .context("joining maps")?;
        let index = players.iter().enumerate().map(|(i, p)| (p.id.clone(), i as u32)).collect();
        Ok(World { server, _data: data, url, client, players, maps, index: Arc::new(index) })
    }

    pub fn server_usage(&self) -> Option<Usage> {
        self.server.as_ref().and_then(|s| s.usage().ok())
    }

    /// Stops the server the bench started.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            tokio::task::spawn_blocking(move || server.stop()).await??;
        }
        Ok(())
    }
}
