//! Reading trails (contract "Locations" and "Trails as files"): a member's trail on a map, a
//! page at a time, and one's own whole trail, page after page, for an export. Formats are
//! the HTTP layer's; this answers points.

use marauder_protocol::Trail;

use super::{Marauder, Player};
use crate::domain::{PlayerId, now_millis};
use crate::error::CoreError;
use crate::store::{TrailCursor, TrailPage, TrailRange};

impl Marauder {
    /// A member's points of `range` on a map the caller is a member of, oldest first, at
    /// most `limit` (default and maximum: the trail page).
    pub async fn trail(
        &self,
        player: &Player,
        map: &str,
        of: &str,
        range: TrailRange,
        limit: Option<usize>,
    ) -> Result<Trail, CoreError> {
        let record = self.member_map(player, map).await?;
        let not_member = || CoreError::NotFound(format!("no member {of} in map {map}"));
        let of = PlayerId::parse(of).ok_or_else(not_member)?;
        if !self.store.is_member(&record.id, &of).await? {
            return Err(not_member());
        }
        let limit = match limit {
            None => self.limits.trail_page,
            Some(n) if (1..=self.limits.trail_page).contains(&n) => n,
            Some(_) => {
                let max = self.limits.trail_page;
                return Err(CoreError::bad_request("limit", format!("must be in [1, {max}]")));
            }
        };
        let page = self.store.trail_page(&of, self.unexpired(range), None, limit).await?;
        Ok(Trail { player: of.into_string(), points: page.points })
    }

    /// The caller's own points of `range` after `after` (from the start without it), a
    /// trail page at most: an export reads on from the page's `last` until a page is
    /// shorter than [`Marauder::own_trail_page_size`].
    pub async fn own_trail_page(
        &self,
        player: &PlayerId,
        range: TrailRange,
        after: Option<TrailCursor>,
    ) -> Result<TrailPage, CoreError> {
        let range = self.unexpired(range);
        Ok(self.store.trail_page(player, range, after, self.own_trail_page_size()).await?)
    }

    /// How many points [`Marauder::own_trail_page`] answers at most.
    pub fn own_trail_page_size(&self) -> usize {
        self.limits.trail_page
    }

    /// Expired points are not answered even before the sweeper has erased them.
    fn unexpired(&self, range: TrailRange) -> TrailRange {
        TrailRange { since: self.limits.trail_max_age.since(range.since, now_millis()), ..range }
    }
}
