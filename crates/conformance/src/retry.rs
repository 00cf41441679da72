//! A retried write: a location publish sent twice (its reply lost the first time) takes one
//! seq and reaches every sink once, whichever handler the retry goes through. Backends whose
//! feed answers in-process have no such retry; the case is skipped for them, and says so.

use marauder_core::protocol::EventBody;

use crate::Backend;
use crate::fixtures::{body, events, joined, location, membership, owned_map, player, skipped, snapshot};

/// Keys as a backend makes them, one per write.
const FIRST: &str = "00000000c0ffee01";
const SECOND: &str = "00000000c0ffee02";

pub async fn a_retried_publish_takes_one_seq_on_every_handler(backend: &impl Backend) {
    let mut first = backend.handler().await;
    let Some(mut second) = backend.second_handler().await else {
        return skipped("a retried publish");
    };
    let (Some(retry), Some(second_retry)) = (first.retry.clone(), second.retry.clone()) else {
        return eprintln!("skipped: a retried publish, as this backend's replies cannot be lost");
    };
    let (owner, id, _listening) = owned_map(&first).await;
    let _second_listening = second.feed.listen(&id).await.unwrap();
    let (once, next) = (location(&owner, 10), location(&owner, 20));

    assert_eq!(retry.publish_as(&id, once.clone(), FIRST).await.unwrap(), Some(1));
    let again = retry.publish_as(&id, once.clone(), FIRST).await.unwrap();
    assert_eq!(again, Some(1), "the retry answers the seq the write got");
    let elsewhere = second_retry.publish_as(&id, once.clone(), FIRST).await.unwrap();
    assert_eq!(elsewhere, Some(1), "so does a retry through the other handler");
    assert_eq!(snapshot(&*second.feed, &id).await.0, 1, "no seq taken by a retry");
    assert_eq!(retry.publish_as(&id, next.clone(), SECOND).await.unwrap(), Some(2), "a new write");

    // Another player's write is its own, whatever its key.
    let ginny = player(&*first.store, "Ginny").await;
    assert_eq!(membership(&first, &id, joined(&ginny, None)).await, Some(3));
    let hers = location(&ginny, 30);
    assert_eq!(second_retry.publish_as(&id, hers.clone(), SECOND).await.unwrap(), Some(4));

    let expected: Vec<(u64, EventBody)> =
        vec![(1, body(&once)), (2, body(&next)), (3, body(&joined(&ginny, None))), (4, body(&hers))];
    assert_eq!(second.heard.events(&id, 4).await, expected, "each once on the other handler");
    assert_eq!(first.heard.events(&id, 4).await, expected, "each once on the first");
    assert_eq!(events(first.feed.replay(&id, 0).await.unwrap()), expected, "each once in the buffer");
}
