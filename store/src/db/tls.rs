//! TLS to PostgreSQL with libpq's `sslmode` semantics, on rustls (ring).
//!
//! tokio-postgres only knows `disable`, `prefer` and `require` and leaves the
//! certificate check to the TLS connector, so the check is decided here:
//!
//! | sslmode | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | if the server offers it | none; the chain when a CA file is given (as libpq) |
//! | `require` | always | none; the chain when a CA file is given (as libpq) |
//! | `verify-ca` | always | the chain, against the CA file or the system's roots; not the host name |
//! | `verify-full` | always | the chain and the host name |
//!
//! A failed handshake is reported as a [`HandshakeError`]: the host, the mode,
//! what the certificate was checked against, rustls's reason, and what to do.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{CertificateError, RootCertStore};
use serde::{Deserialize, Serialize};
use tokio_postgres::Socket;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

mod verify;
use verify::{ChainOnly, NoCheck};

/// libpq's `sslmode`, less `allow` (plain first, TLS if refused: nobody wants it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl std::str::FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => {
                return Err("sslmode \"allow\" is not supported: use disable or prefer".into());
            }
            other => {
                return Err(format!(
                    "sslmode {other:?}: use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the server's certificate is checked against (libpq's `sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// The certificates of a PEM file.
    File(PathBuf),
    /// The system's trust store (`sslrootcert=system`).
    System,
}

/// The TLS half of a connection target: the mode and the roots, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsPolicy {
    pub mode: SslMode,
    pub root: Option<RootCert>,
}

/// How the certificate is checked, once the mode and the roots are known.
enum Check {
    None,
    Chain(RootCertStore),
    ChainAndName(RootCertStore),
}

impl TlsPolicy {
    /// libpq's rules: `sslrootcert=system` only with `verify-full`; a CA file
    /// makes `prefer`/`require` check the chain; `verify-*` without a CA file
    /// use the system's roots (libpq would want `~/.postgresql/root.crt`).
    pub fn new(mode: Option<SslMode>, root: Option<RootCert>) -> Result<Self, StoreError> {
        let mode = match (mode, &root) {
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (Some(m), Some(RootCert::System)) if m != SslMode::VerifyFull => {
                return Err(StoreError::Tls(format!(
                    "sslrootcert=system needs sslmode=verify-full, not {m} (as libpq)"
                )));
            }
            (m, _) => m.unwrap_or(SslMode::Prefer),
        };
        Ok(Self { mode, root })
    }

    /// In words, for logs and errors: `sslmode=verify-full, CA file /etc/...`.
    pub fn describe(&self) -> String {
        let against = match (&self.root, self.mode) {
            (_, SslMode::Disable) => return "sslmode=disable".into(),
            (Some(RootCert::File(p)), _) => format!("CA file {}", p.display()),
            (Some(RootCert::System), _) => "the system's CA certificates".into(),
            (None, m) if m.verifies() => "the system's CA certificates".into(),
            (None, _) => "certificate not checked".into(),
        };
        format!("sslmode={}, {against}", self.mode)
    }

    fn check(&self) -> Result<Check, StoreError> {
        let roots = match &self.root {
            Some(RootCert::File(path)) => Some(roots_from_file(path)?),
            Some(RootCert::System) => Some(system_roots()?),
            None if self.mode.verifies() => Some(system_roots()?),
            None => None,
        };
        Ok(match (self.mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => Check::ChainAndName(roots),
            (_, Some(roots)) => Check::Chain(roots),
            (_, None) => Check::None,
        })
    }

    /// The connector for tokio-postgres. Reads the CA file now, so a missing
    /// or empty one is reported at start-up, not at the first connection.
    pub fn connector(&self) -> Result<Connector, StoreError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algs = provider.signature_verification_algorithms;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Tls(format!("TLS set-up: {e}")))?;
        let config = match self.check()? {
            Check::ChainAndName(roots) => builder.with_root_certificates(roots),
            Check::Chain(roots) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly { roots, algs })),
            Check::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCheck { algs })),
        }
        .with_no_client_auth();
        Ok(Connector {
            inner: MakeRustlsConnect::new(config),
            policy: Arc::new(self.clone()),
        })
    }
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, StoreError> {
    let what = || {
        format!(
            "CA file {} (database.ca_file, or sslrootcert in the URL)",
            path.display()
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StoreError::Tls(format!("{}: {e}", what())))?;
    if certs.is_empty() {
        return Err(StoreError::Tls(format!(
            "{}: no PEM certificate in it",
            what()
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| StoreError::Tls(format!("{}: {e}", what())))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(StoreError::Tls(
            "the database's certificate is to be verified, but there is no CA file \
             (database.ca_file, or sslrootcert in the URL) and no system CA certificates \
             (install ca-certificates)"
                .into(),
        ));
    }
    Ok(roots)
}

/// tokio-postgres-rustls's connector, with handshake failures that say where,
/// how, why, and what to do ([`HandshakeError`]).
#[derive(Clone)]
pub struct Connector {
    inner: MakeRustlsConnect,
    policy: Arc<TlsPolicy>,
}

type Inner = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;

impl MakeTlsConnect<Socket> for Connector {
    type Stream = <Inner as TlsConnect<Socket>>::Stream;
    type TlsConnect = Connect<Inner>;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<Self::TlsConnect, Self::Error> {
        Ok(Connect {
            inner: MakeTlsConnect::<Socket>::make_tls_connect(&mut self.inner, host)?,
            host: host.to_owned(),
            policy: self.policy.clone(),
        })
    }
}

pub struct Connect<T> {
    inner: T,
    host: String,
    policy: Arc<TlsPolicy>,
}

impl<S, T> TlsConnect<S> for Connect<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
    T::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Stream = T::Stream;
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<T::Stream, HandshakeError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let Connect {
            inner,
            host,
            policy,
        } = self;
        let handshake = inner.connect(stream);
        Box::pin(async move {
            handshake.await.map_err(|e| {
                let cause = e.into();
                HandshakeError {
                    host,
                    policy: policy.describe(),
                    hint: hint(rustls_error(&*cause), &policy),
                    cause,
                }
            })
        })
    }
}

/// The rustls error in `e` (tokio-rustls wraps it in an `io::Error`).
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref()?.downcast_ref(),
        None => e.downcast_ref(),
    }
}

