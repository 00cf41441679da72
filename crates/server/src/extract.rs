//! Extractors that turn a request into typed input or a contract error: bearer auth, JSON
//! bodies (415, 413, 400 naming the field), and query parameters.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use marauder_core::protocol::ErrorCode;
use marauder_core::{Client, CoreError, Player};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::limits::ClientAddr;
use crate::state::AppState;

/// The authenticated player: `Authorization: Bearer <token>`, or on the WebSocket route,
/// the `access_token` query parameter.
pub struct Auth(pub Player);

impl<S: Send + Sync> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (player, _) = authenticated(parts, &AppState::from_ref(state)).await?;
        Ok(Auth(player))
    }
}

/// [`Auth`], keeping the token: a WebSocket checks now and then that it still opens a
/// session (a revocation whose notice it missed closes it all the same).
pub struct AuthWithToken(pub Player, pub String);

impl<S: Send + Sync> FromRequestParts<S> for AuthWithToken
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (player, token) = authenticated(parts, &AppState::from_ref(state)).await?;
        Ok(AuthWithToken(player, token))
    }
}

async fn authenticated(parts: &Parts, state: &AppState) -> Result<(Player, String), ApiError> {
    let token = bearer(parts).or_else(|| query_token(parts)).ok_or(CoreError::Unauthorized)?;
    // A presented token is a guess: an address that has presented too many unknown ones
    // is refused (429) before this one is looked at.
    let client = ClientAddr::of(parts, state);
    let player = state.limits.guess(client, state.app.authenticate(&token)).await?;
    Ok((player, token))
}

fn bearer(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

fn query_token(parts: &Parts) -> Option<String> {
    if parts.uri.path() != "/api/v1/ws" {
        return None;
    }
    let Query(params) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri).ok()?;
    params.get("access_token").cloned()
}

/// The `User-Agent` the client sent, kept with a session it signs in (as text; bytes that are
/// not UTF-8 replaced). The core cuts it to its length and drops control characters.
pub struct UserAgent(pub Option<String>);

impl UserAgent {
    pub fn client(&self) -> Client<'_> {
        Client { user_agent: self.0.as_deref() }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::USER_AGENT);
        Ok(UserAgent(value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())))
    }
}

/// A JSON object body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_json);
        let bytes = read_body(req, state).await?;
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Content-Type must be application/json",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// Like [`JsonBody`], but an empty body is `None`.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        if !content_type.as_deref().is_some_and(is_json) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Content-Type must be application/json",
            ));
        }
        parse_json(&bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

/// The body as it came, within the size limit (413 past it), whatever its type.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        read_body(req, state).await.map(RawBody)
    }
}

pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is over 64 KiB")
        } else {
            ApiError::bad_request(format!("could not read the body: {rejection}"))
        }
    })
}

/// Parses a JSON object; the error names the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::bad_request("body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end().map_err(|err| ApiError::bad_request(format!("malformed JSON: {err}")))?;
    Ok(value)
}

/// Deserializes a parsed JSON value; the error names the field at fault.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(describe)
}

/// A 400 whose message starts with the path of the field at fault, when there is one.
fn describe(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    if path != "." {
        ApiError::bad_request(format!("{path}: {inner}"))
    } else if inner.is_syntax() || inner.is_eof() {
        ApiError::bad_request(format!("malformed JSON: {inner}"))
    } else {
        ApiError::bad_request(inner.to_string())
    }
}

/// Query parameters, refusing any not in `allowed`.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn from_uri(uri: &axum::http::Uri, allowed: &[&str]) -> Result<Params, ApiError> {
        let Query(params) = Query::<HashMap<String, String>>::try_from_uri(uri)
            .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
        if let Some(unknown) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("{unknown}: unknown query parameter")));
        }
        Ok(Params(params))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.0
            .get(name)
            .map(|raw| raw.parse().map_err(|_| ApiError::bad_request(format!("{name}: must be an integer"))))
            .transpose()
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Request};

    use super::*;

    async fn user_agent(value: Option<HeaderValue>) -> Option<String> {
        let mut request = Request::builder().uri("/api/v1/players");
        if let Some(value) = value {
            request = request.header(header::USER_AGENT, value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        let Ok(agent) = UserAgent::from_request_parts(&mut parts, &()).await;
        agent.client().user_agent.map(str::to_owned)
    }

    #[tokio::test]
    async fn the_user_agent_reaches_the_core_as_sent() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(user_agent(Some(HeaderValue::from_static(firefox))).await.as_deref(), Some(firefox));
        assert_eq!(user_agent(None).await, None);
        // Bytes that are not visible ASCII are kept as text, not refused.
        let utf8 = HeaderValue::from_bytes("Zauberstab/1.0 (Ölfeld)".as_bytes()).unwrap();
        assert_eq!(user_agent(Some(utf8)).await.as_deref(), Some("Zauberstab/1.0 (Ölfeld)"));
        let latin1 = HeaderValue::from_bytes(b"Ger\xe4t/2").unwrap();
        assert_eq!(user_agent(Some(latin1)).await.as_deref(), Some("Ger\u{fffd}t/2"));
    }
}
