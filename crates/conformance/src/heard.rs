//! What one handler's [`EventSink`] was handed, as the cases read it: the events of each map
//! in the order they arrived, and the notices. It owns the waiting: every read waits with a
//! generous patience and fails the case when nothing comes, never asserts a duration.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use marauder_core::protocol::{Event, EventBody};
use marauder_core::{EventSink, MapId, Notice};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How long a case waits for one thing a sink should get: far longer than any delivery takes
/// on a loaded machine, so that only a lost delivery fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One thing a sink was handed.
#[derive(Debug, Clone)]
pub enum Delivery {
    Event(MapId, Arc<Event>),
    Notice(Notice),
}

struct Sink(UnboundedSender<Delivery>);

impl EventSink for Sink {
    fn deliver(&self, map: &MapId, event: Arc<Event>) {
        let _ = self.0.send(Delivery::Event(map.clone(), event));
    }

    fn notice(&self, notice: &Notice) {
        let _ = self.0.send(Delivery::Notice(notice.clone()));
    }
}

/// A sink for a handler under test, and what it hears.
pub fn sink() -> (Arc<dyn EventSink>, Heard) {
    let (sender, received) = unbounded_channel();
    (Arc::new(Sink(sender)), Heard { received, aside: VecDeque::new() })
}

/// The deliveries of one sink. A read takes the first delivery it asks for and keeps the
/// others aside, in order, for later reads.
pub struct Heard {
    received: UnboundedReceiver<Delivery>,
    aside: VecDeque<Delivery>,
}

impl Heard {
    /// The next `count` events of `map`, as (seq, body).
    pub async fn events(&mut self, map: &MapId, count: usize) -> Vec<(u64, EventBody)> {
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            let wanted = |d: &Delivery| matches!(d, Delivery::Event(on, _) if on == map);
            let Delivery::Event(_, event) = self.next(wanted, &format!("an event of {map}")).await else {
                unreachable!("only events of the map are taken")
            };
            events.push((event.seq, event.body.clone()));
        }
        events
    }

    /// The seqs of the next `count` events of `map`.
    pub async fn seqs(&mut self, map: &MapId, count: usize) -> Vec<u64> {
        self.events(map, count).await.into_iter().map(|(seq, _)| seq).collect()
    }

    /// The next notice.
    pub async fn notice(&mut self) -> Notice {
        let Delivery::Notice(notice) = self.next(|d| matches!(d, Delivery::Notice(_)), "a notice").await
        else {
            unreachable!("only notices are taken")
        };
        notice
    }

    /// The unread events of `map` that have arrived by now, as (seq, kind). Only a backend
    /// that delivers before `publish` returns (or a case that waited for a later event of the
    /// same map) can rely on it being complete.
    pub fn unread_of(&mut self, map: &MapId) -> Vec<(u64, &'static str)> {
        while let Ok(delivery) = self.received.try_recv() {
            self.aside.push_back(delivery);
        }
        let mut found = Vec::new();
        self.aside.retain(|d| match d {
            Delivery::Event(on, event) if on == map => {
                found.push((event.seq, event.body.kind()));
                false
            }
            _ => true,
        });
        found
    }

    async fn next(&mut self, wanted: impl Fn(&Delivery) -> bool, what: &str) -> Delivery {
        if let Some(at) = self.aside.iter().position(&wanted) {
            return self.aside.remove(at).expect("the position is in range");
        }
        loop {
            let received = tokio::time::timeout(PATIENCE, self.received.recv()).await;
            let delivery = received
                .unwrap_or_else(|_| panic!("{what} within {PATIENCE:?}"))
                .expect("the sink lives as long as its handler");
            if wanted(&delivery) {
                return delivery;
            }
            self.aside.push_back(delivery);
        }
    }
}
