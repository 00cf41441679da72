//! Sessions (the contract's "Sessions: one player, many devices"): link codes that bring
//! another device in as the same player, once and for ten minutes; the sessions list;
//! revoking a session (its token at once, its WebSockets with 4001).

use std::sync::Arc;
use std::time::Duration;

use marauder::ServeConfig;
use marauder_client::Client;
use marauder_client::protocol::{ErrorCode, Event, EventBody};
use marauder_core::{EventSink, LinkCode, LinkCodeRecord, MapId, PlayerId, SessionId, Store, now_millis};

use crate::helpers::*;

/// A code with a link code's shape that nobody made.
const UNKNOWN_CODE: &str = "AAAAAAAAAAAAAAAAAAAAAA";

async fn redeem_raw(app: &TestApp, body: &str) -> marauder_client::RawResponse {
    let body = Some(("application/json", body.as_bytes().to_vec()));
    app.anon.raw("POST", "/api/v1/sessions", body).await.unwrap()
}

/// A second device of the player behind `client`, signed in through a link code.
async fn second_device(app: &TestApp, client: &Client, agent: &str) -> Client {
    let code = client.create_link_code().await.unwrap();
    let created = app.anon.with_user_agent(agent).redeem_link_code(&code.code).await.unwrap();
    app.client(&created.token).with_user_agent(agent)
}

