//! The Redis backend passes the Store and Feed conformance suite, on one Redis and on the
//! three-master cluster, with two handlers on one key prefix for the cases across handlers.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use marauder_conformance::{Backend, Handler};
use marauder_core::{Change, MapId, StoreError};
use marauder_redis::{Options, RedisFeed};

use crate::servers::{Deployment, urls};

/// Events kept per map for replay: few, so that the suite goes past them quickly.
const RECENT_EVENTS: usize = 16;

/// A key prefix of its own on a deployment's servers: a state no other test sees.
struct Redis {
    deployment: Deployment,
    prefix: String,
}

fn redis(deployment: Deployment) -> Redis {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = format!("c{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    Redis { deployment, prefix }
}

impl Backend for Redis {
    async fn handler(&self) -> Handler {
        let options = Options {
            urls: urls(self.deployment),
            cluster: self.deployment == Deployment::Cluster,
            prefix: self.prefix.clone(),
            trail_retention: 100,
            recent_events: RECENT_EVENTS,
        };
        let (sink, heard) = marauder_conformance::sink();
        let redis = marauder_redis::connect(&options, sink).await.expect("connects");
        let retry = Arc::new(Retry(redis.feed.clone()));
        Handler { store: redis.store, feed: redis.feed, heard, retry: Some(retry), keep: None }
    }

    async fn second_handler(&self) -> Option<Handler> {
        Some(self.handler().await)
    }

    fn recent_events(&self) -> usize {
        RECENT_EVENTS
    }
}

/// A write sent again with its key, as redis-rs resends a script after a timeout.
struct Retry(Arc<RedisFeed>);

impl marauder_conformance::Retry for Retry {
    fn publish_as<'a>(
        &'a self,
        map: &'a MapId,
        change: Change,
        key: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<u64>, StoreError>> + Send + 'a>> {
        Box::pin(self.0.publish_as(map, change, key))
    }
}

mod single {
    marauder_conformance::suite!(super::redis(crate::servers::Deployment::Single));
}

mod cluster {
    marauder_conformance::suite!(super::redis(crate::servers::Deployment::Cluster));
}
