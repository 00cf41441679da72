//! Retention by age ([`Store::erase_trails_before`]): a point older than the cutoff is erased,
//! one at the cutoff or newer stays, each step keeps to its budget, the walk ends, and a
//! deleted player's leftovers do not stop it. Where the backend has several handlers, they
//! take turns at the steps of one walk.

use marauder_core::protocol::Fix;
use marauder_core::{PlayerRecord, Store};

use crate::Backend;
use crate::fixtures::{at, player};

/// The cutoff the core would compute from `now - max_age`; the points sit around it.
const CUTOFF: i64 = 1_000_000_000;

fn point(player: &PlayerRecord, ts: i64) -> Fix {
    Fix { ts, ..at(player, &player.name, ts).fix }
}

fn timestamps(points: Vec<Fix>) -> Vec<i64> {
    points.into_iter().map(|fix| fix.ts).collect()
}

/// Runs whole rounds of steps (taking turns among `stores`) until a round erases nothing;
/// answers the points erased. Every step with a budget of 1 erases at most one point.
async fn sweep(stores: &[&dyn Store]) -> u64 {
    let (mut total, mut steps) = (0, 0);
    loop {
        let mut round = 0;
        loop {
            let step = stores[steps % stores.len()].erase_trails_before(CUTOFF, 1).await.unwrap();
            assert!(step.points <= 1, "a step keeps to its budget: {step:?}");
            (round, steps) = (round + step.points, steps + 1);
            assert!(steps < 200, "the walk ends");
            if step.round_done {
                break;
            }
        }
        total += round;
        if round == 0 {
            return total;
        }
    }
}

pub async fn points_older_than_the_cutoff_are_erased_and_newer_ones_stay(backend: &impl Backend) {
    let first = backend.handler().await;
    let second = backend.second_handler().await;
    let mut stores: Vec<&dyn Store> = vec![&*first.store];
    stores.extend(second.as_ref().map(|h| &*h.store));
    let store = &*first.store;
    let (luna, ginny, neville) =
        (player(store, "Luna").await, player(store, "Ginny").await, player(store, "Neville").await);
    let luna_points =
        [CUTOFF - 3000, CUTOFF - 2000, CUTOFF - 1, CUTOFF, CUTOFF + 5000].map(|ts| point(&luna, ts));
    store.append_trails_and_map_ids(&luna.id, &luna_points).await.unwrap();
    store.append_trail(&ginny.id, &point(&ginny, CUTOFF - 10)).await.unwrap();
    store.append_trail(&ginny.id, &point(&ginny, CUTOFF + 1)).await.unwrap();
    store.append_trail(&neville.id, &point(&neville, CUTOFF + 7)).await.unwrap();
    // Erasure works on what is stored: whatever waits to be written is written now.
    store.flush().await.unwrap();

    assert_eq!(sweep(&stores).await, 4, "Luna's three points before the cutoff and Ginny's one");
    for store in &stores {
        assert_eq!(timestamps(store.trail(&luna.id, None, 10).await.unwrap()), vec![CUTOFF, CUTOFF + 5000]);
        assert_eq!(timestamps(store.trail(&ginny.id, None, 10).await.unwrap()), vec![CUTOFF + 1]);
        assert_eq!(timestamps(store.trail(&neville.id, None, 10).await.unwrap()), vec![CUTOFF + 7]);
        assert_eq!(store.latest(&luna.id).await.unwrap(), Some(point(&luna, CUTOFF + 5000)));
    }

    // A later point of an erased trail goes on as before; a deleted player is skipped.
    store.append_trail(&ginny.id, &point(&ginny, CUTOFF - 5)).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.delete_player(&luna.id).await.unwrap(), vec![]);
    assert_eq!(sweep(&stores).await, 1, "the late old point of Ginny");
    assert_eq!(timestamps(store.trail(&ginny.id, None, 10).await.unwrap()), vec![CUTOFF + 1]);
    assert_eq!(store.trail(&luna.id, None, 10).await.unwrap(), vec![], "deleting a player erased all");

    // With a larger budget the walk is one step here (three players), and finds nothing.
    let step = store.erase_trails_before(CUTOFF, 1000).await.unwrap();
    assert_eq!((step.points, step.round_done), (0, true));
}