#[tokio::test]
async fn a_link_code_signs_another_device_in_as_the_same_player_once() {
    let app = TestApp::spawn().await;
    let (laptop, h) = app.player("Harry").await;
    let map = laptop.create_map("Hogwarts", None).await.unwrap();
    let before = now_millis();
    let code = laptop.create_link_code().await.unwrap();
    let after = now_millis();
    assert!(code.code.len() >= 11, "{} characters hold fewer than 64 bits", code.code.len());
    assert!(code.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "not URL-safe");
    let ttl = 10 * 60 * 1000;
    assert!((before + ttl..=after + ttl).contains(&code.expires_at), "expires_at {}", code.expires_at);

    let phone = app.anon.redeem_link_code(&code.code).await.unwrap();
    assert_eq!(
        (phone.id.as_str(), phone.name.as_str(), phone.created_at),
        (h.id.as_str(), "Harry", h.created_at)
    );
    assert_ne!(phone.token, h.token);
    let me = app.client(&phone.token).me().await.unwrap();
    assert_eq!((me.id.as_str(), me.maps.len(), me.maps[0].id.as_str()), (h.id.as_str(), 1, map.id.as_str()));
    assert_eq!(laptop.me().await.unwrap().id, h.id, "the first session still works");

    // Once only: the second redemption is refused and makes no session.
    let again = redeem_raw(&app, &format!(r#"{{"code":"{}"}}"#, code.code)).await;
    assert_eq!((again.status, again.error_code().as_deref()), (403, Some("forbidden")), "{:?}", again.json());
    assert_eq!(laptop.sessions().await.unwrap().sessions.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_link_codes_are_forbidden_and_bad_bodies_are_400() {
    let app = TestApp::spawn().await;
    let (laptop, _) = app.player("Harry").await;
    let code = laptop.create_link_code().await.unwrap();
    let (long, longer) = ("A".repeat(200), format!("{}x", code.code));
    let garbage = ["", "abc", "not a code!", long.as_str(), longer.as_str()];
    for presented in [UNKNOWN_CODE].into_iter().chain(garbage) {
        let err = app.anon.redeem_link_code(presented).await.unwrap_err();
        assert_eq!((err.status(), err.code()), (Some(403), Some(ErrorCode::Forbidden)), "{presented:?}");
    }
    for body in ["{}", r#"{"code":5}"#, r#"{"code":"x","extra":1}"#, "[]", "{"] {
        let answer = redeem_raw(&app, body).await;
        assert_eq!((answer.status, answer.error_code().as_deref()), (400, Some("bad_request")), "{body}");
    }
    // None of that spent the real code.
    app.anon.redeem_link_code(&code.code).await.unwrap();
    assert_eq!(laptop.sessions().await.unwrap().sessions.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn of_racing_redemptions_of_one_code_exactly_one_signs_in() {
    let app = TestApp::spawn().await;
    let (laptop, h) = app.player("Harry").await;
    let code = laptop.create_link_code().await.unwrap().code;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (anon, code) = (app.anon.clone(), code.clone());
            tokio::spawn(async move { anon.redeem_link_code(&code).await })
        })
        .collect();
    let mut signed_in = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            Ok(created) => signed_in.push(created.id),
            Err(err) => assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}"),
        }
    }
    assert_eq!(signed_in, [h.id.as_str()], "exactly one redemption wins");
    assert_eq!(laptop.sessions().await.unwrap().sessions.len(), 2);
    app.stop().await;
}

/// Hands nothing on: for a backend opened beside the server's own to write a record.
struct Nowhere;

impl EventSink for Nowhere {
    fn deliver(&self, _: &MapId, _: Arc<Event>) {}
}

/// Writes link codes straight through the backend's `Store`, as the server would have.
async fn insert_link_codes(config: ServeConfig, records: Vec<LinkCodeRecord>) {
    if !config.redis.is_empty() {
        let redis = marauder_redis::connect(&config.redis_options(), Arc::new(Nowhere))
            .await
            .expect("connect to redis");
        for record in records {
            redis.store.create_link_code(record).await.expect("insert a link code");
        }
        return;
    }
    let options = marauder_embedded::Options::default();
    let embedded = marauder_embedded::open(&config.data_dir, options, Arc::new(Nowhere)).expect("open");
    for record in records {
        embedded.store.create_link_code(record).await.expect("insert a link code");
    }
    let closed = embedded.closed;
    drop((embedded.store, embedded.feed));
    tokio::task::spawn_blocking(move || closed.wait()).await.unwrap();
}

#[tokio::test]
async fn an_expired_link_code_is_forbidden() {
    // Ten minutes are not waited for: the records are written through the backend's Store
    // with the server stopped, one expired a moment ago and one still good, so that the
    // refusal is the expiry's and not a record the server never saw.
    let app = TestApp::spawn().await;
    let (_, h) = app.player("Harry").await;
    let player = PlayerId::parse(&h.id).expect("a player id");
    let (expired, good) = (LinkCode::generate(), LinkCode::generate());
    let now = now_millis();
    let records = vec![
        LinkCodeRecord { hash: expired.hash(), player: player.clone(), expires_at: now - 1, session: None },
        LinkCodeRecord { hash: good.hash(), player, expires_at: now + 60_000, session: None },
    ];
    let app = app.restart_after(|config| insert_link_codes(config, records)).await;

    let err = app.anon.redeem_link_code(expired.expose()).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some(ErrorCode::Forbidden)));
    let signed_in = app.anon.redeem_link_code(good.expose()).await.unwrap();
    assert_eq!(signed_in.id, h.id);
    assert_eq!(app.client(&h.token).sessions().await.unwrap().sessions.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn sessions_are_listed_oldest_first_with_only_the_callers_current_and_no_token() {
    let app = TestApp::spawn().await;
    let created = app.anon.with_user_agent("Firefox on Linux").create_player("Harry").await.unwrap();
    let laptop = app.client(&created.token);
    // Distinct creation times, so that "oldest first" has one answer.
    tokio::time::sleep(Duration::from_millis(3)).await;
    let phone = second_device(&app, &laptop, "Chrome on Android").await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    let tablet = second_device(&app, &laptop, "Safari on iPad").await;

    let listed = phone.sessions().await.unwrap().sessions;
    let agents: Vec<_> = listed.iter().map(|s| s.agent.as_deref()).collect();
    assert_eq!(agents, [Some("Firefox on Linux"), Some("Chrome on Android"), Some("Safari on iPad")]);
    assert!(listed.windows(2).all(|w| w[0].created_at < w[1].created_at), "{listed:?}");
    assert_eq!(listed.iter().map(|s| s.current).collect::<Vec<_>>(), [false, true, false]);
    assert!(listed[1].last_seen.is_some(), "the caller has authenticated");
    assert_eq!(listed[2].last_seen, None, "the tablet has not authenticated yet");
    let from_laptop = laptop.sessions().await.unwrap().sessions;
    assert_eq!(from_laptop.iter().map(|s| s.current).collect::<Vec<_>>(), [true, false, false]);
    let ids = |list: &[marauder_client::protocol::SessionInfo]| {
        list.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&from_laptop), ids(&listed));

    let raw = tablet.raw("GET", "/api/v1/players/me/sessions", None).await.unwrap();
    assert_eq!(raw.status, 200);
    let text = String::from_utf8(raw.body.clone()).unwrap();
    for token in
        [created.token.as_str(), laptop.token().unwrap(), phone.token().unwrap(), tablet.token().unwrap()]
    {
        assert!(!text.contains(token), "a token in the sessions list: {text}");
    }
    for session in raw.json()["sessions"].as_array().unwrap() {
        assert!(session.get("token").is_none(), "{session}");
    }
    // Another player sees only their own.
    let (ron, _) = app.player("Ron").await;
    assert_eq!(ron.sessions().await.unwrap().sessions.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn revoking_a_session_stops_its_token_at_once_and_closes_its_sockets_with_4001() {
    let app = TestApp::spawn().await;
    let (laptop, _) = app.player("Harry").await;
    let map = laptop.create_map("Hogwarts", None).await.unwrap();
    let phone = second_device(&app, &laptop, "phone").await;
    let mut laptop_live = laptop.connect().await.unwrap();
    let mut phone_live = phone.connect().await.unwrap();
    let mut phone_browser = phone.connect_with_query_token().await.unwrap();
    let seq = subscribe(&mut laptop_live, &map.id).await;
    subscribe(&mut phone_live, &map.id).await;

    let listed = laptop.sessions().await.unwrap().sessions;
    let phone_session = listed.iter().find(|s| !s.current).expect("the phone's session").id.clone();
    laptop.revoke_session(&phone_session).await.unwrap();

    assert_eq!(phone.me().await.unwrap_err().status(), Some(401), "the revoked token works no more");
    assert_eq!(recv_close(&mut phone_live).await, Some(4001));
    assert_eq!(recv_close(&mut phone_browser).await, Some(4001));
    assert_eq!(phone.connect().await.err().and_then(|e| e.status()), Some(401));
    // The caller's own socket stays open and live.
    laptop.post_location(&loc(51.5, -0.1)).await.unwrap();
    let events = recv_events(&mut laptop_live, &map.id, 1).await;
    assert!(matches!(events[0].body, EventBody::Location(_)), "{events:?}");
    assert_eq!(events[0].seq, seq + 1);
    let left = laptop.sessions().await.unwrap().sessions;
    assert_eq!((left.len(), left[0].current), (1, true));
    // Revoked once is gone: a second revocation finds nothing.
    let again = laptop.revoke_session(&phone_session).await.unwrap_err();
    assert_eq!((again.status(), again.code()), (Some(404), Some(ErrorCode::NotFound)));
    app.stop().await;
}

#[tokio::test]
async fn revoking_current_signs_the_caller_out_and_leaves_the_other_devices() {
    let app = TestApp::spawn().await;
    let (laptop, h) = app.player("Harry").await;
    let phone = second_device(&app, &laptop, "phone").await;
    let mut laptop_live = laptop.connect().await.unwrap();
    laptop.revoke_session("current").await.unwrap();
    assert_eq!(laptop.me().await.unwrap_err().code(), Some(ErrorCode::Unauthorized));
    assert_eq!(recv_close(&mut laptop_live).await, Some(4001));
    assert_eq!(phone.me().await.unwrap().id, h.id);
    let listed = phone.sessions().await.unwrap().sessions;
    assert_eq!((listed.len(), listed[0].current), (1, true));
    app.stop().await;
}

#[tokio::test]
async fn another_players_or_an_unknown_session_is_not_found_and_stays() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let (ron, _) = app.player("Ron").await;
    let rons = ron.sessions().await.unwrap().sessions[0].id.clone();
    for id in [rons.as_str(), "AAAAAAAAAAAAAAAA", "no such session"] {
        let err = harry.revoke_session(id).await.unwrap_err();
        assert_eq!((err.status(), err.code()), (Some(404), Some(ErrorCode::NotFound)), "{id}");
    }
    assert_eq!(ron.sessions().await.unwrap().sessions.len(), 1);
    ron.me().await.unwrap();
    assert_eq!(app.anon.revoke_session(&rons).await.unwrap_err().status(), Some(401));
    app.stop().await;
}

#[tokio::test]
async fn a_long_user_agent_is_kept_to_200_characters() {
    let app = TestApp::spawn().await;
    let agent = format!("Mozilla/5.0 {}", "é".repeat(300));
    let created = app.anon.with_user_agent(agent.clone()).create_player("Harry").await.unwrap();
    let listed = app.client(&created.token).sessions().await.unwrap().sessions;
    let kept = listed[0].agent.clone().expect("the agent is kept");
    assert!((1..=200).contains(&kept.chars().count()), "{} characters", kept.chars().count());
    assert!(agent.starts_with(&kept), "the start of the agent: {kept}");
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_players_link_code_signs_nobody_in() {
    let app = TestApp::spawn().await;
    let (harry, _) = app.player("Harry").await;
    let code = harry.create_link_code().await.unwrap();
    harry.delete_me().await.unwrap();
    let err = app.anon.redeem_link_code(&code.code).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some(ErrorCode::Forbidden)));
    app.stop().await;
}

