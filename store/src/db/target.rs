//! Where to connect: a connection string (a `postgres://` URL or libpq's
//! `key=value` form) whose TLS parameters are taken out and handled here
//! (tokio-postgres would refuse `verify-ca`, `verify-full` and `sslrootcert`),
//! merged with the configuration's TLS settings.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio_postgres::config::{Host, SslMode as PgSslMode};

use super::tls::{Connector, RootCert, SslMode, TlsPolicy};
use crate::StoreError;

/// The configuration's TLS settings (`database.sslmode`, `database.ca_file`);
/// the connection string's `sslmode` and `sslrootcert` are the same settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsOptions {
    pub sslmode: Option<SslMode>,
    /// A PEM file of CA certificates, or `system` for the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// A database to connect to, and how: parsed once, then used by every
/// connection the process makes (the pool, and creating the database).
#[derive(Clone)]
pub struct DbTarget {
    pub(crate) pg: tokio_postgres::Config,
    tls: TlsPolicy,
    pub(crate) connector: Connector,
}

impl DbTarget {
    /// `conn` is a connection string; `opts` the configuration's TLS settings.
    /// A setting given in both places must agree. Reads the CA file.
    pub fn new(conn: &str, opts: &TlsOptions) -> Result<Self, StoreError> {
        let (rest, params) = take_tls_params(conn)?;
        let mut pg: tokio_postgres::Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Url(super::error_text(&e)))?;
        let url_mode = params
            .sslmode
            .map(|m| m.parse::<SslMode>())
            .transpose()
            .map_err(StoreError::Url)?;
        let mode = agree(
            "sslmode",
            url_mode,
            opts.sslmode,
            "database.sslmode (SWEEPWATCH_DATABASE_SSLMODE)",
        )?;
        let root = agree(
            "the CA file",
            params.sslrootcert.map(PathBuf::from).map(root_cert),
            opts.ca_file.clone().map(root_cert),
            "database.ca_file (SWEEPWATCH_DATABASE_CA_FILE)",
        )?;
        let tls = TlsPolicy::new(mode, root)?;
        pg.ssl_mode(match tls.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let connector = tls.connector()?;
        Ok(Self { pg, tls, connector })
    }

    /// A connection string alone (its `sslmode` and `sslrootcert` included).
    pub fn parse(conn: &str) -> Result<Self, StoreError> {
        Self::new(conn, &TlsOptions::default())
    }

    pub fn dbname(&self) -> Option<&str> {
        self.pg.get_dbname()
    }

    /// The same server and settings, another database.
    pub fn with_dbname(&self, name: &str) -> Self {
        let mut t = self.clone();
        t.pg.dbname(name);
        t
    }

    pub fn sslmode(&self) -> SslMode {
        self.tls.mode
    }

    /// `user@host:port/db (sslmode=…, CA file …)`, without the password.
    pub fn describe(&self) -> String {
        let ports = self.pg.get_ports();
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match h {
                    Host::Tcp(name) => format!("{name}:{port}"),
                    Host::Unix(dir) => format!("{}:{port}", dir.display()),
                }
            })
            .collect();
        let user = self
            .pg
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!(
            "{user}{}/{} ({})",
            hosts.join(","),
            self.dbname().unwrap_or(""),
            self.tls.describe()
        )
    }

    /// One connection, outside the pool; its IO runs on a task of its own.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, StoreError> {
        let (client, conn) = self
            .pg
            .connect(self.connector.clone())
            .await
            .map_err(StoreError::Connect)?;
        tokio::spawn(conn);
        Ok(client)
    }
}

impl fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::str::FromStr for DbTarget {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::parse(s)
    }
}

fn root_cert(path: PathBuf) -> RootCert {
    if path.as_os_str() == "system" {
        RootCert::System
    } else {
        RootCert::File(path)
    }
}

fn agree<T: PartialEq + fmt::Debug>(
    what: &str,
    in_url: Option<T>,
    in_config: Option<T>,
    config_name: &str,
) -> Result<Option<T>, StoreError> {
    match (in_url, in_config) {
        (Some(a), Some(b)) if a != b => Err(StoreError::Tls(format!(
            "{what} is {a:?} in the database URL but {b:?} in {config_name}: set it in one place"
        ))),
        (a, b) => Ok(a.or(b)),
    }
}

/// The TLS parameters tokio-postgres cannot take.
#[derive(Debug, Default, PartialEq)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

const TAKEN: [&str; 2] = ["sslmode", "sslrootcert"];

/// Splits `sslmode` and `sslrootcert` off a connection string.
fn take_tls_params(conn: &str) -> Result<(String, TlsParams), StoreError> {
    let mut params = TlsParams::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => params.sslmode = Some(value),
        _ => params.sslrootcert = Some(value),
    };
    let rest = if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_owned(), params));
        };
        let mut kept = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            let key = percent_decode(k)?;
            if TAKEN.contains(&key.as_str()) {
                take(&key, percent_decode(v)?);
            } else {
                kept.push(piece);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let pairs = key_values(conn)?;
        if !pairs.iter().any(|(k, _)| TAKEN.contains(&k.as_str())) {
            return Ok((conn.to_owned(), params));
        }
        let mut kept = Vec::new();
        for (k, v) in pairs {
            if TAKEN.contains(&k.as_str()) {
                take(&k, v);
            } else {
                let quoted = v.replace('\\', "\\\\").replace('\'', "\\'");
                kept.push(format!("{k}='{quoted}'"));
            }
        }
        kept.join(" ")
    };
    Ok((rest, params))
}

