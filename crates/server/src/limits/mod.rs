//! Per-client-address rate limits (the contract's "Limits and abuse"): failed guesses of a
//! secret (a token, an invite code, a device credential, a link code), and creations
//! (sign-ups, maps, link codes). Keyed GCRA buckets from `governor`, one limiter per kind.
//!
//! A guess is checked *before* its secret is, without spending anything, and only a wrong
//! one spends from the bucket: so an address that has failed too often is refused even the
//! right secret until the bucket refills, and a client using its own token all day never
//! is. That check-without-spending is `buckets::AddressStore`, a governor state store that
//! can answer a decision without writing it; it also charges a failure to a bucket already
//! empty (failures that passed the check together), so concurrency buys no extra guesses.
//!
//! Memory: each limiter holds at most [`MAX_ADDRESSES`] addresses (~64 bytes each). An
//! address not yet known when the limiter is full shares one overflow bucket with every other
//! such address (so under a spray of addresses, new clients are limited together: strict
//! rather than unbounded); a full limiter first drops the addresses whose buckets are full
//! again, at most once a second. IPv6 clients are keyed by their /64, which one host owns.
//!
//! It knows addresses and buckets, not what a secret is: handlers say what failed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use marauder_core::CoreError;

use self::buckets::AddressLimiter;
use crate::error::ApiError;
use crate::state::AppState;

mod buckets;

/// The defaults of [`RateLimits`], each written once: 10 wrong guesses, then one every 6 s
/// (600 an hour: nothing to brute-force 64-bit secrets with); 30 creations, then one every
/// 10 s (a family behind one router signs up and makes its maps in the burst; a script gets
/// 360 an hour instead of 750 a second).
pub const GUESS_BURST: u32 = 10;
pub const GUESS_REFILL_MS: u64 = 6_000;
pub const CREATE_BURST: u32 = 30;
pub const CREATE_REFILL_MS: u64 = 10_000;

/// Addresses one limiter remembers at most.
pub const MAX_ADDRESSES: usize = 100_000;

/// The settings (`marauder serve --help`).
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// `--limits off` turns every per-address limit off.
    pub enabled: bool,
    /// Peers whose `X-Forwarded-For` names the client (the load balancers).
    pub trust_proxy: Vec<IpAddr>,
    pub guess_burst: u32,
    pub guess_refill: Duration,
    pub create_burst: u32,
    pub create_refill: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            trust_proxy: Vec::new(),
            guess_burst: GUESS_BURST,
            guess_refill: Duration::from_millis(GUESS_REFILL_MS),
            create_burst: CREATE_BURST,
            create_refill: Duration::from_millis(CREATE_REFILL_MS),
        }
    }
}

/// What a creation limit applies to; each has its own buckets. (Redeeming a link code is a
/// guess, not a creation: `POST /api/v1/sessions` runs in [`Limits::guess`].)
#[derive(Debug, Clone, Copy)]
pub enum Creation {
    SignUp,
    Map,
    /// `POST /api/v1/players/me/link-codes`.
    LinkCode,
}

/// Every limiter of this handler.
pub struct Limits {
    enabled: bool,
    trust_proxy: Vec<IpAddr>,
    guesses: AddressLimiter,
    sign_ups: AddressLimiter,
    maps: AddressLimiter,
    link_codes: AddressLimiter,
}

impl Limits {
    pub fn new(settings: &RateLimits) -> Limits {
        let guesses = AddressLimiter::new(settings.guess_burst, settings.guess_refill);
        let create = || AddressLimiter::new(settings.create_burst, settings.create_refill);
        Limits {
            enabled: settings.enabled,
            trust_proxy: settings.trust_proxy.iter().map(|addr| addr.to_canonical()).collect(),
            guesses,
            sign_ups: create(),
            maps: create(),
            link_codes: create(),
        }
    }

    /// Tries a presented secret: refused at once (429) if the address has failed too often,
    /// else `attempt` runs, and a refusal of the secret (401, 403) counts against the address.
    pub async fn guess<T>(
        &self,
        client: ClientAddr,
        attempt: impl Future<Output = Result<T, CoreError>>,
    ) -> Result<T, CoreError> {
        if self.enabled {
            self.guesses.peek(client.0).map_err(|wait| refused("guess", "too many failed attempts", wait))?;
        }
        let result = attempt.await;
        if self.enabled && matches!(result, Err(CoreError::Unauthorized | CoreError::Forbidden(_))) {
            self.guesses.charge(client.0);
        }
        result
    }

