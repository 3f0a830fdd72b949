//! The API's errors, and the one place they become AWS error responses
//! (`{"__type": CODE, "message": TEXT}` with AWS's HTTP status).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error the API answers with. `code` is AWS's error code
/// (`StateMachineDoesNotExist`, `ValidationException`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn invalid_arn(arn: &str) -> Self {
        Self::new("InvalidArn", format!("Invalid Arn: '{arn}'"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalFailure", message)
    }

    /// Whether the server failed, rather than the request (HTTP 500).
    pub fn is_internal(&self) -> bool {
        self.status() == StatusCode::INTERNAL_SERVER_ERROR
    }

    fn status(&self) -> StatusCode {
        match self.code {
            "InternalFailure" => StatusCode::INTERNAL_SERVER_ERROR,
            "RequestTimeoutException" => StatusCode::REQUEST_TIMEOUT,
            "MissingAuthenticationTokenException" | "AccessDeniedException" => {
                StatusCode::FORBIDDEN
            }
            "RequestEntityTooLargeException" => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<windlass_store::Error> for ApiError {
    /// Logged where the request is answered (`handle` in lib.rs).
    fn from(error: windlass_store::Error) -> Self {
        ApiError::internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message }).to_string();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::CONTENT_TYPE),
        );
        if let Ok(code) = HeaderValue::from_str(self.code) {
            headers.insert("x-amzn-ErrorType", code);
        }
        response
    }
}
