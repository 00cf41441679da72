//! The embedded backend passes the Store and Feed conformance suite, on a database in a
//! directory of its own per case. One handler per database: the cases across handlers are
//! skipped, and say so.

use marauder_conformance::{Backend, Handler};
use marauder_embedded::{Options, open};

/// Events kept per map for replay: few, so that the suite goes past them quickly.
const RECENT_EVENTS: usize = 16;

struct Embedded(std::sync::Mutex<Option<tempfile::TempDir>>);

impl Backend for Embedded {
    async fn handler(&self) -> Handler {
        let dir = self.0.lock().unwrap().take().expect("one handler per database");
        let (sink, heard) = marauder_conformance::sink();
        let options = Options { recent_events: RECENT_EVENTS, ..Options::default() };
        let embedded = open(dir.path(), options, sink).expect("opens the database");
        Handler { store: embedded.store, feed: embedded.feed, heard, retry: None, keep: Some(Box::new(dir)) }
    }

    async fn second_handler(&self) -> Option<Handler> {
        None // The database is the process's own.
    }

    fn recent_events(&self) -> usize {
        RECENT_EVENTS
    }
}

fn embedded() -> Embedded {
    Embedded(std::sync::Mutex::new(Some(tempfile::tempdir().unwrap())))
}

marauder_conformance::suite!(embedded());
