//! API tokens created through the API (the configuration file's tokens are
//! not stored here). A token is kept by the SHA-256 of its secret only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};

use crate::StoreError;

/// A live token as the authenticator needs it: with its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveToken {
    pub id: i64,
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Empty: every org.
    pub orgs: Vec<String>,
    /// Lower-case hex SHA-256 of the secret.
    pub sha256: String,
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// Empty: every org.
    pub orgs: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
}

const ROW_COLUMNS: &str = "id, name, role, orgs, created_at, created_by, last_used_at";

fn token_row(r: &Row) -> TokenRow {
    TokenRow {
        id: r.get(0),
        name: r.get(1),
        role: r.get(2),
        orgs: r.get(3),
        created_at: r.get(4),
        created_by: r.get(5),
        last_used_at: r.get(6),
    }
}

/// Every token not revoked, with its hash: what the authenticator caches.
pub async fn live_hashes(client: &impl GenericClient) -> Result<Vec<LiveToken>, StoreError> {
    let rows = client
        .query(
            "SELECT id, name, role, orgs, sha256 FROM api_tokens WHERE revoked_at IS NULL",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LiveToken {
            id: r.get(0),
            name: r.get(1),
            role: r.get(2),
            orgs: r.get(3),
            sha256: r.get(4),
        })
        .collect())
}

/// Every token not revoked, by name.
pub async fn live(client: &impl GenericClient) -> Result<Vec<TokenRow>, StoreError> {
    let sql =
        format!("SELECT {ROW_COLUMNS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY name");
    Ok(client
        .query(&sql, &[])
        .await?
        .iter()
        .map(token_row)
        .collect())
}

/// The live token called `name`, locked until the transaction ends.
pub async fn live_for_update(
    client: &impl GenericClient,
    name: &str,
) -> Result<Option<TokenRow>, StoreError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM api_tokens WHERE name = $1 AND revoked_at IS NULL FOR UPDATE"
    );
    Ok(client
        .query_opt(&sql, &[&name])
        .await?
        .as_ref()
        .map(token_row))
}

/// A new token. A live token of the same name is refused
/// ([`Constraint::TokenName`](crate::Constraint::TokenName)).
pub async fn insert(
    client: &impl GenericClient,
    name: &str,
    role: &str,
    orgs: &[String],
    sha256: &str,
    created_by: &str,
) -> Result<TokenRow, crate::WriteError> {
    let sql = format!(
        "INSERT INTO api_tokens (name, role, orgs, sha256, created_by) VALUES ($1, $2, $3, $4, $5)
         RETURNING {ROW_COLUMNS}"
    );
    let row = client
        .query_one(&sql, &[&name, &role, &orgs, &sha256, &created_by])
        .await?;
    Ok(token_row(&row))
}

/// Revokes the token `id`; false when it was revoked already.
pub async fn revoke(client: &impl GenericClient, id: i64, by: &str) -> Result<bool, StoreError> {
    let n = client
        .execute(
            "UPDATE api_tokens SET revoked_at = now(), revoked_by = $2
             WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &by],
        )
        .await?;
    Ok(n == 1)
}

/// Records when tokens were last used, in one statement; never moves a time back.
pub async fn touch(
    client: &impl GenericClient,
    used: &[(i64, DateTime<Utc>)],
) -> Result<(), StoreError> {
    if used.is_empty() {
        return Ok(());
    }
    let (ids, ats): (Vec<i64>, Vec<DateTime<Utc>>) = used.iter().copied().unzip();
    client
        .execute(
            "UPDATE api_tokens t SET last_used_at = greatest(t.last_used_at, u.at)
             FROM unnest($1::int8[], $2::timestamptz[]) AS u(id, at) WHERE t.id = u.id",
            &[&ids, &ats],
        )
        .await?;
    Ok(())
}
