//! Probe 1 of issue #10 replayed on the binary: one player in many public maps, posting, so
//! that every post gives every map an event. The embedded feed must hold what it keeps in
//! memory under its settings' bound, however many maps and events there are.
//!
//! The test runs a small scale with a tight budget. `BENCHMARKS.md` runs the same replay at
//! full scale with `MARAUDER_PROBE_MAPS`, `MARAUDER_PROBE_POSTS`, `MARAUDER_PROBE_EXE` and
//! `MARAUDER_PROBE_ARGS` (the serve flags, whitespace-separated, instead of the test's).

use std::ffi::OsString;
use std::path::PathBuf;

use futures_util::StreamExt;
use marauder::process::ServerProcess;
use marauder_client::Client;

use crate::helpers::loc_at;

/// What the test allows the feed to hold in memory: 20,000 events (a few MB).
const TEST_ARGS: &str = "--feed-max-events 20000";
const TEST_BUDGET_EVENTS: u64 = 20_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn one_player_posting_to_many_maps_keeps_memory_within_the_feed_budget() {
    let maps: usize = env_or("MARAUDER_PROBE_MAPS", 2000);
    let posts: usize = env_or("MARAUDER_PROBE_POSTS", 400);
    let exe = std::env::var_os("MARAUDER_PROBE_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_marauder")));
    let custom = std::env::var("MARAUDER_PROBE_ARGS").ok();
    let args: Vec<OsString> =
        custom.as_deref().unwrap_or(TEST_ARGS).split_whitespace().map(OsString::from).collect();
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&exe, dir.path(), &args).unwrap();
    let anon = Client::new(&server.url);
    let player = anon.create_player("Peeves").await.unwrap();
    let peeves = anon.with_token(&player.token);
    let created = futures_util::stream::iter(0..maps)
        .map(|i| {
            let peeves = peeves.clone();
            async move { peeves.create_map(&format!("Corridor {i}"), None).await.map(|m| m.id) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let first = created.into_iter().collect::<Result<Vec<_>, _>>().unwrap().swap_remove(0);
    assert_eq!(peeves.me().await.unwrap().maps.len(), maps);

    // The baseline is taken after one post has loaded every map's state once.
    peeves.post_location(&loc_at(0.0, 0.0, 1)).await.unwrap();
    let baseline = server.usage().unwrap().rss_bytes;
    let (mut peak, mut halfway) = (baseline, baseline);
    for ts in 2..=posts as i64 {
        peeves.post_location(&loc_at(ts as f64 / 1000.0, 0.0, ts)).await.unwrap();
        let rss = server.usage().unwrap().rss_bytes;
        peak = peak.max(rss);
        if ts as usize == posts / 2 {
            halfway = rss;
        }
        if (ts as usize).is_multiple_of(50) {
            eprintln!("after {ts} posts to {maps} maps: RSS {} MiB", rss / MIB);
        }
    }
    // Every map got every post, in order, after the evictions.
    assert_eq!(peeves.locations(&first).await.unwrap().seq, posts as u64, "one event a post");
    let usage = server.usage().unwrap();
    eprintln!(
        "{maps} maps, {posts} posts: RSS {} MiB after the first post, peak {} MiB, at the end {} MiB; {:.1} CPU s",
        baseline / MIB,
        peak / MIB,
        usage.rss_bytes / MIB,
        usage.cpu_seconds
    );
    if custom.is_none() {
        // Bounded: at most twice the budget's events (~250 bytes each, 512 allowed), and
        // redb's page cache (64 MiB), which the events written out fill; 32 MiB for the
        // rest (the maps' states, the allocator's slack).
        let bound = 2 * TEST_BUDGET_EVENTS * 512 + 64 * MIB + 32 * MIB;
        assert!(
            peak - baseline < bound,
            "RSS grew by {} MiB over {posts} posts, more than the bound of {} MiB",
            (peak - baseline) / MIB,
            bound / MIB
        );
        // And it levels: kept without a bound, the second half of the posts alone would
        // add maps × posts / 2 events (100 MB at the default scale).
        let levelled = 24 * MIB;
        let unbounded = (maps * posts / 2) as u64 * 250;
        assert!(unbounded > 3 * levelled, "the scale is too small to tell: {unbounded} bytes");
        assert!(
            usage.rss_bytes.saturating_sub(halfway) < levelled,
            "RSS grew by {} MiB over the second half of the posts",
            usage.rss_bytes.saturating_sub(halfway) / MIB
        );
    }
    assert!(server.stop().unwrap().success());
}
