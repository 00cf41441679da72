//! [`ApiError`]: every failure of a request, mapped to one status and the contract's body;
//! and [`json_errors`], which gives that body to the errors axum answers by itself.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use marauder_core::CoreError;
use marauder_core::protocol::{ErrorBody, ErrorCode, ErrorDetail};

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into(), retry_after_secs: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code, message: self.message.clone() } }
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        match &err {
            CoreError::Internal(detail) => tracing::error!(%detail, "internal error"),
            CoreError::Unavailable(detail) => tracing::warn!(%detail, "backend unavailable"),
            _ => {}
        }
        let retry_after_secs = match &err {
            CoreError::RateLimited { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        };
        ApiError { code: err.code(), message: err.to_string(), retry_after_secs }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed on this route")
}

/// The longest message kept from an error axum wrote as plain text (its rejections are short).
const MAX_REJECTION_TEXT: usize = 1024;

/// Rewrites an error response that is not JSON (an extractor's rejection, such as a path
/// with invalid percent-encoding) into the contract's body, keeping its status and headers
/// and its text as the message.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_lowercase(),
        false => text,
    };
    let body = ApiError::new(code_of(status), message).body();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(serde_json::to_vec(&body).unwrap_or_default()))
}

/// The contract's code for a status; an unlisted one gets the code of its class.
fn code_of(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::RequestTimeout,
        413 => ErrorCode::PayloadTooLarge,
        414 => ErrorCode::UriTooLong,
        415 => ErrorCode::UnsupportedMediaType,
        429 => ErrorCode::RateLimited,
        431 => ErrorCode::HeaderFieldsTooLarge,
        503 => ErrorCode::Unavailable,
        500.. => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    }
}
