//! Layered configuration: defaults, then a TOML file, then `SWEEPWATCH_*`
//! environment variables. Secrets are never printed.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ingest::{Jt808Config, MqttConfig, PipelineConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub mqtt: MqttConfig,
    pub pipeline: PipelineConfig,
    /// Active/standby: the ingest lease (several instances, one client id).
    pub ha: crate::ha::HaConfig,
    /// The JT/T 808 listener for vehicle terminals (off unless `listen` is set).
    pub jt808: Jt808Config,
    pub http: HttpConfig,
    /// The dispatch API: bearer tokens (SHA-256 hashes only), CORS, limits.
    pub api: api::ApiConfig,
    /// The dispatch dashboard: where its built files are, and its base map.
    pub web: WebConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/dbname`
    pub url: String,
    /// Connections in the pool (the writer uses one, the API the rest).
    pub pool_size: usize,
    /// Use TimescaleDB: `auto` (when installed), `on` (required), `off`.
    pub timescaledb: store::Timescale,
    /// TLS as libpq's `sslmode`: `disable`, `prefer` (unset: TLS when the
    /// server offers it, unchecked), `require`, `verify-ca`, `verify-full`.
    /// The URL's `?sslmode=` is the same setting; both must agree.
    pub sslmode: Option<store::SslMode>,
    /// CA certificates (PEM) the server's certificate is checked against
    /// (the URL's `sslrootcert`); `system` for the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl DatabaseConfig {
    /// Where and how to connect: the URL with the TLS settings. Reads the CA file.
    pub fn target(&self) -> Result<store::DbTarget, store::StoreError> {
        let tls = store::TlsOptions {
            sslmode: self.sslmode,
            ca_file: self.ca_file.clone(),
        };
        store::DbTarget::new(&self.url, &tls)
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/sweepwatch".into(),
            pool_size: 8,
            timescaledb: store::Timescale::Auto,
            sslmode: None,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub addr: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
        }
    }
}

/// The dispatch dashboard (web/, built with `npm run build`), served at `/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Directory of the built page (index.html and its assets), relative to
    /// the working directory unless absolute.
    pub dir: String,
    /// Optional raster tile URL template (`{z}/{x}/{y}`, `{s}`) drawn under
    /// the areas; empty: no base map, the areas are the map.
    pub tile_url: String,
    /// Attribution shown for the tiles (required by most tile licences).
    pub tile_attribution: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            dir: "web/dist".into(),
            tile_url: String::new(),
            tile_attribution: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `info,ingest=debug`.
    pub filter: String,
    /// `text` or `json` (one JSON object per line).
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: "text".into(),
        }
    }
}

/// The environment variables and what each sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("SWEEPWATCH_DATABASE_URL", "database.url"),
    ("SWEEPWATCH_DATABASE_SSLMODE", "database.sslmode"),
    ("SWEEPWATCH_DATABASE_CA_FILE", "database.ca_file"),
    ("SWEEPWATCH_MQTT_URL", "mqtt.url"),
    ("SWEEPWATCH_MQTT_CLIENT_ID", "mqtt.client_id"),
    ("SWEEPWATCH_MQTT_USERNAME", "mqtt.username"),
    ("SWEEPWATCH_MQTT_PASSWORD", "mqtt.password"),
    ("SWEEPWATCH_MQTT_CA_FILE", "mqtt.ca_file"),
    (
        "SWEEPWATCH_ORGS",
        "mqtt.orgs (comma-separated; empty = all)",
    ),
    (
        "SWEEPWATCH_JT808_LISTEN",
        "jt808.listen (empty: no listener)",
    ),
    ("SWEEPWATCH_JT808_ORG", "jt808.org"),
    ("SWEEPWATCH_JT808_KIND", "jt808.kind"),
    ("SWEEPWATCH_HTTP_ADDR", "http.addr"),
    (
        "SWEEPWATCH_API_TOKENS",
        "api.tokens, added (comma-separated name:role:token, or name:role@org1+org2:token \
         for a token limited to orgs; hashed when read)",
    ),
    ("SWEEPWATCH_API_RATE_PER_S", "api.rate_per_s"),
    ("SWEEPWATCH_API_RATE_BURST", "api.rate_burst"),
    (
        "SWEEPWATCH_API_CORS_ORIGINS",
        "api.cors_origins (comma-separated)",
    ),
    (
        "SWEEPWATCH_API_AUTH_FAILURES_BURST",
        "api.auth_failures_burst",
    ),
    (
        "SWEEPWATCH_API_AUTH_FAILURES_PER_MIN",
        "api.auth_failures_per_min",
    ),
    (
        "SWEEPWATCH_API_TRUSTED_PROXIES",
        "api.trusted_proxies (comma-separated addresses or CIDR ranges)",
    ),
    (
        "SWEEPWATCH_API_STREAM_MAX_PER_TOKEN",
        "api.stream_max_per_token",
    ),
    (
        "SWEEPWATCH_API_HEADER_READ_TIMEOUT_S",
        "api.header_read_timeout_s",
    ),
    (
        "SWEEPWATCH_API_TOKEN_LAST_USED_FLUSH_S",
        "api.token_last_used_flush_s",
    ),
    ("SWEEPWATCH_WEB_DIR", "web.dir"),
    ("SWEEPWATCH_WEB_TILE_URL", "web.tile_url"),
    ("SWEEPWATCH_WEB_TILE_ATTRIBUTION", "web.tile_attribution"),
    ("SWEEPWATCH_LOG", "log.filter"),
    ("SWEEPWATCH_LOG_FORMAT", "log.format"),
];

