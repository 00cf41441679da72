//! The [`Store`] and [`Feed`] contract as one suite of cases that every backend runs: what
//! `crates/core/src/feed.rs` and `store.rs` promise (gap-free seqs, each change executed as
//! the core decided it, snapshot and replay, a deleted map's last event, notices, membership
//! changes published with their event in one step, places with their arrivals and
//! departures, trail points erased by age), and, for a backend whose state several
//! handlers share, the same promises across handlers racing each other.
//!
//! A backend implements [`Backend`] in its tests and calls [`suite!`] once per deployment;
//! the suite knows no backend, and names none.

mod cross;
mod feed;
mod fixtures;
mod heard;
mod membership;
mod places;
mod replay;
mod retention;
mod retry;
mod store;
mod trail_pages;

use std::pin::Pin;
use std::sync::Arc;

use marauder_core::{Change, Feed, MapId, Store, StoreError};

pub use heard::{Delivery, Heard, PATIENCE, sink};

/// Re-exported for [`suite!`], so that a backend's tests need no path of their own.
#[doc(hidden)]
pub mod cases {
    pub use crate::cross::*;
    pub use crate::feed::*;
    pub use crate::membership::*;
    pub use crate::places::*;
    pub use crate::replay::*;
    pub use crate::retention::*;
    pub use crate::retry::*;
    pub use crate::store::*;
    pub use crate::trail_pages::*;
}

/// One handler of a backend under test: its store and feed, and what its sink was handed.
pub struct Handler {
    pub store: Arc<dyn Store>,
    pub feed: Arc<dyn Feed>,
    /// What the handler's [`marauder_core::EventSink`] got (make it with [`sink`]).
    pub heard: Heard,
    /// The backend's own retry of a write, if its writes cross a network whose replies can
    /// be lost (`None`: a feed in the process, whose answer cannot be).
    pub retry: Option<Arc<dyn Retry>>,
    /// Whatever must outlive the handler (an embedded database's directory).
    pub keep: Option<Box<dyn Send>>,
}

/// A write sent again as the backend's client sends it after a reply lost to a timeout.
pub trait Retry: Send + Sync {
    /// [`Feed::publish`] of `change` as the write `key`: a second call with the same key (on
    /// any handler) is the retry of the first.
    fn publish_as<'a>(
        &'a self,
        map: &'a MapId,
        change: Change,
        key: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<u64>, StoreError>> + Send + 'a>>;
}

/// A backend on a fresh state of its own: each case makes one and starts its handlers on it.
pub trait Backend {
    /// A handler on the backend's state. Each case asks for it once.
    fn handler(&self) -> impl Future<Output = Handler>;

    /// Another handler on the same state, as a second server process would run it, for the
    /// cases across handlers; `None` for a backend with one handler per state, for which
    /// those cases are skipped (and say so).
    fn second_handler(&self) -> impl Future<Output = Option<Handler>>;

    /// The events per map the backend keeps for replay (it was configured with this); the
    /// suite publishes more to go past them. Small keeps the suite quick.
    fn recent_events(&self) -> usize;
}

/// Declares one `#[tokio::test]` per case of the suite, each on a backend that `$backend`
/// (an expression, evaluated once per test) makes. Call it inside a module of its own per
/// deployment.
#[macro_export]
macro_rules! suite {
    ($backend:expr) => {
        $crate::suite!(@cases $backend;
            seqs_are_gap_free_per_map_and_each_publish_answers_its_own,
            a_run_of_locations_takes_consecutive_seqs_and_keeps_the_newest,
            every_kind_of_change_reaches_the_sink_in_seq_order_with_its_exact_body,
            a_change_that_requires_a_member_publishes_nothing_for_anyone_else,
            the_latest_location_is_the_newest_point_of_each_member,
            a_deleted_map_publishes_its_last_event_and_nothing_after,
            a_notice_reaches_the_sink,
            replay_gives_exactly_the_events_after_since,
            replay_from_too_far_back_or_ahead_is_a_reset_with_the_snapshot,
            a_map_nobody_published_to_is_empty_at_seq_zero,
            the_store_answers_the_memberships_the_feed_relies_on,
            a_deleted_players_late_location_leaves_no_trail_and_reaches_no_map,
            trail_pages_resume_after_their_cursor_through_runs_of_equal_ts,
            a_join_makes_a_member_and_publishes_joined_once,
            a_leave_ends_the_membership_and_publishes_left_once,
            a_map_without_a_record_takes_no_membership_change,
            a_join_racing_a_leave_on_two_handlers_leaves_members_and_events_agreeing,
            a_location_published_on_one_handler_reaches_the_other_in_order,
            concurrent_publishes_on_two_handlers_make_one_gap_free_sequence,
            a_notice_announced_on_one_handler_reaches_every_handler,
            a_retried_publish_takes_one_seq_on_every_handler,
            a_place_is_added_and_removed_with_its_event_at_most_max_a_map,
            a_crossing_follows_the_location_that_made_it,
            a_first_position_after_a_join_or_a_new_place_and_late_or_vague_points_change_nothing,
            a_run_of_locations_and_a_removed_place_cross_as_the_rule_says,
            alternating_handlers_announce_each_crossing_of_a_member_once,
            points_older_than_the_cutoff_are_erased_and_newer_ones_stay,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::cases::$case(&$backend).await
            }
        )*
    };
}
