//! Pagination shared by every list: `limit` (default 100, at most 1000) and an
//! opaque `cursor`; answers are `{"items": [...], "next_cursor": "..." | null}`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` fetched with `limit + 1`: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode(&key(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// The limit asked for, checked.
pub fn limit(asked: Option<i64>) -> Result<i64, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

pub fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The key inside a cursor.
pub fn decode(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor returned by this API"))
}

/// A cursor holding two parts (e.g. org and id), split at the first NUL.
pub fn decode_pair(cursor: &str) -> Result<(String, String), ApiError> {
    let key = decode(cursor)?;
    key.split_once('\0')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| ApiError::invalid("cursor", "not a cursor returned by this API"))
}

pub fn pair(a: &str, b: &str) -> String {
    format!("{a}\0{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_pages_say_when_there_is_more() {
        assert_eq!(
            decode_pair(&encode(&pair("humen", "r-1"))).unwrap(),
            ("humen".into(), "r-1".into())
        );
        assert!(decode("!!").is_err());
        let p = Page::from_rows(vec![1, 2, 3], 2, |x| x.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(decode(p.next_cursor.as_deref().unwrap()).unwrap(), "2");
        assert!(
            Page::from_rows(vec![1, 2], 2, |x| x.to_string())
                .next_cursor
                .is_none()
        );
        assert!(limit(Some(0)).is_err());
        assert_eq!(limit(None).unwrap(), 100);
    }
}
