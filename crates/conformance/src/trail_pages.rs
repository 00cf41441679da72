//! Paged trail reads ([`Store::trail_page`]): a range's bounds (`since` strict, `until`
//! inclusive), and reading on from a page's cursor with pages smaller than a run of points
//! sharing one `ts`, over committed and uncommitted points alike: nothing skipped, nothing
//! repeated, in the order the points came.

use marauder_core::protocol::Fix;
use marauder_core::{PlayerId, Store, TrailRange};

use crate::Backend;
use crate::fixtures::player;

/// Every point of `range`, read `limit` at a time, as the `lat` that numbers it.
async fn read_on(store: &dyn Store, player: &PlayerId, range: TrailRange, limit: usize) -> Vec<f64> {
    let (mut read, mut after) = (Vec::new(), None);
    loop {
        let page = store.trail_page(player, range, after, limit).await.unwrap();
        assert!(page.points.len() <= limit);
        assert_eq!(page.last.is_none(), page.points.is_empty(), "a cursor exactly when a point was read");
        assert_eq!(
            page.last.map(|c| c.ts),
            page.points.last().map(|f| f.ts),
            "the cursor is the last point's"
        );
        read.extend(page.points.iter().map(|f| f.lat));
        assert!(read.len() <= 12, "points read twice: {read:?}");
        if page.points.len() < limit {
            return read;
        }
        after = page.last;
    }
}

pub async fn trail_pages_resume_after_their_cursor_through_runs_of_equal_ts(backend: &impl Backend) {
    let handler = backend.handler().await;
    let store = &*handler.store;
    let ginny = player(store, "Ginny").await;
    let ts = [10, 10, 10, 10, 10, 20, 30, 30, 30, 30, 30, 30];
    for (i, ts) in ts.into_iter().enumerate() {
        let fix =
            Fix { lat: i as f64, lon: 0.0, accuracy: None, altitude: None, speed: None, heading: None, ts };
        store.append_trail(&ginny.id, &fix).await.unwrap();
        if i == 7 {
            // The first eight committed (where a backend buffers points), the rest maybe not.
            store.flush().await.unwrap();
        }
    }
    let range = |since, until| TrailRange { since, until };
    let numbers = |from: usize, to: usize| (from..to).map(|i| i as f64).collect::<Vec<_>>();
    for limit in [1, 2, 3, 5, 12, 100] {
        let read = |r| read_on(store, &ginny.id, r, limit);
        assert_eq!(read(range(None, None)).await, numbers(0, 12), "limit {limit}");
        assert_eq!(read(range(Some(10), None)).await, numbers(5, 12), "limit {limit}");
        assert_eq!(read(range(Some(9), Some(10))).await, numbers(0, 5), "limit {limit}");
        assert_eq!(read(range(None, Some(20))).await, numbers(0, 6), "limit {limit}");
        assert_eq!(read(range(Some(10), Some(30))).await, numbers(5, 12), "limit {limit}");
        assert_eq!(read(range(Some(20), Some(29))).await, numbers(0, 0), "limit {limit}");
        assert_eq!(read(range(Some(30), Some(10))).await, numbers(0, 0), "limit {limit}");
        assert_eq!(read(range(Some(10), Some(10))).await, numbers(0, 0), "limit {limit}");
    }
    // The plain read is the first page of the paged one.
    assert_eq!(
        store.trail(&ginny.id, Some(10), 3).await.unwrap().iter().map(|f| f.lat).collect::<Vec<_>>(),
        numbers(5, 8)
    );
}