    /// Counts one creation from the address, or refuses it (429).
    pub fn create(&self, client: ClientAddr, what: Creation) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let (limiter, kind, message) = match what {
            Creation::SignUp => (&self.sign_ups, "sign_up", "too many sign-ups from this address"),
            Creation::Map => (&self.maps, "map_create", "too many maps created from this address"),
            Creation::LinkCode => {
                (&self.link_codes, "link_code_create", "too many link codes created from this address")
            }
        };
        limiter.spend(client.0).map_err(|wait| refused(kind, message, wait).into())
    }

    /// The client's address: the TCP peer's, or behind a trusted proxy the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy. Each proxy appends the
    /// address it got the request from, so entries left of the last one ours wrote are
    /// whatever the client claimed.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientAddr {
        // On a dual-stack listener an IPv4 peer is `::ffff:a.b.c.d`: compare it as IPv4.
        let Some(peer) = peer.map(|peer| peer.to_canonical()) else { return ClientAddr(UNKNOWN) };
        if !self.trust_proxy.contains(&peer) {
            return ClientAddr(key(peer));
        }
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let entries: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
        for entry in entries.iter().rev() {
            match parse_forwarded(entry).map(|addr| addr.to_canonical()) {
                Some(addr) if self.trust_proxy.contains(&addr) => continue,
                Some(addr) => return ClientAddr(key(addr)),
                // What our proxy wrote is unreadable: charge the proxy, which is strict.
                None => break,
            }
        }
        ClientAddr(key(peer))
    }
}

fn refused(kind: &'static str, message: &str, wait: Duration) -> CoreError {
    crate::metrics::rate_limited(kind);
    // Whole seconds, rounded up, at least 1: a client retrying then is let through.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    CoreError::RateLimited { message: format!("{message}; retry later"), retry_after_secs: secs.max(1) }
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Requests whose peer address is unknown share this bucket.
const UNKNOWN: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// The bucket an address spends from: IPv4 as is, IPv6 by its /64.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// The client address of a request, as [`Limits::client`] derives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(ClientAddr::of(parts, &AppState::from_ref(state)))
    }
}

impl ClientAddr {
    pub fn of(parts: &Parts, state: &AppState) -> ClientAddr {
        // Set by the accept loop for every connection; absent only where no socket is.
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        state.limits.client(peer, &parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use marauder_core::protocol::ErrorCode;

    use super::*;

    fn limits(trust_proxy: &[&str]) -> Limits {
        let trust_proxy = trust_proxy.iter().map(|a| a.parse().unwrap()).collect();
        Limits::new(&RateLimits { trust_proxy, ..RateLimits::default() })
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy_and_skips_trusted_hops() {
        let untrusting = limits(&[]);
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(untrusting.client(Some(ip("10.0.0.1")), &headers).0, ip("10.0.0.1"));
        let trusting = limits(&["10.0.0.1", "10.0.0.2"]);
        let chain = forwarded(&["198.51.100.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(trusting.client(Some(ip("10.0.0.1")), &chain).0, ip("203.0.113.9"));
        assert_eq!(trusting.client(Some(ip("10.0.0.1")), &HeaderMap::new()).0, ip("10.0.0.1"));
        assert_eq!(trusting.client(Some(ip("10.0.0.1")), &forwarded(&["junk"])).0, ip("10.0.0.1"));
        assert_eq!(trusting.client(None, &chain).0, UNKNOWN);
        // A dual-stack listener sees an IPv4 balancer as `::ffff:a.b.c.d`: still trusted.
        assert_eq!(trusting.client(Some(ip("::ffff:10.0.0.1")), &chain).0, ip("203.0.113.9"));
        let mapped = limits(&["::ffff:10.0.0.1"]);
        assert_eq!(mapped.client(Some(ip("10.0.0.1")), &headers).0, ip("203.0.113.9"));
    }

    #[test]
    fn each_kind_of_creation_has_its_own_buckets() {
        let limits = Limits::new(&RateLimits { create_burst: 1, ..RateLimits::default() });
        let client = ClientAddr(ip("192.0.2.1"));
        for what in [Creation::SignUp, Creation::Map, Creation::LinkCode] {
            assert!(limits.create(client, what).is_ok(), "{what:?}: the first");
            let refused = limits.create(client, what).unwrap_err();
            assert_eq!(
                (refused.code, refused.retry_after_secs),
                (ErrorCode::RateLimited, Some(10)),
                "{what:?}"
            );
        }
        assert!(limits.create(ClientAddr(ip("192.0.2.2")), Creation::LinkCode).is_ok(), "another address");
    }

    #[test]
    fn ipv6_clients_share_their_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), key(ip("2001:db8:1:2:bbbb::2")));
        assert_ne!(key(ip("2001:db8:1:2::1")), key(ip("2001:db8:1:3::1")));
        assert_eq!(key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
