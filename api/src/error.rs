//! One error type for every handler, answered as `application/problem+json`
//! (RFC 9457). Internal errors are logged with their cause chain and answered
//! without internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// PostgreSQL stores no NUL character in text or JSON; neither does the API.
pub const NUL_REASON: &str = "must not contain NUL characters";

/// A field that failed validation: the `invalid-params` extension of RFC 9457.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvalidParam {
    pub name: String,
    pub reason: String,
}

impl InvalidParam {
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Input that parsed but does not validate; each field named.
    #[error("invalid request")]
    Invalid(Vec<InvalidParam>),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// Over a limit: `why` says which.
    #[error("{why}")]
    TooManyRequests {
        retry_after_s: u64,
        why: &'static str,
    },
    #[error("service unavailable")]
    Unavailable,
    #[error("the request did not complete within {0} s; retry later")]
    TimedOut(u64),
    #[error("this path does not take that method")]
    MethodNotAllowed,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![InvalidParam::new(name, reason)])
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        if let store::StoreError::Db(db) = &e
            && matches!(
                db.code().map(|c| c.code()),
                // character_not_in_repertoire, untranslatable_character: a NUL in
                // text or JSON that slipped past the extractors' check.
                Some("22021" | "22P05")
            )
        {
            return ApiError::invalid("request", NUL_REASON);
        }
        if e.is_transient() {
            tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "database unavailable");
            return ApiError::Unavailable;
        }
        ApiError::Internal(Box::new(e))
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        store::StoreError::from(e).into()
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        store::StoreError::from(e).into()
    }
}

/// The problem document (RFC 9457), `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `title` and `status` say what happened.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields that failed validation (422 only).
    #[serde(rename = "invalid-params", skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub invalid_params: Vec<InvalidParam>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let ApiError::Internal(e) = &self {
            let mut chain = format!("{e}");
            let mut src = e.source();
            while let Some(s) = src {
                chain.push_str(&format!(": {s}"));
                src = s.source();
            }
            tracing::error!(error = chain, "request failed");
        }
        let (detail, invalid_params) = match &self {
            ApiError::Invalid(params) => (
                params
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
                params.clone(),
            ),
            ApiError::Internal(_) => ("an internal error occurred; it was logged".into(), vec![]),
            ApiError::Unavailable => ("the database is unavailable; retry later".into(), vec![]),
            other => (other.to_string(), vec![]),
        };
        let invalid_params = invalid_params
            .into_iter()
            .map(|p| InvalidParam {
                name: clip(p.name, MAX_ECHO),
                reason: clip(p.reason, MAX_ECHO),
            })
            .collect();
        let problem = Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: clip(detail, 2 * MAX_ECHO),
            invalid_params,
        };
        problem_response(status, &problem, &self)
    }
}

/// The most characters of a client's input a problem repeats: enough to
/// recognise the value, while a hostile 60 KiB parameter is not echoed back
/// (nor written into logs that quote the answer).
const MAX_ECHO: usize = 300;

/// `s` cut to `max` characters, with an ellipsis when it was longer.
fn clip(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

fn problem_response(status: StatusCode, problem: &Problem, err: &ApiError) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    match err {
        ApiError::Unauthorized(_) => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sweepwatch\""),
            );
        }
        ApiError::TooManyRequests { retry_after_s, .. } => {
            if let Ok(v) = HeaderValue::from_str(&retry_after_s.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
        _ => {}
    }
    resp
}

/// A write the database refused is the client's (409 for a duplicate, 422 for
/// a reference to nothing or a failed check), named by the field the
/// constraint is about; any other failure is ours.
impl From<store::WriteError> for ApiError {
    fn from(e: store::WriteError) -> Self {
        use store::Violation;
        match e {
            store::WriteError::Refused {
                violation,
                constraint,
            } => {
                let field = field_of(constraint);
                match violation {
                    Violation::Unique => ApiError::Conflict(format!("{field}: already exists")),
                    Violation::ForeignKey => {
                        ApiError::invalid(field, "refers to something that does not exist")
                    }
                    Violation::Check => ApiError::invalid(field, "violates a constraint"),
                }
            }
            store::WriteError::Store(e) => e.into(),
        }
    }
}

/// The request field a constraint of the schema is about.
fn field_of(c: store::Constraint) -> &'static str {
    use store::Constraint as C;
    match c {
        C::DeviceName => "device",
        C::DeviceOwntracksId => "owntracks_id",
        C::DeviceKind => "kind",
        C::AreaId | C::ShiftId => "id",
        C::AreaOrg | C::ShiftOrg => "org",
        C::AssignmentDevice => "device_id",
        C::AssignmentArea => "area",
        C::AssignmentShift => "shift",
        C::AssignmentRange => "valid_to",
        C::TokenName => "name",
        C::TokenSecret => "token",
        C::JustificationRange => "from_m",
        C::Other => "request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_len(e: ApiError) -> usize {
        axum::body::to_bytes(e.into_response().into_body(), usize::MAX)
            .await
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn problems_repeat_at_most_a_few_hundred_characters_of_input() {
        assert_eq!(clip("short".into(), 10), "short");
        assert_eq!(clip("长长长长".into(), 2), "长长…");
        let long = "'".repeat(60_000);
        let n = body_len(ApiError::invalid(long.clone(), long.clone())).await;
        assert!(n < 6 * MAX_ECHO, "{n} bytes");
        let n = body_len(ApiError::not_found(long)).await;
        assert!(n < 3 * MAX_ECHO, "{n} bytes");
    }
}