fn percent_decode(s: &str) -> Result<String, StoreError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| StoreError::Url(format!("{s:?} is not UTF-8 once percent-decoded")))
}

/// libpq's `key = value` pairs (values bare or single-quoted, `\` escapes).
fn key_values(s: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut it = s.chars().peekable();
    let mut pairs = Vec::new();
    let bad = |why: &str| StoreError::Url(format!("invalid connection string: {why}"));
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() {
            if it.peek().is_some() {
                return Err(bad("a parameter has no name"));
            }
            return Ok(pairs);
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next() != Some('=') {
            return Err(bad(&format!("expected `=` after {key}")));
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let quoted = it.next_if_eq(&'\'').is_some();
        let mut value = String::new();
        loop {
            match it.next() {
                Some('\'') if quoted => break,
                Some(c) if !quoted && c.is_whitespace() => break,
                Some('\\') => value.extend(it.next()),
                Some(c) => value.push(c),
                None if quoted => return Err(bad(&format!("unterminated quoted value of {key}"))),
                None => break,
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(conn: &str) -> (String, Option<String>, Option<String>) {
        let (rest, p) = take_tls_params(conn).unwrap();
        (rest, p.sslmode, p.sslrootcert)
    }

    #[test]
    fn url_parameters_are_taken_out_and_decoded() {
        assert_eq!(
            split(
                "postgres://u:p@h:5/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca%20x.pem"
            ),
            (
                "postgres://u:p@h:5/db?application_name=x".into(),
                Some("verify-full".into()),
                Some("/etc/ca x.pem".into())
            )
        );
        assert_eq!(
            split("postgresql://h/db?sslmode=require"),
            ("postgresql://h/db".into(), Some("require".into()), None)
        );
        assert_eq!(
            split("postgres://h/db"),
            ("postgres://h/db".into(), None, None)
        );
    }

    #[test]
    fn key_value_parameters_are_taken_out() {
        let (rest, mode, root) =
            split("host=h dbname = 'my db' sslmode=verify-ca sslrootcert='/a b/c\\'s.pem'");
        assert_eq!(mode.as_deref(), Some("verify-ca"));
        assert_eq!(root.as_deref(), Some("/a b/c's.pem"));
        let cfg: tokio_postgres::Config = rest.parse().unwrap();
        assert_eq!(cfg.get_dbname(), Some("my db"));
        assert_eq!(split("host=h").0, "host=h");
        assert!(take_tls_params("host='h").is_err());
    }

    #[test]
    fn modes_and_roots_follow_libpq() {
        let t = DbTarget::parse("postgres://u@h/db").unwrap();
        assert_eq!(t.sslmode(), SslMode::Prefer);
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Prefer);
        let t = DbTarget::parse("postgres://u@h/db?sslmode=verify-ca").unwrap();
        assert_eq!(t.pg.get_ssl_mode(), PgSslMode::Require);
        assert!(
            t.describe().contains("sslmode=verify-ca"),
            "{}",
            t.describe()
        );
        let t = DbTarget::parse("postgres://u:secret@h:6/db?sslmode=disable").unwrap();
        assert_eq!(t.describe(), "u@h:6/db (sslmode=disable)");
        assert!(!format!("{t:?}").contains("secret"));
        let e = DbTarget::parse("postgres://h/db?sslmode=verify-fulll")
            .err()
            .unwrap();
        assert!(e.to_string().contains("\"verify-fulll\""), "{e}");
        let e = DbTarget::parse("postgres://h/db?sslmode=require&sslrootcert=system")
            .err()
            .unwrap();
        assert!(e.to_string().contains("verify-full"), "{e}");
        let e = DbTarget::parse("postgres://h/db?sslrootcert=/nonexistent/ca.pem")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("/nonexistent/ca.pem") && e.to_string().contains("No such file"),
            "{e}"
        );
    }

    #[test]
    fn url_and_configuration_must_agree() {
        let opts = TlsOptions {
            sslmode: Some(SslMode::VerifyFull),
            ca_file: None,
        };
        let t = DbTarget::new("postgres://h/db", &opts).unwrap();
        assert_eq!(t.sslmode(), SslMode::VerifyFull);
        let t = DbTarget::new("postgres://h/db?sslmode=verify-full", &opts).unwrap();
        assert_eq!(t.sslmode(), SslMode::VerifyFull);
        let e = DbTarget::new("postgres://h/db?sslmode=require", &opts)
            .err()
            .unwrap();
        assert!(e.to_string().contains("SWEEPWATCH_DATABASE_SSLMODE"), "{e}");
    }

    #[test]
    fn other_errors_name_their_cause() {
        let e = DbTarget::parse("postgres://h/db?sslcert=x").err().unwrap();
        assert_eq!(
            e.to_string(),
            "invalid database URL: invalid connection string: unknown option `sslcert`"
        );
    }
}
