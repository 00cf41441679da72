//! A request's body, read whole before any handler runs: refused at once when its
//! `Content-Length` is over the contract's 64 KiB (so an `Expect: 100-continue` client is
//! answered 413 and never told to send it), and given a deadline for all of it to arrive, so
//! a client that stops halfway is answered 408 and disconnected instead of holding the
//! connection open. hyper has no body timeout of its own.
//!
//! Every body the API accepts is small, so reading it here costs one copy of at most 64 KiB;
//! extractors then see a complete body.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use marauder_core::protocol::{ErrorCode, MAX_BODY_BYTES};

use crate::error::ApiError;

pub async fn read_whole(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        // Not read: hyper sends `100 Continue` only when the body is first polled.
        return closing(too_large());
    }
    if HttpBody::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => return closing(too_large()),
        Ok(Err(err)) => {
            tracing::debug!(%err, "reading a request body failed");
            return closing(ApiError::bad_request("the request body could not be read"));
        }
        Err(_) => {
            let message = format!("the request body did not arrive within {} s", timeout.as_secs_f64());
            return closing(ApiError::new(ErrorCode::RequestTimeout, message));
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, "request body is over 64 KiB")
}

/// The rest of the body, if any, is not read: the connection cannot serve another request.
fn closing(err: ApiError) -> Response {
    let mut response = err.into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