#[tokio::test]
async fn link_codes_past_the_bursts_get_429_even_the_right_one_until_the_wait() {
    let app = TestApp::spawn_with(|config| {
        config.limits = marauder::Switch::On;
        config.guess_burst = 3;
        config.guess_refill_ms = 1_000;
        config.create_burst = 3;
        config.create_refill_ms = 1_000;
    })
    .await;
    let (laptop, h) = app.player("Harry").await;
    // Creations have a bucket of their own: the sign-up spent none of it.
    let code = laptop.create_link_code().await.unwrap();
    for _ in 0..2 {
        laptop.create_link_code().await.unwrap();
    }
    let refused = laptop.raw("POST", "/api/v1/players/me/link-codes", None).await.unwrap();
    assert_eq!((refused.status, refused.error_code().as_deref()), (429, Some("rate_limited")));
    assert!(refused.headers.get("retry-after").is_some(), "Retry-After on a 429");

    for _ in 0..3 {
        assert_eq!(app.anon.redeem_link_code(UNKNOWN_CODE).await.unwrap_err().status(), Some(403));
    }
    let body = format!(r#"{{"code":"{}"}}"#, code.code);
    let refused = redeem_raw(&app, &body).await;
    assert_eq!((refused.status, refused.error_code().as_deref()), (429, Some("rate_limited")));
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().expect("whole seconds");
    assert!(wait >= 1, "Retry-After {wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    // The refused redemption did not spend the code.
    let signed_in = redeem_raw(&app, &body).await;
    assert_eq!(signed_in.status, 201, "{:?}", signed_in.json());
    assert_eq!(signed_in.json()["id"], h.id.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_sessions_link_codes_sign_nobody_in_while_the_player_has_others() {
    let app = TestApp::spawn().await;
    let (laptop, _) = app.player("Harry").await;
    let intruder = second_device(&app, &laptop, "stolen").await;
    let stockpiled = intruder.create_link_code().await.unwrap();
    let intruders_id =
        intruder.sessions().await.unwrap().sessions.into_iter().find(|s| s.current).unwrap().id;
    laptop.revoke_session(&intruders_id).await.unwrap();
    let refused = app.anon.redeem_link_code(&stockpiled.code).await.unwrap_err();
    assert_eq!((refused.status(), refused.code()), (Some(403), Some(ErrorCode::Forbidden)), "{refused}");
    assert_eq!(laptop.sessions().await.unwrap().sessions.len(), 1, "no session was made");
    app.stop().await;
}

#[tokio::test]
async fn a_link_made_before_signing_out_of_the_last_session_is_the_way_back() {
    let app = TestApp::spawn().await;
    let (laptop, h) = app.player("Harry").await;
    let way_back = laptop.create_link_code().await.unwrap();
    laptop.revoke_session("current").await.unwrap();
    assert_eq!(laptop.me().await.unwrap_err().status(), Some(401));
    let phone = app.anon.redeem_link_code(&way_back.code).await.unwrap();
    assert_eq!(phone.id, h.id);
    assert_eq!(app.client(&phone.token).sessions().await.unwrap().sessions.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_socket_whose_session_went_without_a_notice_closes_at_its_next_ping() {
    // Only Redis can lose a notice (a handler cut off from it when it is sent); the session
    // is deleted here straight through the Store, which announces nothing.
    if backend().is_none() {
        return;
    }
    let app = TestApp::spawn_with(|c| c.ws_ping_interval_ms = 300).await;
    let (laptop, h) = app.player("Harry").await;
    let phone = second_device(&app, &laptop, "phone").await;
    let mut phone_live = phone.connect().await.unwrap();
    let mut laptop_live = laptop.connect().await.unwrap();
    let session = phone.sessions().await.unwrap().sessions.into_iter().find(|s| s.current).unwrap().id;
    let redis = marauder_redis::connect(&app.config().redis_options(), Arc::new(Nowhere)).await.unwrap();
    let (player, session) = (PlayerId::parse(&h.id).unwrap(), SessionId::parse(&session).unwrap());
    assert!(redis.store.delete_session(&player, &session).await.unwrap().is_some());
    assert_eq!(recv_close(&mut phone_live).await, Some(4001));
    let map = laptop.create_map("Hogwarts", None).await.unwrap();
    assert_eq!(subscribe(&mut laptop_live, &map.id).await, 0, "the laptop's socket stays open");
    app.stop().await;
}