impl Config {
    /// Loads the configuration: `file` (or `SWEEPWATCH_CONFIG`) if given, then
    /// the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let path: Option<PathBuf> = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("SWEEPWATCH_CONFIG").map(PathBuf::from));
        let mut cfg = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("while reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("while parsing {}", p.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Applies `SWEEPWATCH_*` overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("SWEEPWATCH_DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = get("SWEEPWATCH_DATABASE_SSLMODE") {
            self.database.sslmode = if v.is_empty() {
                None
            } else {
                Some(
                    v.parse()
                        .map_err(|e: String| anyhow::anyhow!("SWEEPWATCH_DATABASE_SSLMODE: {e}"))?,
                )
            };
        }
        if let Some(v) = get("SWEEPWATCH_DATABASE_CA_FILE") {
            self.database.ca_file = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(v) = get("SWEEPWATCH_MQTT_URL") {
            self.mqtt.url = v;
        }
        if let Some(v) = get("SWEEPWATCH_MQTT_CLIENT_ID") {
            self.mqtt.client_id = v;
        }
        if let Some(v) = get("SWEEPWATCH_MQTT_USERNAME") {
            self.mqtt.username = Some(v);
        }
        if let Some(v) = get("SWEEPWATCH_MQTT_PASSWORD") {
            self.mqtt.password = Some(v);
        }
        if let Some(v) = get("SWEEPWATCH_MQTT_CA_FILE") {
            self.mqtt.ca_file = (!v.is_empty()).then(|| PathBuf::from(v));
        }
        if let Some(v) = get("SWEEPWATCH_ORGS") {
            self.mqtt.orgs = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            for org in &self.mqtt.orgs {
                anyhow::ensure!(
                    geofence::OrgId::parse(org).is_some(),
                    "SWEEPWATCH_ORGS: {org:?} is not an org ([a-z0-9-]{{1,32}})"
                );
            }
        }
        if let Some(v) = get("SWEEPWATCH_JT808_LISTEN") {
            self.jt808.listen = v;
        }
        if let Some(v) = get("SWEEPWATCH_JT808_ORG") {
            self.jt808.org = v;
        }
        if let Some(v) = get("SWEEPWATCH_JT808_KIND") {
            self.jt808.kind = v;
        }
        if let Some(v) = get("SWEEPWATCH_HTTP_ADDR") {
            self.http.addr = v;
        }
        self.api.apply_env(&get)?;
        if let Some(v) = get("SWEEPWATCH_WEB_DIR") {
            self.web.dir = v;
        }
        if let Some(v) = get("SWEEPWATCH_WEB_TILE_URL") {
            self.web.tile_url = v;
        }
        if let Some(v) = get("SWEEPWATCH_WEB_TILE_ATTRIBUTION") {
            self.web.tile_attribution = v;
        }
        if let Some(v) = get("SWEEPWATCH_LOG") {
            self.log.filter = v;
        }
        if let Some(v) = get("SWEEPWATCH_LOG_FORMAT") {
            self.log.format = v;
        }
        Ok(())
    }

    /// The configuration as TOML, secrets left out.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not render configuration: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let mut cfg: Config =
            toml::from_str("[mqtt]\nurl = \"mqtt://broker:1883\"\nclient_id = \"a\"\n").unwrap();
        assert_eq!(cfg.http.addr, "127.0.0.1:8080");
        cfg.apply_env(|k| match k {
            "SWEEPWATCH_MQTT_CLIENT_ID" => Some("b".into()),
            "SWEEPWATCH_ORGS" => Some("humen, changan,".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.mqtt.url, "mqtt://broker:1883");
        assert_eq!(cfg.mqtt.client_id, "b");
        assert_eq!(cfg.mqtt.orgs, vec!["humen", "changan"]);
        assert_eq!(cfg.web.dir, "web/dist");
        cfg.apply_env(|k| (k == "SWEEPWATCH_WEB_DIR").then(|| "/srv/page".into()))
            .unwrap();
        assert_eq!(cfg.web.dir, "/srv/page");
    }

    #[test]
    fn bad_org_and_unknown_keys_are_errors() {
        let mut cfg = Config::default();
        assert!(
            cfg.apply_env(|k| (k == "SWEEPWATCH_ORGS").then(|| "Humen".into()))
                .is_err()
        );
        assert!(toml::from_str::<Config>("[mqtt]\nurll = \"x\"\n").is_err());
    }

    #[test]
    fn api_tokens_from_the_environment_are_printed_hashed_only() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| (k == "SWEEPWATCH_API_TOKENS").then(|| "desk:operator:t0psecret".into()))
            .unwrap();
        assert_eq!(cfg.api.tokens.len(), 1);
        let text = cfg.to_toml();
        assert!(!text.contains("t0psecret"), "{text}");
        assert!(text.contains("[[api.tokens]]"), "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.api.tokens, cfg.api.tokens);
    }

    #[test]
    fn tls_settings_from_the_environment() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "SWEEPWATCH_DATABASE_SSLMODE" => Some("verify-full".into()),
            "SWEEPWATCH_DATABASE_CA_FILE" => Some("/etc/pg-ca.pem".into()),
            "SWEEPWATCH_MQTT_CA_FILE" => Some("/etc/broker-ca.pem".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.database.sslmode, Some(store::SslMode::VerifyFull));
        assert_eq!(cfg.database.ca_file, Some("/etc/pg-ca.pem".into()));
        assert_eq!(cfg.mqtt.ca_file, Some("/etc/broker-ca.pem".into()));
        let text = cfg.to_toml();
        assert!(text.contains("sslmode = \"verify-full\""), "{text}");
        let e = cfg
            .apply_env(|k| (k == "SWEEPWATCH_DATABASE_SSLMODE").then(|| "verify".into()))
            .unwrap_err();
        assert!(e.to_string().contains("verify-ca or verify-full"), "{e}");
    }

