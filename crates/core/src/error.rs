//! The one error type the service answers with; the server maps each variant to a status.

use marauder_protocol::ErrorCode;

use crate::store::StoreError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    /// The message names the field at fault when there is one.
    #[error("{0}")]
    BadRequest(String),
    #[error("missing, malformed or unknown token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    #[error("a backend is unavailable; nothing was written")]
    Unavailable(String),
    /// Details are for the log only; the answer says nothing private.
    #[error("internal error")]
    Internal(String),
}

impl CoreError {
    pub fn bad_request(field: &str, problem: impl std::fmt::Display) -> Self {
        CoreError::BadRequest(format!("{field}: {problem}"))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::BadRequest(_) => ErrorCode::BadRequest,
            CoreError::Unauthorized => ErrorCode::Unauthorized,
            CoreError::Forbidden(_) => ErrorCode::Forbidden,
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::RateLimited { .. } => ErrorCode::RateLimited,
            CoreError::Unavailable(_) => ErrorCode::Unavailable,
            CoreError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for CoreError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(detail) => CoreError::Unavailable(detail),
            StoreError::Internal(detail) => CoreError::Internal(detail),
        }
    }
}
