//! Extractors whose rejections are problem documents naming the field:
//! [`Q`] for the query string, [`J`] for a JSON body, [`RawBody`] for a body
//! read as it is, [`P`] for path parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, NUL_REASON};

/// The query string, deserialized.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        if let Some((name, _)) =
            form_urlencoded_parse(query).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::invalid(name.replace('\0', ""), NUL_REASON));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(Q)
            .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))
    }
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

/// A JSON body, deserialized.
pub struct J<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json {
            return Err(ApiError::invalid(
                "content-type",
                "the body must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        reject_nul(&bytes)?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(J)
            .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))
    }
}

/// The body's bytes, whatever they are; over the body limit a 413 problem.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_error)
    }
}

fn body_error(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::invalid("body", e.body_text())
    }
}

/// An optional JSON body: empty means none.
pub fn optional_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    reject_nul(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de)
        .map(Some)
        .map_err(|e| invalid(e.path().to_string(), e.inner().to_string()))
}

/// A JSON text can only carry a NUL as the escape `\u0000` (a raw NUL byte
/// is not JSON): refuses a body with one, which no column could store.
fn reject_nul(bytes: &[u8]) -> Result<(), ApiError> {
    let mut backslashes = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        // An odd run of backslashes escapes this byte.
        if backslashes % 2 == 1 && b == b'u' && bytes[i + 1..].starts_with(b"0000") {
            return Err(ApiError::invalid("body", NUL_REASON));
        }
        backslashes = 0;
    }
    Ok(())
}

/// A serde error as a field error: the path when there is one, else the field
/// named in the message (`missing field `x``), else the whole input.
fn invalid(path: String, reason: String) -> ApiError {
    let name = if path.is_empty() || path == "." {
        field_in_message(&reason).unwrap_or_else(|| "body".to_owned())
    } else {
        path
    };
    ApiError::invalid(name, reason)
}

fn field_in_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_owned())
}

/// Path parameters. One that does not parse (`/alerts/abc`, an id out of
/// range) names no resource: 404, as a problem document.
pub struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(P(v)),
            Err(e) => Err(ApiError::NotFound(format!(
                "no such resource: {}",
                e.body_text()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reject_nul;

    #[test]
    fn nul_escapes_are_refused_and_escaped_backslashes_are_not() {
        assert!(reject_nul(br#"{"note": "a\u0000b"}"#).is_err());
        assert!(reject_nul(br#"{"a\u0000": 1}"#).is_err());
        assert!(reject_nul(br#"{"note": "\\\u0000"}"#).is_err());
        assert!(reject_nul(br#"{"note": "\\u0000 is how JSON spells NUL"}"#).is_ok());
        assert!(reject_nul(br#"{"note": "\u00e9t\u00e9"}"#).is_ok());
    }
}
