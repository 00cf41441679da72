//! Bad input, table-driven, over REST and the WebSocket. Every case asserts the exact status
//! (or error frame), the exact error `code`, that the message names the field at fault, and
//! that nothing changed: the public map list, every player's `me`, every map's members,
//! locations and `seq`, and the trails read the same after the rejected request as before.

use marauder_client::protocol::{
    ErrorCode, Locations, MapDetail, Me, PublicMaps, ServerMessage, Trail, Visibility,
};
use marauder_client::{Client, Error, Incoming, Live};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::*;

/// The contract's limit on a request body and on a WebSocket frame.
const LIMIT: usize = 64 * 1024;

/// An id that has the shape of a real one but names nothing.
const UNKNOWN_ID: &str = "AAAAAAAAAAAAAAAA";

/// A token with the shape of a real one (prefix and length) that belongs to no player.
fn unknown_token() -> String {
    format!("mrd_{}", "A".repeat(43))
}

// ---------------------------------------------------------------------------------------
// The world every table runs against, and what "nothing changed" compares.

/// Alice owns a public map (Bob is a member) and a private one; Carol owns another public
/// map and is in neither of Alice's. Alice and Bob have each posted a location.
struct World {
    app: TestApp,
    alice: Client,
    alice_id: String,
    alice_token: String,
    bob: Client,
    bob_id: String,
    carol: Client,
    carol_id: String,
    carol_token: String,
    /// Alice's public map; Bob is a member.
    public: String,
    /// Alice's private map.
    private: String,
    invite_code: String,
    /// Carol's public map.
    other: String,
}

#[derive(Debug, PartialEq)]
struct Observed {
    public_maps: PublicMaps,
    me: Vec<Me>,
    details: Vec<MapDetail>,
    locations: Vec<Locations>,
    trails: Vec<Trail>,
}

impl World {
    async fn new() -> World {
        let app = TestApp::spawn().await;
        let (alice, alice_created) = app.player("Alice").await;
        let (bob, bob_created) = app.player("Bob").await;
        let (carol, carol_created) = app.player("Carol").await;
        let public = alice.create_map("Hogwarts", None).await.unwrap();
        let private = alice.create_map("Room of Requirement", Some(Visibility::Private)).await.unwrap();
        let other = carol.create_map("Hogsmeade", None).await.unwrap();
        bob.join(&public.id, None).await.unwrap();
        alice.post_location(&loc_at(51.5, -0.12, 1_700_000_000_000)).await.unwrap();
        bob.post_location(&loc_at(51.6, -0.13, 1_700_000_000_500)).await.unwrap();
        World {
            app,
            alice,
            alice_id: alice_created.id,
            alice_token: alice_created.token,
            bob,
            bob_id: bob_created.id,
            carol,
            carol_id: carol_created.id,
            carol_token: carol_created.token,
            public: public.id,
            private: private.id,
            invite_code: private.invite_code.expect("a private map has an invite code"),
            other: other.id,
        }
    }

    /// Everything a rejected request must leave as it was, in a stable order.
    async fn observe(&self) -> Observed {
        let mut public_maps = self.app.anon.public_maps().await.unwrap();
        public_maps.maps.sort_by(|a, b| a.id.cmp(&b.id));
        let mut me = Vec::new();
        for client in [&self.alice, &self.bob, &self.carol] {
            let mut mine = client.me().await.unwrap();
            mine.maps.sort_by(|a, b| a.id.cmp(&b.id));
            me.push(mine);
        }
        let readers = [(&self.alice, &self.public), (&self.alice, &self.private), (&self.carol, &self.other)];
        let mut details = Vec::new();
        let mut locations = Vec::new();
        for (reader, map) in readers {
            let mut detail = reader.map(map).await.unwrap();
            detail.members.sort_by(|a, b| a.id.cmp(&b.id));
            details.push(detail);
            let mut snapshot = reader.locations(map).await.unwrap();
            snapshot.locations.sort_by(|a, b| a.player.cmp(&b.player));
            locations.push(snapshot);
        }
        let mut trails = Vec::new();
        for of in [&self.alice_id, &self.bob_id] {
            trails.push(self.alice.trail(&self.public, of, None, None).await.unwrap());
        }
        trails.push(self.carol.trail(&self.other, &self.carol_id, None, None).await.unwrap());
        Observed { public_maps, me, details, locations, trails }
    }

    /// The public map's seq, as a member reads it.
    async fn public_seq(&self) -> u64 {
        self.alice.locations(&self.public).await.unwrap().seq
    }
}

// ---------------------------------------------------------------------------------------
// REST cases.

/// Who a request acts as.
#[derive(Clone)]
enum Auth {
    None,
    /// `Authorization: Bearer <token>`, as the client library sends it.
    Bearer(String),
    /// A raw `Authorization` header value.
    Header(String),
}

struct Case {
    name: &'static str,
    auth: Auth,
    method: &'static str,
    path: String,
    /// Content-Type ("" for none) and bytes.
    body: Option<(&'static str, Vec<u8>)>,
    status: u16,
    code: &'static str,
    /// A field the message must name.
    field: Option<&'static str>,
}

impl Case {
    fn new(name: &'static str, auth: &Auth, method: &'static str, path: impl Into<String>) -> Case {
        Case {
            name,
            auth: auth.clone(),
            method,
            path: path.into(),
            body: None,
            status: 400,
            code: "bad_request",
            field: None,
        }
    }

    fn json(self, body: impl AsRef<[u8]>) -> Case {
        self.body("application/json", body)
    }