    #[test]
    fn password_never_printed() {
        let mut cfg = Config::default();
        cfg.mqtt.password = Some("s3cret".into());
        assert!(!cfg.to_toml().contains("s3cret"));
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn the_jt808_listener_is_off_by_default_and_configured_by_file_and_env() {
        assert!(!Config::default().jt808.enabled());
        let mut cfg: Config = toml::from_str(
            "[jt808]\norg = \"humen\"\n[jt808.work]\nsweeper = { source = \"extra\", id = 0x25, bit = 3 }\n",
        )
        .unwrap();
        cfg.apply_env(|k| match k {
            "SWEEPWATCH_JT808_LISTEN" => Some("0.0.0.0:7611".into()),
            "SWEEPWATCH_JT808_KIND" => Some("sweeper".into()),
            _ => None,
        })
        .unwrap();
        assert!(cfg.jt808.enabled());
        assert_eq!(cfg.jt808.org, "humen");
        assert_eq!(
            cfg.jt808.work["sweeper"],
            jt808_work(0x25, 3),
            "a bit of additional item 0x25"
        );
        assert_eq!(ingest::jt808::check_config(&cfg.jt808), Ok(()));
        cfg.jt808.kind = "truck".into();
        assert!(ingest::jt808::check_config(&cfg.jt808).is_err());
        let bad: Result<Config, _> =
            toml::from_str("[jt808.work]\nsweeper = { source = \"status\", bit = 32 }\n");
        assert!(bad.is_err(), "a bit beyond 31 is refused when read");
    }

    fn jt808_work(id: u8, bit: u8) -> ingest::jt808::WorkBit {
        ingest::jt808::WorkBit::Extra { id, bit }
    }
}
