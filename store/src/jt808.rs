//! JT/T 808 terminals: a terminal is the device whose `jt808_phone` is the
//! phone number of its headers. Registration finds or creates that device and
//! gives it an authentication code once; authentication checks the code.

use tokio_postgres::{Client, Row};

use crate::StoreError;

/// A terminal's device, as registration and authentication find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub device_id: i32,
    pub org: String,
    pub name: String,
    /// `sweeper`, `washer`, `collector`, `worker` or `unknown`.
    pub kind: String,
    pub auth_code: String,
}

impl Terminal {
    fn from_row(r: &Row) -> Self {
        Self {
            device_id: r.get(0),
            org: r.get(1),
            name: r.get(2),
            kind: r.get(3),
            auth_code: r.get(4),
        }
    }
}

/// A new authentication code: 122 random bits from PostgreSQL's
/// `gen_random_uuid()` (a cryptographic generator), as 32 hex digits.
const NEW_CODE: &str = "replace(gen_random_uuid()::text, '-', '')";

/// The device of the terminal `phone`: the device mapped to it, else a new one
/// named `name` in `org` of kind `kind` (an existing `org`/`name` device with
/// no phone is mapped instead). Its code is made the first time and kept, so
/// registering again answers the same code. Safe to run concurrently.
pub async fn register(
    client: &Client,
    phone: &str,
    org: &str,
    name: &str,
    kind: &str,
) -> Result<Terminal, StoreError> {
    let mapped = format!(
        "UPDATE devices SET jt808_auth_code = coalesce(jt808_auth_code, {NEW_CODE})
         WHERE jt808_phone = $1 RETURNING id, org, name, kind, jt808_auth_code"
    );
    if let Some(r) = client.query_opt(&mapped, &[&phone]).await? {
        return Ok(Terminal::from_row(&r));
    }
    let insert = format!(
        "INSERT INTO devices (org, name, kind, jt808_phone, jt808_auth_code)
         VALUES ($1, $2, $3, $4, {NEW_CODE})
         ON CONFLICT (org, name) DO UPDATE
            SET jt808_phone = excluded.jt808_phone,
                jt808_auth_code = coalesce(devices.jt808_auth_code, excluded.jt808_auth_code)
            WHERE devices.jt808_phone IS NULL OR devices.jt808_phone = excluded.jt808_phone
         RETURNING id, org, name, kind, jt808_auth_code"
    );
    if let Some(r) = client
        .query_opt(&insert, &[&org, &name, &kind, &phone])
        .await?
    {
        return Ok(Terminal::from_row(&r));
    }
    // A concurrent registration of the same phone won the race: take its row.
    let r = client.query_one(&mapped, &[&phone]).await?;
    Ok(Terminal::from_row(&r))
}

/// The terminal `phone` if `code` is its authentication code.
pub async fn authenticate(
    client: &Client,
    phone: &str,
    code: &str,
) -> Result<Option<Terminal>, StoreError> {
    let row = client
        .query_opt(
            "SELECT id, org, name, kind, jt808_auth_code FROM devices
             WHERE jt808_phone = $1 AND jt808_auth_code = $2",
            &[&phone, &code],
        )
        .await?;
    Ok(row.as_ref().map(Terminal::from_row))
}