    fn body(mut self, content_type: &'static str, body: impl AsRef<[u8]>) -> Case {
        self.body = Some((content_type, body.as_ref().to_vec()));
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Case {
        self.status = status;
        self.code = code;
        self
    }

    fn field(mut self, field: &'static str) -> Case {
        self.field = Some(field);
        self
    }
}

struct Answer {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn send(app: &TestApp, case: &Case) -> Answer {
    let body = case.body.as_ref().map(|(ct, bytes)| (*ct, bytes.clone()));
    match &case.auth {
        Auth::None | Auth::Bearer(_) => {
            let client = match &case.auth {
                Auth::Bearer(token) => app.anon.with_token(token),
                _ => app.anon.clone(),
            };
            let raw = client
                .raw(case.method, &case.path, body)
                .await
                .unwrap_or_else(|e| panic!("{}: the request failed: {e}", case.name));
            let content_type =
                raw.headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
            Answer { status: raw.status, content_type, body: raw.body }
        }
        Auth::Header(value) => {
            let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
            let mut req = reqwest::Client::new()
                .request(method, format!("{}{}", app.base, case.path))
                .header("authorization", value.as_str());
            if let Some((content_type, bytes)) = body {
                if !content_type.is_empty() {
                    req = req.header("content-type", content_type);
                }
                req = req.body(bytes);
            }
            let response =
                req.send().await.unwrap_or_else(|e| panic!("{}: the request failed: {e}", case.name));
            let status = response.status().as_u16();
            let content_type =
                response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = response.bytes().await.unwrap().to_vec();
            Answer { status, content_type, body }
        }
    }
}

/// Asserts the status and the contract's error body `{"error": {"code", "message"}}`.
fn assert_error_answer(case: &Case, answer: &Answer) {
    let name = case.name;
    let text = String::from_utf8_lossy(&answer.body);
    assert_eq!(answer.status, case.status, "{name}: status (body {text})");
    assert!(
        answer.content_type.as_deref().is_some_and(|ct| ct.starts_with("application/json")),
        "{name}: an error body is JSON, got Content-Type {:?}",
        answer.content_type
    );
    let json: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{name}: the body is not JSON ({e}): {text}"));
    assert_eq!(
        json.as_object().map(|o| o.len()),
        Some(1),
        "{name}: the body is {{\"error\": ...}} only: {json}"
    );
    let error = &json["error"];
    assert_eq!(
        error.as_object().map(|o| o.len()),
        Some(2),
        "{name}: error has code and message only: {json}"
    );
    assert_eq!(error["code"], case.code, "{name}: error code: {json}");
    let message = error["message"].as_str().unwrap_or_else(|| panic!("{name}: message is a string: {json}"));
    assert!(!message.trim().is_empty(), "{name}: the message is for a person, not empty");
    if let Some(field) = case.field {
        assert!(message.contains(field), "{name}: the message names `{field}`: {message:?}");
    }
}

/// Runs every case, and after each checks that the world is as it was.
async fn run_table(world: &World, cases: &[Case]) {
    let before = world.observe().await;
    for case in cases {
        let answer = send(&world.app, case).await;
        assert_error_answer(case, &answer);
        assert_eq!(world.observe().await, before, "{}: a rejected request changed something", case.name);
    }
    // And once more at the end of the table, in one piece.
    assert_eq!(world.observe().await, before, "the table changed something");
}

/// `json` (an object ending in `}`) padded with spaces before its closing brace to exactly
/// `size` bytes: still the same object.
fn padded(json: &str, size: usize) -> Vec<u8> {
    let open = json.strip_suffix('}').expect("an object");
    assert!(open.len() < size, "{json} is already longer than {size}");
    let mut bytes = open.as_bytes().to_vec();
    bytes.resize(size - 1, b' ');
    bytes.push(b'}');
    bytes
}

#[tokio::test]
async fn malformed_and_invalid_bodies_are_refused_and_change_nothing() {
    let world = World::new().await;
    let anon = Auth::None;
    let alice = Auth::Bearer(world.alice_token.clone());
    let carol = Auth::Bearer(world.carol_token.clone());
    let players = "/api/v1/players";
    let maps = "/api/v1/maps";
    let locations = "/api/v1/locations";
    let join = format!("/api/v1/maps/{}/join", world.public);
    let e64 = "é".repeat(64);
    let e65 = "é".repeat(65);

    let cases = [
        // POST /api/v1/players
        Case::new("player: malformed JSON", &anon, "POST", players).json(r#"{"name": "Harry""#),
        Case::new("player: trailing garbage after the object", &anon, "POST", players)
            .json(r#"{"name":"Harry"} x"#),
        Case::new("player: invalid UTF-8", &anon, "POST", players).json(b"{\"name\":\"Ha\xffrry\"}"),
        Case::new("player: empty body", &anon, "POST", players).json(""),
        Case::new("player: body is an array", &anon, "POST", players).json(r#"["Harry"]"#),
        Case::new("player: body is a string", &anon, "POST", players).json(r#""Harry""#),
        Case::new("player: body is a number", &anon, "POST", players).json("42"),
        Case::new("player: body is null", &anon, "POST", players).json("null"),
        Case::new("player: missing name", &anon, "POST", players).json("{}").field("name"),
        Case::new("player: name is a number", &anon, "POST", players).json(r#"{"name": 7}"#).field("name"),
        Case::new("player: name is null", &anon, "POST", players).json(r#"{"name": null}"#).field("name"),
        Case::new("player: name is an array", &anon, "POST", players)
            .json(r#"{"name": ["Harry"]}"#)
            .field("name"),
        Case::new("player: unknown field", &anon, "POST", players)
            .json(r#"{"name":"Harry","wand":"holly"}"#)
            .field("wand"),
        Case::new("player: empty name", &anon, "POST", players).json(r#"{"name": ""}"#).field("name"),
        Case::new("player: whitespace-only name", &anon, "POST", players)
            .json(r#"{"name": "  \t \n "}"#)
            .field("name"),
        Case::new("player: name of 65 characters (é)", &anon, "POST", players)
            .json(format!(r#"{{"name": "{e65}"}}"#))
            .field("name"),
        Case::new("player: name of 65 characters after trimming", &anon, "POST", players)
            .json(format!(r#"{{"name": "  {e64}x  "}}"#))
            .field("name"),
        Case::new("player: name with a BEL control character", &anon, "POST", players)
            .json(r#"{"name": "Har\u0007ry"}"#)
            .field("name"),
        Case::new("player: name with an inner newline", &anon, "POST", players)
            .json(r#"{"name": "Har\nry"}"#)
            .field("name"),
        Case::new("player: name with a C1 control character", &anon, "POST", players)
            .json(r#"{"name": "Har\u0085ry"}"#)
            .field("name"),
        Case::new("player: Content-Type text/plain", &anon, "POST", players)
            .body("text/plain", r#"{"name":"Harry"}"#)
            .expect(415, "unsupported_media_type"),
        Case::new("player: no Content-Type", &anon, "POST", players)
            .body("", r#"{"name":"Harry"}"#)
            .expect(415, "unsupported_media_type"),
        Case::new("player: Content-Type application/x-www-form-urlencoded", &anon, "POST", players)
            .body("application/x-www-form-urlencoded", "name=Harry")
            .expect(415, "unsupported_media_type"),
        Case::new("player: body of 64 KiB + 1 byte", &anon, "POST", players)
            .json(padded(r#"{"name":"Harry"}"#, LIMIT + 1))
            .expect(413, "payload_too_large"),
        Case::new("player: body of exactly 64 KiB is read (empty name)", &anon, "POST", players)
            .json(padded(r#"{"name":""}"#, LIMIT))
            .field("name"),
        // POST /api/v1/maps
        Case::new("map: malformed JSON", &alice, "POST", maps).json(r#"{"name":"#),
        Case::new("map: body is an array", &alice, "POST", maps).json(r#"[{"name":"Diagon Alley"}]"#),
        Case::new("map: missing name", &alice, "POST", maps).json(r#"{"visibility":"public"}"#).field("name"),
        Case::new("map: name is a number", &alice, "POST", maps).json(r#"{"name": 9.75}"#).field("name"),
        Case::new("map: visibility \"secret\"", &alice, "POST", maps)
            .json(r#"{"name":"Diagon Alley","visibility":"secret"}"#)
            .field("visibility"),
        Case::new("map: unknown field", &alice, "POST", maps)
            .json(r#"{"name":"Diagon Alley","public":true}"#)
            .field("public"),
        Case::new("map: whitespace-only name", &alice, "POST", maps).json(r#"{"name":"   "}"#).field("name"),
        Case::new("map: name of 65 characters (é)", &alice, "POST", maps)
            .json(format!(r#"{{"name": "{e65}"}}"#))
            .field("name"),
        Case::new("map: name with a control character", &alice, "POST", maps)
            .json(r#"{"name": "Diagon\u0000Alley"}"#)
            .field("name"),
        Case::new("map: Content-Type text/plain", &alice, "POST", maps)
            .body("text/plain", r#"{"name":"Diagon Alley"}"#)
            .expect(415, "unsupported_media_type"),
        Case::new("map: body over 64 KiB", &alice, "POST", maps)
            .json(padded(r#"{"name":"Diagon Alley"}"#, LIMIT + 1))
            .expect(413, "payload_too_large"),
        // POST /api/v1/locations
        Case::new("location: malformed JSON", &alice, "POST", locations).json(r#"{"lat": 1, "lon": }"#),
        Case::new("location: body is an array", &alice, "POST", locations).json("[51.5, -0.12]"),
        Case::new("location: body is a string", &alice, "POST", locations).json(r#""51.5,-0.12""#),
        Case::new("location: body is a number", &alice, "POST", locations).json("51.5"),
        Case::new("location: body is null", &alice, "POST", locations).json("null"),
        Case::new("location: missing lat", &alice, "POST", locations).json(r#"{"lon": -0.12}"#).field("lat"),
        Case::new("location: missing lon", &alice, "POST", locations).json(r#"{"lat": 51.5}"#).field("lon"),
        Case::new("location: lat is a string", &alice, "POST", locations)
            .json(r#"{"lat": "51.5", "lon": -0.12}"#)
            .field("lat"),
        Case::new("location: lat is null", &alice, "POST", locations)
            .json(r#"{"lat": null, "lon": -0.12}"#)
            .field("lat"),
        Case::new("location: ts is 1.5", &alice, "POST", locations)
            .json(r#"{"lat": 51.5, "lon": -0.12, "ts": 1.5}"#)
            .field("ts"),
        Case::new("location: ts is a string", &alice, "POST", locations)
            .json(r#"{"lat": 51.5, "lon": -0.12, "ts": "1700000000000"}"#)
            .field("ts"),
        Case::new("location: speed is a boolean", &alice, "POST", locations)
            .json(r#"{"lat": 51.5, "lon": -0.12, "speed": true}"#)
            .field("speed"),
        Case::new("location: unknown field", &alice, "POST", locations)
            .json(r#"{"lat": 51.5, "lon": -0.12, "altitude_m": 30}"#)
            .field("altitude_m"),
        Case::new("location: lat 90.0001", &alice, "POST", locations)
            .json(r#"{"lat": 90.0001, "lon": 0}"#)
            .field("lat"),
        Case::new("location: lat -91", &alice, "POST", locations)
            .json(r#"{"lat": -91, "lon": 0}"#)
            .field("lat"),
        Case::new("location: lon 180.5", &alice, "POST", locations)
            .json(r#"{"lat": 0, "lon": 180.5}"#)
            .field("lon"),
        Case::new("location: lon -180.0001", &alice, "POST", locations)
            .json(r#"{"lat": 0, "lon": -180.0001}"#)
            .field("lon"),
        Case::new("location: heading 360", &alice, "POST", locations)
            .json(r#"{"lat": 0, "lon": 0, "heading": 360}"#)
            .field("heading"),
        Case::new("location: heading -1", &alice, "POST", locations)
            .json(r#"{"lat": 0, "lon": 0, "heading": -1}"#)
            .field("heading"),
        Case::new("location: speed -0.1", &alice, "POST", locations)
            .json(r#"{"lat": 0, "lon": 0, "speed": -0.1}"#)
            .field("speed"),
        Case::new("location: accuracy -1", &alice, "POST", locations)
            .json(r#"{"lat": 0, "lon": 0, "accuracy": -1}"#)
            .field("accuracy"),
        Case::new("location: lat 1e999 (not finite)", &alice, "POST", locations)
            .json(r#"{"lat": 1e999, "lon": 0}"#),
        Case::new("location: Content-Type text/plain", &alice, "POST", locations)
            .body("text/plain", r#"{"lat": 51.5, "lon": -0.12}"#)
            .expect(415, "unsupported_media_type"),
        Case::new("location: no Content-Type", &alice, "POST", locations)
            .body("", r#"{"lat": 51.5, "lon": -0.12}"#)
            .expect(415, "unsupported_media_type"),
        Case::new("location: body of 64 KiB + 1 byte", &alice, "POST", locations)
            .json(padded(r#"{"lat": 51.5, "lon": -0.12}"#, LIMIT + 1))
            .expect(413, "payload_too_large"),
        Case::new("location: body of exactly 64 KiB is read (lat 91)", &alice, "POST", locations)
            .json(padded(r#"{"lat": 91, "lon": -0.12}"#, LIMIT))
            .field("lat"),
        Case::new("location: charset parameter is still JSON (lat 91)", &alice, "POST", locations)
            .body("application/json; charset=utf-8", r#"{"lat": 91, "lon": 0}"#)
            .field("lat"),
        // POST /api/v1/maps/{id}/join, by Carol who is not a member
        Case::new("join: body is an array", &carol, "POST", &join).json("[]"),
        Case::new("join: malformed JSON", &carol, "POST", &join).json(r#"{"invite_code""#),
        Case::new("join: invite_code is a number", &carol, "POST", &join)
            .json(r#"{"invite_code": 5}"#)
            .field("invite_code"),
        Case::new("join: unknown field", &carol, "POST", &join).json(r#"{"code": "abc"}"#).field("code"),
        Case::new("join: Content-Type text/plain", &carol, "POST", &join)
            .body("text/plain", r#"{"invite_code":"abc"}"#)
            .expect(415, "unsupported_media_type"),
        Case::new("join: body over 64 KiB", &carol, "POST", &join)
            .json(padded(r#"{"invite_code":"abc"}"#, LIMIT + 1))
            .expect(413, "payload_too_large"),
    ];
    run_table(&world, &cases).await;
    world.app.stop().await;
}

#[tokio::test]
async fn unauthorized_forbidden_and_unknown_requests_are_refused_and_change_nothing() {
    let world = World::new().await;
    let anon = Auth::None;
    let alice = Auth::Bearer(world.alice_token.clone());
    let carol = Auth::Bearer(world.carol_token.clone());
    let (public, private, other) = (&world.public, &world.private, &world.other);
    let (alice_id, carol_id) = (&world.alice_id, &world.carol_id);
    let location = r#"{"lat": 51.5, "lon": -0.12}"#;
    let too_long_id = "a".repeat(65);
    let trail = |query: &str| format!("/api/v1/maps/{public}/trails/{alice_id}{query}");

    let cases = [
        // 401: no, malformed or unknown token.
        Case::new("no token: GET me", &anon, "GET", "/api/v1/players/me").expect(401, "unauthorized"),
        Case::new("no token: DELETE me", &anon, "DELETE", "/api/v1/players/me").expect(401, "unauthorized"),
        Case::new("no token: POST map", &anon, "POST", "/api/v1/maps")
            .json(r#"{"name":"Diagon Alley"}"#)
            .expect(401, "unauthorized"),
        Case::new("no token: POST location", &anon, "POST", "/api/v1/locations")
            .json(location)
            .expect(401, "unauthorized"),
        Case::new("no token: join", &anon, "POST", format!("/api/v1/maps/{other}/join"))
            .expect(401, "unauthorized"),
        Case::new("no token: leave", &anon, "POST", format!("/api/v1/maps/{public}/leave"))
            .expect(401, "unauthorized"),
        Case::new("no token: map detail", &anon, "GET", format!("/api/v1/maps/{public}"))
            .expect(401, "unauthorized"),
        Case::new("no token: map locations", &anon, "GET", format!("/api/v1/maps/{public}/locations"))
            .expect(401, "unauthorized"),
        Case::new("no token: trail", &anon, "GET", trail("")).expect(401, "unauthorized"),
        Case::new("no token: plain GET of the WebSocket route", &anon, "GET", "/api/v1/ws")
            .expect(401, "unauthorized"),
        Case::new("Authorization: Basic", &Auth::Header("Basic xyz".into()), "GET", "/api/v1/players/me")
            .expect(401, "unauthorized"),
        Case::new(
            "Authorization: Bearer without a token",
            &Auth::Header("Bearer".into()),
            "GET",
            "/api/v1/players/me",
        )
        .expect(401, "unauthorized"),
        Case::new(
            "Authorization: a valid token under another scheme",
            &Auth::Header(format!("Token {}", world.alice_token)),
            "GET",
            "/api/v1/players/me",
        )
        .expect(401, "unauthorized"),
        Case::new(
            "Authorization: a valid token with no scheme",
            &Auth::Header(world.alice_token.clone()),
            "POST",
            "/api/v1/locations",
        )
        .json(location)
        .expect(401, "unauthorized"),
        Case::new("Bearer garbage", &Auth::Bearer("xyz".into()), "GET", "/api/v1/players/me")
            .expect(401, "unauthorized"),
        Case::new(
            "Bearer unknown well-formed token: GET me",
            &Auth::Bearer(unknown_token()),
            "GET",
            "/api/v1/players/me",
        )
        .expect(401, "unauthorized"),
        Case::new(
            "Bearer unknown well-formed token: POST location",
            &Auth::Bearer(unknown_token()),
            "POST",
            "/api/v1/locations",
        )
        .json(location)
        .expect(401, "unauthorized"),
        Case::new(
            "Bearer unknown well-formed token: DELETE me",
            &Auth::Bearer(unknown_token()),
            "DELETE",
            "/api/v1/players/me",
        )
        .expect(401, "unauthorized"),
        Case::new(
            "Bearer a valid token with one more character",
            &Auth::Bearer(format!("{}A", world.alice_token)),
            "GET",
            "/api/v1/players/me",
        )
        .expect(401, "unauthorized"),
        // 403: a valid token, not allowed.
        Case::new("non-member: public map detail", &carol, "GET", format!("/api/v1/maps/{public}"))
            .expect(403, "forbidden"),
        Case::new(
            "non-member: public map locations",
            &carol,
            "GET",
            format!("/api/v1/maps/{public}/locations"),
        )
        .expect(403, "forbidden"),
        Case::new("non-member: trail in a public map", &carol, "GET", trail("")).expect(403, "forbidden"),
        Case::new(
            "non-member: own trail through a map it is not in",
            &carol,
            "GET",
            format!("/api/v1/maps/{public}/trails/{carol_id}"),
        )
        .expect(403, "forbidden"),
        Case::new("non-member: private map detail", &carol, "GET", format!("/api/v1/maps/{private}"))
            .expect(403, "forbidden"),
        Case::new(
            "non-member: private map locations",
            &carol,
            "GET",
            format!("/api/v1/maps/{private}/locations"),
        )
        .expect(403, "forbidden"),
        Case::new("private join: no body", &carol, "POST", format!("/api/v1/maps/{private}/join"))
            .expect(403, "forbidden"),
        Case::new("private join: empty object", &carol, "POST", format!("/api/v1/maps/{private}/join"))
            .json("{}")
            .expect(403, "forbidden"),
        Case::new("private join: null code", &carol, "POST", format!("/api/v1/maps/{private}/join"))
            .json(r#"{"invite_code": null}"#)
            .expect(403, "forbidden"),
        Case::new("private join: wrong code", &carol, "POST", format!("/api/v1/maps/{private}/join"))
            .json(r#"{"invite_code": "alohomora"}"#)
            .expect(403, "forbidden"),
        Case::new(
            "private join: the code with one more character",
            &carol,
            "POST",
            format!("/api/v1/maps/{private}/join"),
        )
        .json(format!(r#"{{"invite_code": "{}x"}}"#, world.invite_code))
        .expect(403, "forbidden"),
        Case::new(
            "private join: the code of another map's id",
            &carol,
            "POST",
            format!("/api/v1/maps/{private}/join"),
        )
        .json(format!(r#"{{"invite_code": "{private}"}}"#))
        .expect(403, "forbidden"),
        // 404: no such player, map or route.
        Case::new("unknown map: detail", &alice, "GET", format!("/api/v1/maps/{UNKNOWN_ID}"))
            .expect(404, "not_found"),
        Case::new("unknown map: join", &alice, "POST", format!("/api/v1/maps/{UNKNOWN_ID}/join"))
            .expect(404, "not_found"),
        Case::new("unknown map: join with a body", &alice, "POST", format!("/api/v1/maps/{UNKNOWN_ID}/join"))
            .json(r#"{"invite_code":"abc"}"#)
            .expect(404, "not_found"),
        Case::new("unknown map: leave", &alice, "POST", format!("/api/v1/maps/{UNKNOWN_ID}/leave"))
            .expect(404, "not_found"),
        Case::new("unknown map: locations", &alice, "GET", format!("/api/v1/maps/{UNKNOWN_ID}/locations"))
            .expect(404, "not_found"),
        Case::new(
            "unknown map: trail",
            &alice,
            "GET",
            format!("/api/v1/maps/{UNKNOWN_ID}/trails/{alice_id}"),
        )
        .expect(404, "not_found"),
        Case::new(
            "unknown map: an id too long to exist",
            &alice,
            "GET",
            format!("/api/v1/maps/{too_long_id}/locations"),
        )
        .expect(404, "not_found"),
        Case::new("unknown map: an id with a space", &alice, "GET", "/api/v1/maps/no%20such%20map")
            .expect(404, "not_found"),
        Case::new(
            "trail of a player who is not a member",
            &alice,
            "GET",
            format!("/api/v1/maps/{public}/trails/{carol_id}"),
        )
        .expect(404, "not_found"),
        Case::new(
            "trail of an unknown player",
            &alice,
            "GET",
            format!("/api/v1/maps/{public}/trails/{UNKNOWN_ID}"),
        )
        .expect(404, "not_found"),
        Case::new("unknown player", &anon, "GET", format!("/api/v1/players/{UNKNOWN_ID}"))
            .expect(404, "not_found"),
        Case::new(
            "unknown player: an id too long to exist",
            &anon,
            "GET",
            format!("/api/v1/players/{too_long_id}"),
        )
        .expect(404, "not_found"),
        Case::new("unknown route", &alice, "GET", "/api/v1/nope").expect(404, "not_found"),
        Case::new("unknown route: another version", &alice, "GET", "/api/v2/players/me")
            .expect(404, "not_found"),
        Case::new("unknown route: under a map", &alice, "GET", format!("/api/v1/maps/{public}/nope"))
            .expect(404, "not_found"),
        // 405 (an addition of this server): a known route, a wrong method.
        Case::new("wrong method: DELETE the map list", &alice, "DELETE", "/api/v1/maps")
            .expect(405, "method_not_allowed"),
        Case::new("wrong method: GET locations", &alice, "GET", "/api/v1/locations")
            .expect(405, "method_not_allowed"),
        Case::new("wrong method: PUT a location", &alice, "PUT", "/api/v1/locations")
            .json(location)
            .expect(405, "method_not_allowed"),
        Case::new("wrong method: PUT a map", &alice, "PUT", format!("/api/v1/maps/{public}"))
            .expect(405, "method_not_allowed"),
        Case::new("wrong method: GET join", &carol, "GET", format!("/api/v1/maps/{other}/join"))
            .expect(405, "method_not_allowed"),
        // 400: bad trail queries, by a member.
        Case::new("trail: limit=0", &alice, "GET", trail("?limit=0")).field("limit"),
        Case::new("trail: limit=1001", &alice, "GET", trail("?limit=1001")).field("limit"),
        Case::new("trail: limit=abc", &alice, "GET", trail("?limit=abc")).field("limit"),
        Case::new("trail: limit=-1", &alice, "GET", trail("?limit=-1")).field("limit"),
        Case::new("trail: limit=1.5", &alice, "GET", trail("?limit=1.5")).field("limit"),
        Case::new("trail: since=abc", &alice, "GET", trail("?since=abc")).field("since"),
        Case::new("trail: since=1.5", &alice, "GET", trail("?since=1.5")).field("since"),
        Case::new("trail: since empty", &alice, "GET", trail("?since=")).field("since"),
    ];
    run_table(&world, &cases).await;
    world.app.stop().await;
}

#[tokio::test]
async fn a_wrongly_typed_enum_field_is_named_in_the_message() {
    // Kept apart from the big table so that its failure hides no other case.
    let world = World::new().await;
    let alice = Auth::Bearer(world.alice_token.clone());
    let maps = "/api/v1/maps";
    let cases = [
        // serde_json reports a non-string where a unit enum is expected as a syntax error;
        // the message must still name the field, not call valid JSON malformed.
        Case::new("map: visibility is a boolean", &alice, "POST", maps)
            .json(r#"{"name":"Diagon Alley","visibility":true}"#)
            .field("visibility"),
        Case::new("map: visibility is a number", &alice, "POST", maps)
            .json(r#"{"name":"Diagon Alley","visibility":1}"#)
            .field("visibility"),
    ];
    run_table(&world, &cases).await;
    world.app.stop().await;
}

#[tokio::test]
async fn names_count_characters_not_bytes() {
    // The positive side of the 65-character cases above: 64 two-byte characters are a
    // valid name, and whitespace around them does not count.
    let app = TestApp::spawn().await;
    let e64 = "é".repeat(64);
    let created = app.anon.create_player(&e64).await.unwrap();
    assert_eq!(created.name, e64);
    let padded_name = format!(" \t{e64}  ");
    let trimmed = app.anon.create_player(&padded_name).await.unwrap();
    assert_eq!(trimmed.name, e64);
    let player = app.anon.with_token(&created.token);
    let map = player.create_map(&padded_name, None).await.unwrap();
    assert_eq!(map.name, e64);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// WebSocket upgrades.

enum Connect {
    /// `Client::connect()`: the token, if any, in the Authorization header.
    Header(Client),
    /// `Client::connect_with_query_token()`: the token in `access_token`.
    Query(Client),
    /// A raw Authorization header value.
    RawAuthorization(String),
}

async fn connect(app: &TestApp, how: &Connect) -> Result<Live, Error> {
    match how {
        Connect::Header(client) => client.connect().await,
        Connect::Query(client) => client.connect_with_query_token().await,
        Connect::RawAuthorization(value) => {
            // The client library cannot send a malformed header; this is what it does inside.
            let url = format!("{}/api/v1/ws", app.base.replacen("http", "ws", 1));
            let mut request = url.into_client_request().unwrap();
            request.headers_mut().insert("authorization", HeaderValue::from_str(value).unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Ok(_) => panic!("the upgrade with Authorization {value:?} was accepted"),
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    let status = response.status().as_u16();
                    let body = response.body().clone().unwrap_or_default();
                    match serde_json::from_slice(&body) {
                        Ok(body) => Err(Error::Api { status, body }),
                        Err(_) => {
                            Err(Error::Unexpected(format!("{status}: {}", String::from_utf8_lossy(&body))))
                        }
                    }
                }
                Err(err) => Err(Error::Transport(err.to_string())),
            }
        }
    }
}

#[tokio::test]
async fn websocket_upgrades_without_a_valid_token_are_refused() {
    let world = World::new().await;
    let anon = &world.app.anon;
    let cases = [
        ("no token", Connect::Header(anon.clone())),
        ("no token, query style", Connect::Query(anon.clone())),
        ("garbage bearer token", Connect::Header(anon.with_token("xyz"))),
        ("unknown well-formed bearer token", Connect::Header(anon.with_token(unknown_token()))),
        ("garbage access_token", Connect::Query(anon.with_token("xyz"))),
        ("unknown well-formed access_token", Connect::Query(anon.with_token(unknown_token()))),
        ("empty access_token", Connect::Query(anon.with_token(""))),
        ("Authorization: Basic", Connect::RawAuthorization("Basic xyz".into())),
        ("Authorization: Bearer without a token", Connect::RawAuthorization("Bearer".into())),
        (
            "Authorization: a valid token under another scheme",
            Connect::RawAuthorization(format!("Token {}", world.alice_token)),
        ),
    ];
    let before = world.observe().await;
    for (name, how) in &cases {
        match connect(&world.app, how).await {
            Ok(_) => panic!("{name}: the upgrade was accepted"),
            Err(err) => {
                assert_eq!(err.status(), Some(401), "{name}: status: {err}");
                assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{name}: code: {err}");
            }
        }
    }
    assert_eq!(world.observe().await, before, "refused upgrades changed something");
    // A valid token still connects (the refusals were about the tokens, not the route).
    let mut live = world.alice.connect().await.unwrap();
    assert_eq!(subscribe(&mut live, &world.public).await, world.public_seq().await);
    world.app.stop().await;
}

// ---------------------------------------------------------------------------------------
// WebSocket frames.

/// What the `map` of an error frame must be.
enum MapField {
    Absent,
    Is(String),
    /// The frame named something that is not a map id; either way is fine.
    Unchecked,
}

struct FrameCase {
    name: &'static str,
    frame: Message,
    code: ErrorCode,
    map: MapField,
    field: Option<&'static str>,
}

fn frame(name: &'static str, text: impl Into<String>, code: ErrorCode, map: MapField) -> FrameCase {
    FrameCase { name, frame: Message::text(text.into()), code, map, field: None }
}

impl FrameCase {
    fn field(mut self, field: &'static str) -> FrameCase {
        self.field = Some(field);
        self
    }
}

/// The next message, which must be an error frame.
async fn recv_error(live: &mut Live, name: &str) -> (ErrorCode, String, Option<String>) {
    match tokio::time::timeout(PATIENCE, live.next()).await {
        Ok(Ok(Incoming::Message(ServerMessage::Error { code, message, map }))) => (code, message, map),
        other => panic!("{name}: expected an error frame, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_websocket_frames_get_error_frames_and_the_connection_stays_open() {
    let world = World::new().await;
    let (public, other) = (world.public.clone(), world.other.clone());
    let mut live = world.alice.connect().await.unwrap();
    // Subscribed, so a frame wrongly taken as a location would show up as an event before
    // the next expected frame.
    let seq = subscribe(&mut live, &public).await;
    let before = world.observe().await;
    use ErrorCode::{BadRequest, Forbidden, NotFound};
    use MapField::{Absent, Is, Unchecked};

    // Like an HTTP 400, an error frame's message names the field at fault.
    let cases = [
        frame("malformed JSON", r#"{"type":"subscribe","map":"#, BadRequest, Absent),
        frame("empty text frame", "", BadRequest, Absent),
        frame(
            "not an object: array",
            format!(r#"[{{"type":"subscribe","map":"{public}"}}]"#),
            BadRequest,
            Absent,
        ),
        frame("not an object: string", r#""subscribe""#, BadRequest, Absent),
        frame("not an object: number", "42", BadRequest, Absent),
        frame("not an object: null", "null", BadRequest, Absent),
        frame(
            "unknown type",
            format!(r#"{{"type":"dance","map":"{public}"}}"#),
            BadRequest,
            Is(public.clone()),
        )
        .field("dance"),
        frame("missing type", format!(r#"{{"map":"{public}"}}"#), BadRequest, Is(public.clone()))
            .field("type"),
        frame("type is a number", r#"{"type":1}"#, BadRequest, Absent),
        frame("subscribe: missing map", r#"{"type":"subscribe"}"#, BadRequest, Absent).field("map"),
        frame("subscribe: map is a number", r#"{"type":"subscribe","map":7}"#, BadRequest, Unchecked)
            .field("map"),
        frame(
            "subscribe: since is a string",
            format!(r#"{{"type":"subscribe","map":"{public}","since":"abc"}}"#),
            BadRequest,
            Is(public.clone()),
        )
        .field("since"),
        frame(
            "subscribe: since is negative",
            format!(r#"{{"type":"subscribe","map":"{public}","since":-1}}"#),
            BadRequest,
            Is(public.clone()),
        )
        .field("since"),
        frame(
            "subscribe: unknown field",
            format!(r#"{{"type":"subscribe","map":"{public}","from":3}}"#),
            BadRequest,
            Is(public.clone()),
        )
        .field("from"),
        frame("unsubscribe: missing map", r#"{"type":"unsubscribe"}"#, BadRequest, Absent).field("map"),
        frame(
            "subscribe: unknown map",
            format!(r#"{{"type":"subscribe","map":"{UNKNOWN_ID}"}}"#),
            NotFound,
            Is(UNKNOWN_ID.into()),
        ),
        frame(
            "subscribe: unknown map with since",
            format!(r#"{{"type":"subscribe","map":"{UNKNOWN_ID}","since":0}}"#),
            NotFound,
            Is(UNKNOWN_ID.into()),
        ),
        frame(
            "subscribe: an id too long to exist",
            format!(r#"{{"type":"subscribe","map":"{}"}}"#, "a".repeat(65)),
            NotFound,
            Is("a".repeat(65)),
        ),
        frame(
            "subscribe: a map it is not a member of",
            format!(r#"{{"type":"subscribe","map":"{other}"}}"#),
            Forbidden,
            Is(other.clone()),
        ),
        frame(
            "subscribe with since: a map it is not a member of",
            format!(r#"{{"type":"subscribe","map":"{other}","since":0}}"#),
            Forbidden,
            Is(other.clone()),
        ),
        frame("location: lat 91", r#"{"type":"location","lat":91,"lon":0}"#, BadRequest, Absent).field("lat"),
        frame("location: lon -180.5", r#"{"type":"location","lat":0,"lon":-180.5}"#, BadRequest, Absent)
            .field("lon"),
        frame(
            "location: heading 360",
            r#"{"type":"location","lat":0,"lon":0,"heading":360}"#,
            BadRequest,
            Absent,
        )
        .field("heading"),
        frame(
            "location: speed -0.1",
            r#"{"type":"location","lat":0,"lon":0,"speed":-0.1}"#,
            BadRequest,
            Absent,
        )
        .field("speed"),
        frame("location: missing lon", r#"{"type":"location","lat":0}"#, BadRequest, Absent).field("lon"),
        frame("location: lat is a string", r#"{"type":"location","lat":"0","lon":0}"#, BadRequest, Absent)
            .field("lat"),
        frame("location: ts is 1.5", r#"{"type":"location","lat":0,"lon":0,"ts":1.5}"#, BadRequest, Absent)
            .field("ts"),
        frame(
            "location: unknown field",
            r#"{"type":"location","lat":0,"lon":0,"alt":3}"#,
            BadRequest,
            Absent,
        )
        .field("alt"),
        frame(
            "a frame of exactly 64 KiB is read (lat 91)",
            String::from_utf8(padded(r#"{"type":"location","lat":91,"lon":0}"#, LIMIT)).unwrap(),
            BadRequest,
            Absent,
        )
        .field("lat"),
        FrameCase {
            name: "binary frame",
            frame: Message::binary(br#"{"type":"location","lat":0,"lon":0}"#.to_vec()),
            code: BadRequest,
            map: Absent,
            field: None,
        },
    ];
    for case in cases {
        let name = case.name;
        live.send_raw(case.frame).await.unwrap_or_else(|e| panic!("{name}: sending failed: {e}"));
        let (code, message, map) = recv_error(&mut live, name).await;
        assert_eq!(code, case.code, "{name}: code ({message})");
        assert!(!message.trim().is_empty(), "{name}: the message is for a person, not empty");
        match &case.map {
            Absent => assert_eq!(map, None, "{name}: map"),
            Is(expected) => assert_eq!(map.as_ref(), Some(expected), "{name}: map"),
            Unchecked => {}
        }
        if let Some(field) = case.field {
            assert!(message.contains(field), "{name}: the message names `{field}`: {message:?}");
        }
        // The connection stays open and works: a valid subscribe gets its snapshot, at the
        // same seq (nothing was published).
        assert_eq!(subscribe(&mut live, &public).await, seq, "{name}: the map's seq moved");
        assert_eq!(world.observe().await, before, "{name}: a rejected frame changed something");
    }
    // Still the same subscription: a valid location arrives as an event, with the next seq.
    world.bob.post_location(&loc_at(51.7, -0.14, 1_700_000_001_000)).await.unwrap();
    let events = recv_events(&mut live, &public, 1).await;
    assert_consecutive(&events, seq + 1);
    world.app.stop().await;
}

#[tokio::test]
async fn a_websocket_frame_over_64_kib_closes_the_connection_with_1009() {
    let world = World::new().await;
    let mut live = world.alice.connect().await.unwrap();
    let seq = subscribe(&mut live, &world.public).await;
    let before = world.observe().await;
    // A location frame, padded to one byte over the limit: were it read, it would be an
    // error frame (lat 91), never a stored point.
    let text = String::from_utf8(padded(r#"{"type":"location","lat":91,"lon":0}"#, LIMIT + 1)).unwrap();
    live.send_raw(Message::text(text)).await.unwrap();
    assert_eq!(recv_close(&mut live).await, Some(1009), "a frame over 64 KiB closes with 1009");
    assert_eq!(world.observe().await, before, "the oversized frame changed something");
    assert_eq!(world.public_seq().await, seq);
    // Other connections are unaffected; a new one works.
    let mut again = world.alice.connect().await.unwrap();
    assert_eq!(subscribe(&mut again, &world.public).await, seq);
    world.app.stop().await;
}
