//! A typed Rust client for Marauder's v1 API: REST calls and a live WebSocket. The tests,
//! the bench tool and the simulators all speak to the server through it.

mod account;
mod admin;
mod live;
mod phone;
mod places;
mod trails;

use marauder_protocol::{
    Accepted, CreateDevice, CreateMap, CreatePlayer, DeviceCreated, Devices, ErrorBody, JoinMap,
    LocationInput, Locations, MapCreated, MapDetail, Me, PlayerCreated, PlayerSummary, PublicMaps, Trail,
    Visibility,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub use live::{Incoming, Live};
pub use marauder_protocol as protocol;
pub use trails::{TrailFile, TrailQuery};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error body.
    #[error("{status}: {body:?}")]
    Api { status: u16, body: ErrorBody },
    /// The server answered something the contract does not allow.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("transport: {0}")]
    Transport(String),
}

impl Error {
    /// The error code of an API error.
    pub fn code(&self) -> Option<marauder_protocol::ErrorCode> {
        match self {
            Error::Api { body, .. } => Some(body.error.code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An answer as it came, for tests of malformed requests.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `code` of an error body, if the body is one.
    pub fn error_code(&self) -> Option<String> {
        let body: ErrorBody = serde_json::from_slice(&self.body).ok()?;
        Some(serde_json::to_value(body.error.code).ok()?.as_str()?.to_owned())
    }
}

/// How long an idle kept-alive connection is reused: well under the server's 10 s (its
/// `--header-timeout-ms`, which also ends idle keep-alives). A request sent on a connection
/// the server is closing at that moment fails without an answer (the keep-alive race; the
/// bench saw it once in 100,000 REST pushes with reqwest's 90 s default).
pub const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// The `User-Agent` sent with every request, if any.
    agent: Option<String>,
}

impl Client {
    /// `base` is the server's root, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Client {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .expect("a plain HTTP client builds");
        Client { http, base: base.into().trim_end_matches('/').to_owned(), token: None, agent: None }
    }

    /// The same client, acting as the player whose token this is.
    pub fn with_token(&self, token: impl Into<String>) -> Client {
        Client { token: Some(token.into()), ..self.clone() }
    }

    /// The same client, sending this `User-Agent` (as a browser names itself).
    pub fn with_user_agent(&self, agent: impl Into<String>) -> Client {
        Client { agent: Some(agent.into()), ..self.clone() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.anonymous(method, path);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// A request without the token, for the calls that take none.
    fn anonymous(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.agent {
            Some(agent) => builder.header(reqwest::header::USER_AGENT, agent),
            None => builder,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        builder: reqwest::RequestBuilder,
        expect: StatusCode,
    ) -> Result<T> {
        let response = builder.send().await.map_err(|e| Error::Transport(e.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Error::Transport(e.to_string()))?;
        if status != expect {
            return Err(api_error(status.as_u16(), &bytes));
        }
        let body = if bytes.is_empty() { b"null".as_slice() } else { &bytes };
        serde_json::from_slice(body)
            .map_err(|e| Error::Unexpected(format!("{e}: {}", String::from_utf8_lossy(&bytes))))
    }

    pub async fn create_player(&self, name: &str) -> Result<PlayerCreated> {
        let req = self.request(Method::POST, "/api/v1/players").json(&CreatePlayer { name: name.into() });
        self.call(req, StatusCode::CREATED).await
    }

    pub async fn me(&self) -> Result<Me> {
        self.call(self.request(Method::GET, "/api/v1/players/me"), StatusCode::OK).await
    }

    pub async fn player(&self, id: &str) -> Result<PlayerSummary> {
        self.call(self.request(Method::GET, &format!("/api/v1/players/{id}")), StatusCode::OK).await
    }

    pub async fn delete_me(&self) -> Result<()> {
        self.call(self.request(Method::DELETE, "/api/v1/players/me"), StatusCode::NO_CONTENT).await
    }

    /// A credential for a phone app (OwnTracks, OsmAnd, Traccar Client).
    pub async fn create_device(&self, name: &str) -> Result<DeviceCreated> {
        let req = self
            .request(Method::POST, "/api/v1/players/me/devices")
            .json(&CreateDevice { name: name.into() });
        self.call(req, StatusCode::CREATED).await
    }

    pub async fn devices(&self) -> Result<Devices> {
        self.call(self.request(Method::GET, "/api/v1/players/me/devices"), StatusCode::OK).await
    }

    pub async fn delete_device(&self, id: &str) -> Result<()> {
        let req = self.request(Method::DELETE, &format!("/api/v1/players/me/devices/{id}"));
        self.call(req, StatusCode::NO_CONTENT).await
    }

    pub async fn create_map(&self, name: &str, visibility: Option<Visibility>) -> Result<MapCreated> {
        let req =
            self.request(Method::POST, "/api/v1/maps").json(&CreateMap { name: name.into(), visibility });
        self.call(req, StatusCode::CREATED).await
    }

    pub async fn public_maps(&self) -> Result<PublicMaps> {
        self.call(self.request(Method::GET, "/api/v1/maps"), StatusCode::OK).await
    }

    pub async fn map(&self, id: &str) -> Result<MapDetail> {
        self.call(self.request(Method::GET, &format!("/api/v1/maps/{id}")), StatusCode::OK).await
    }

    pub async fn join(&self, id: &str, invite_code: Option<&str>) -> Result<MapDetail> {
        let mut req = self.request(Method::POST, &format!("/api/v1/maps/{id}/join"));
        if let Some(code) = invite_code {
            req = req.json(&JoinMap { invite_code: Some(code.into()) });
        }
        self.call(req, StatusCode::OK).await
    }

    pub async fn leave(&self, id: &str) -> Result<()> {
        self.call(self.request(Method::POST, &format!("/api/v1/maps/{id}/leave")), StatusCode::NO_CONTENT)
            .await
    }

    pub async fn post_location(&self, location: &LocationInput) -> Result<Accepted> {
        let req = self.request(Method::POST, "/api/v1/locations").json(location);
        self.call(req, StatusCode::ACCEPTED).await
    }

    pub async fn locations(&self, map: &str) -> Result<Locations> {
        self.call(self.request(Method::GET, &format!("/api/v1/maps/{map}/locations")), StatusCode::OK).await
    }

    pub async fn trail(
        &self,
        map: &str,
        player: &str,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<Trail> {
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("since", since.to_string()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let req = self.request(Method::GET, &format!("/api/v1/maps/{map}/trails/{player}")).query(&query);
        self.call(req, StatusCode::OK).await
    }

    /// Sends any request as given: the method, a path with its query, an optional body with
    /// its Content-Type. The token, if any, goes in the Authorization header.
    pub async fn raw(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Result<RawResponse> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| Error::Transport(e.to_string()))?;
        let mut req = self.request(method, path);
        if let Some((content_type, bytes)) = body {
            if !content_type.is_empty() {
                req = req.header(reqwest::header::CONTENT_TYPE, content_type);
            }
            req = req.body(bytes);
        }
        send_raw(req).await
    }

    /// Sends a bodiless request with extra headers, as given.
    pub async fn raw_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse> {
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| Error::Transport(e.to_string()))?;
        let mut req = self.request(method, path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        send_raw(req).await
    }

    /// Opens the live WebSocket, authenticated with the Authorization header.
    pub async fn connect(&self) -> Result<Live> {
        Live::connect(&self.base, self.token.as_deref(), false).await
    }

    /// Opens the live WebSocket with a fixed socket receive buffer of `bytes` (for tests of
    /// slow readers).
    pub async fn connect_with_receive_buffer(&self, bytes: u32) -> Result<Live> {
        Live::connect_with_receive_buffer(&self.base, self.token.as_deref(), bytes).await
    }

    /// Opens the live WebSocket with the token in the `access_token` query parameter, as a
    /// browser does.
    pub async fn connect_with_query_token(&self) -> Result<Live> {
        Live::connect(&self.base, self.token.as_deref(), true).await
    }
}

async fn send_raw(req: reqwest::RequestBuilder) -> Result<RawResponse> {
    let response = req.send().await.map_err(|e| Error::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| Error::Transport(e.to_string()))?.to_vec();
    Ok(RawResponse { status, headers, body })
}

pub(crate) fn api_error(status: u16, bytes: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => Error::Api { status, body },
        Err(_) => Error::Unexpected(format!(
            "status {status} without an error body: {}",
            String::from_utf8_lossy(bytes)
        )),
    }
}
