//! Before the run: the server (started here or given), the players, the maps and the
//! memberships, created with bounded concurrency.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use marauder_client::Client;
use marauder_client::protocol::PlayerCreated;

use super::BenchArgs;
use crate::process::{RedisProcess, ServerProcess, Usage};

pub struct World {
    /// The handlers the bench started (none with `--url`).
    pub servers: Vec<ServerProcess>,
    pub redis: Option<RedisProcess>,
    _data: Option<tempfile::TempDir>,
    /// One per handler; client `i` talks to `clients[i % len]`.
    pub clients: Vec<Client>,
    pub players: Vec<PlayerCreated>,
    /// Map ids; client `i` is in map `i % k`.
    pub maps: Vec<String>,
    /// Player id → client index.
    pub index: Arc<FxHashMap<String, u32>>,
}

impl World {
    pub async fn prepare(args: &BenchArgs) -> anyhow::Result<World> {
        let (mut servers, mut redis, mut data) = (Vec::new(), None, None);
        let urls = if args.url.is_empty() {
            let dir = tempfile::tempdir()?;
            let exe = std::env::current_exe()?;
            let mut extra: Vec<std::ffi::OsString> =
                args.serve_args.iter().filter(|a| !a.is_empty()).map(Into::into).collect();
            if args.redis_server {
                let started =
                    RedisProcess::start(&dir.path().join("redis"), &["--appendfsync", &args.redis_fsync])?;
                extra.extend(["--redis".into(), started.url().into()]);
                redis = Some(started);
            }
            for _ in 0..args.handlers.max(1) {
                servers.push(ServerProcess::start(&exe, &dir.path().join("data"), &extra)?);
            }
            data = Some(dir);
            servers.iter().map(|s| s.url.clone()).collect()
        } else {
            args.url.clone()
        };
        let clients: Vec<Client> = urls.iter().map(Client::new).collect();
        let client = |i: usize| &clients[i % clients.len()];
        let n = args.clients;
        let players: Vec<PlayerCreated> = futures_util::stream::iter(0..n)
            .map(|i| {
                let client = client(i).clone();
                async move { client.create_player(&format!("Player {i}")).await }
            })
            .buffered(args.setup_concurrency)
            .try_collect()
            .await
            .context("creating players")?;
        let mut maps = Vec::with_capacity(args.maps);
        for (g, owner) in players.iter().take(args.maps).enumerate() {
            let map = client(g).with_token(&owner.token).create_map(&format!("Bench map {g}"), None).await?;
            maps.push(map.id);
        }
        futures_util::stream::iter(players.iter().enumerate().skip(args.maps))
            .map(|(i, player)| {
                let client = client(i).with_token(&player.token);
                let map = maps[i % args.maps].clone();
                async move { client.join(&map, None).await }
            })
            .buffer_unordered(args.setup_concurrency)
            .try_collect::<Vec<_>>()
            .await
            .context("joining maps")?;
        let index = players.iter().enumerate().map(|(i, p)| (p.id.clone(), i as u32)).collect();
        Ok(World { servers, redis, _data: data, clients, players, maps, index: Arc::new(index) })
    }

    /// The client for player `i`, on its handler.
    pub fn client(&self, i: usize) -> Client {
        self.clients[i % self.clients.len()].with_token(&self.players[i].token)
    }

    /// What the processes the bench started (handlers and Redis) used, summed.
    pub fn server_usage(&self) -> Option<Usage> {
        let pids = self.servers.iter().map(|s| s.pid()).chain(self.redis.as_ref().and_then(|r| r.pid()));
        let usages = pids.map(|pid| crate::process::usage_of(pid).ok()).collect::<Option<Vec<_>>>()?;
        usages.into_iter().reduce(|a, b| Usage {
            cpu_seconds: a.cpu_seconds + b.cpu_seconds,
            peak_rss_bytes: a.peak_rss_bytes + b.peak_rss_bytes,
            rss_bytes: a.rss_bytes + b.rss_bytes,
        })
    }

    /// Stops the servers the bench started.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        for server in std::mem::take(&mut self.servers) {
            tokio::task::spawn_blocking(move || server.stop()).await??;
        }
        self.redis = None;
        Ok(())
    }
}