/// A TLS handshake with the database server failed.
#[derive(Debug)]
pub struct HandshakeError {
    host: String,
    policy: String,
    hint: Option<String>,
    cause: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TLS handshake with {} failed ({}): {}",
            self.host, self.policy, self.cause
        )?;
        if let Some(hint) = &self.hint {
            write!(f, ". {hint}")?;
        }
        Ok(())
    }
}

// The cause is part of the message: no `source`, so a printed chain says it once.
impl std::error::Error for HandshakeError {}

impl HandshakeError {
    /// Whether retrying cannot help: the certificate or the protocol, not the network.
    pub fn is_permanent(&self) -> bool {
        rustls_error(&*self.cause).is_some()
    }
}

/// What to do about a failed handshake.
fn hint(e: Option<&rustls::Error>, policy: &TlsPolicy) -> Option<String> {
    let against = match &policy.root {
        Some(RootCert::File(p)) => format!("the CA in {}", p.display()),
        _ => "a CA this system trusts".into(),
    };
    let set_ca = "set database.ca_file (SWEEPWATCH_DATABASE_CA_FILE, or sslrootcert= in the URL) \
                  to the CA that issued the server's certificate";
    let cert = match e? {
        rustls::Error::InvalidCertificate(c) => c,
        rustls::Error::AlertReceived(_) | rustls::Error::PeerIncompatible(_) => {
            return Some(
                "The server refused the handshake: check its ssl_* settings \
                 (ssl_min_protocol_version, ssl_ciphers)"
                    .into(),
            );
        }
        _ => return None,
    };
    let unchecked = if policy.mode.verifies() {
        "or use sslmode=require without a CA file to encrypt without checking the certificate"
    } else {
        "or leave the CA file out: sslmode=require without one encrypts without checking \
         the certificate"
    };
    Some(match cert {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            format!("The server's certificate was not issued by {against}: {set_ca}, {unchecked}")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "The server's certificate is for another host name: connect to a name the \
             certificate is valid for, or use sslmode=verify-ca to check only that a trusted \
             CA issued it"
                .into()
        }
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => {
            "Renew the server's certificate (or check this machine's clock)".into()
        }
        _ => format!("Check the server's certificate (ssl_cert_file) against {against}: {set_ca}"),
    })
}
