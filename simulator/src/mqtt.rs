//! Broker connection settings: parse an `mqtt://` / `mqtts://` URL and build
//! rumqttc [`MqttOptions`] from it.
//!
//! TLS (`mqtts://`) uses rustls (the workspace's `ring` crypto provider, set explicitly)
//! with the platform's root certificates (`rustls-native-certs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use thiserror::Error;

/// Default port of `mqtt://` (plain TCP).
pub const DEFAULT_PORT: u16 = 1883;
/// Default port of `mqtts://` (TLS).
pub const DEFAULT_TLS_PORT: u16 = 8883;

/// Where and as whom to connect to the broker.
#[derive(Clone)]
pub struct BrokerOptions {
    /// `mqtt://host[:port]` or `mqtts://host[:port]`; credentials in the URL are used when
    /// `username` is `None`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Every connection's client id starts with this; a suffix makes each one unique.
    pub client_id_prefix: String,
}

impl fmt::Debug for BrokerOptions {
    // Hand-written so that the password (and one embedded in the URL) is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerOptions")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("client_id_prefix", &self.client_id_prefix)
            .finish()
    }
}

/// A broker URL that failed to parse, or a TLS setup that failed.
#[derive(Debug, Error)]
pub enum BrokerUrlError {
    #[error("invalid broker URL {url:?}: {source}")]
    Parse {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("unsupported scheme {scheme:?} in broker URL {url:?}: expected mqtt:// or mqtts://")]
    Scheme { url: String, scheme: String },
    #[error("broker URL {url:?} has no host")]
    MissingHost { url: String },
    #[error(
        "broker URL {url:?} has a path, query or fragment; only scheme, host and port are used"
    )]
    Extra { url: String },
    #[error("cannot set up TLS for {url:?}: {reason}")]
    Tls { url: String, reason: String },
}

/// A parsed broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// Credentials embedded in the URL (`mqtt://user:pass@host`), percent-decoded.
    pub username: Option<String>,
    pub password: Option<String>,
}

impl BrokerAddr {
    /// Parses `mqtt://host[:port]` (default port 1883) or `mqtts://host[:port]` (8883).
    pub fn parse(url: &str) -> Result<Self, BrokerUrlError> {
        let shown = redact_url(url);
        let parsed = url::Url::parse(url).map_err(|source| BrokerUrlError::Parse {
            url: shown.clone(),
            source,
        })?;
        let (tls, default_port) = match parsed.scheme() {
            "mqtt" | "tcp" => (false, DEFAULT_PORT),
            "mqtts" | "ssl" => (true, DEFAULT_TLS_PORT),
            other => {
                return Err(BrokerUrlError::Scheme {
                    url: shown,
                    scheme: other.to_owned(),
                });
            }
        };
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(BrokerUrlError::MissingHost { url: shown }),
        };
        let has_path = !matches!(parsed.path(), "" | "/");
        if has_path || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(BrokerUrlError::Extra { url: shown });
        }
        let username = Some(parsed.username())
            .filter(|u| !u.is_empty())
            .map(percent_decode);
        let password = parsed.password().map(percent_decode);
        Ok(Self {
            host: host.to_owned(),
            port: parsed.port().unwrap_or(default_port),
            tls,
            username,
            password,
        })
    }
}

/// Decodes `%XX` escapes (as left in URL user info); malformed escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with any password replaced, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            // set_password only fails for URLs that cannot have credentials, and this one has.
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Connection tuning that differs between a publisher and a subscriber.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// rumqttc's outgoing in-flight window (unacknowledged QoS 1/2 publishes).
    pub inflight: u16,
    /// Capacity of the request channel between `AsyncClient` and `EventLoop`.
    pub request_cap: usize,
}

/// Largest packet either way: the contract's payload limit (64 KiB) plus room for the
/// topic and header.
pub const MAX_PACKET_SIZE: usize = 64 * 1024 + 1024;

/// Keep-alive interval of every connection.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);

/// Builds rumqttc options for one connection: clean session, keep-alive 30 s, 64 KiB
/// packets, the credentials from `broker` (or the URL), TLS for `mqtts://`.
pub fn mqtt_options(
    broker: &BrokerOptions,
    client_id: &str,
    tuning: Tuning,
) -> Result<MqttOptions, BrokerUrlError> {
    let addr = BrokerAddr::parse(&broker.url)?;
    let mut opts = MqttOptions::new(client_id, addr.host.clone(), addr.port);
    opts.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE)
        .set_inflight(tuning.inflight.max(1))
        .set_request_channel_capacity(tuning.request_cap.max(1));
    let username = broker.username.clone().or(addr.username.clone());
    let password = broker.password.clone().or(addr.password.clone());
    if let Some(user) = username {
        opts.set_credentials(user, password.unwrap_or_default());
    }
    if addr.tls {
        let config = rustls_config().map_err(|reason| BrokerUrlError::Tls {
            url: redact_url(&broker.url),
            reason,
        })?;
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    Ok(opts)
}

/// A rustls client configuration trusting the platform's root certificates. Built with
/// an explicit crypto provider so that it cannot panic on an ambiguous process default.
fn rustls_config() -> Result<rustls::ClientConfig, String> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        let why = loaded
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(format!("no platform root certificates found{why}"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(url: &str) -> BrokerOptions {
        BrokerOptions {
            url: url.to_owned(),
            username: None,
            password: None,
            client_id_prefix: "t".to_owned(),
        }
    }

    const TUNING: Tuning = Tuning {
        inflight: 100,
        request_cap: 10,
    };

    #[test]
    fn mqtt_url_with_and_without_port() {
        let a = BrokerAddr::parse("mqtt://127.0.0.1:18830").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("127.0.0.1", 18830, false)
        );
        let a = BrokerAddr::parse("mqtt://broker.example").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("broker.example", 1883, false)
        );
        let a = BrokerAddr::parse("mqtt://broker.example/").unwrap();
        assert_eq!(a.port, DEFAULT_PORT);
    }

    #[test]
    fn mqtts_url_defaults_to_8883() {
        let a = BrokerAddr::parse("mqtts://broker.example").unwrap();
        assert_eq!((a.port, a.tls), (8883, true));
        let a = BrokerAddr::parse("mqtts://broker.example:9999").unwrap();
        assert_eq!((a.port, a.tls), (9999, true));
    }

    #[test]
    fn ipv6_host_loses_brackets() {
        let a = BrokerAddr::parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 1884));
    }

    #[test]
    fn credentials_in_url_are_decoded() {
        let a = BrokerAddr::parse("mqtt://dev%40x:p%3Ass@localhost").unwrap();
        assert_eq!(a.username.as_deref(), Some("dev@x"));
        assert_eq!(a.password.as_deref(), Some("p:ss"));
    }

    #[test]
    fn bad_urls_are_rejected() {
        assert!(matches!(
            BrokerAddr::parse("http://localhost:1883"),
            Err(BrokerUrlError::Scheme { .. })
        ));
        assert!(matches!(
            BrokerAddr::parse("ws://localhost"),
            Err(BrokerUrlError::Scheme { .. })
        ));
        assert!(matches!(
            BrokerAddr::parse("localhost:1883"),
            Err(BrokerUrlError::Scheme { .. } | BrokerUrlError::Parse { .. })
        ));
        assert!(matches!(
            BrokerAddr::parse("not a url"),
            Err(BrokerUrlError::Parse { .. })
        ));
        assert!(matches!(
            BrokerAddr::parse("mqtt://localhost:99999"),
            Err(BrokerUrlError::Parse { .. })
        ));
        assert!(matches!(
            BrokerAddr::parse("mqtt://localhost/topic"),
            Err(BrokerUrlError::Extra { .. })
        ));
    }

    #[test]
    fn errors_and_debug_hide_the_password() {
        let err = BrokerAddr::parse("http://u:secret@localhost").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let mut b = broker("mqtt://u:secret@localhost");
        b.password = Some("hunter2".into());
        let shown = format!("{b:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn options_carry_address_and_credentials() {
        let mut b = broker("mqtt://u:p@localhost:1999");
        let o = mqtt_options(&b, "id-1", TUNING).unwrap();
        assert_eq!(o.broker_address(), ("localhost".to_owned(), 1999));
        assert_eq!(o.client_id(), "id-1");
        let login = o.credentials().map(|l| (l.username, l.password));
        assert_eq!(login, Some(("u".to_owned(), "p".to_owned())));
        assert_eq!(o.inflight(), 100);
        assert!(o.clean_session());
        b.username = Some("other".into());
        b.password = Some("pw".into());
        let o = mqtt_options(&b, "id-1", TUNING).unwrap();
        let login = o.credentials().map(|l| (l.username, l.password));
        assert_eq!(login, Some(("other".to_owned(), "pw".to_owned())));
    }

    #[test]
    fn mqtts_uses_tls_or_says_why_not() {
        match mqtt_options(&broker("mqtts://broker.example"), "id", TUNING) {
            Ok(o) => {
                assert_eq!(o.broker_address().1, 8883);
                assert!(matches!(o.transport(), Transport::Tls(_)));
            }
            // A machine without platform root certificates.
            Err(e) => assert!(matches!(e, BrokerUrlError::Tls { .. }), "{e}"),
        }
        let o = mqtt_options(&broker("mqtt://broker.example"), "id", TUNING).unwrap();
        assert!(matches!(o.transport(), Transport::Tcp));
    }
}
