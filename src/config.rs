//! The configuration, declared once: these structs (and the ones they hold
//! from `ingest`, `api` and `ha`) are the schema. Layers, each over the one
//! before (figment): the defaults (`Default` impls), a TOML file, then the
//! environment: `SWEEPWATCH_SECTION__KEY` for every key, and the flat names of
//! earlier versions (`SWEEPWATCH_DATABASE_URL`, ...: [`ALIASES`]) for some
//! ([`env`]). Secrets (`mqtt.password`, the password in `database.url`) are in
//! secret types: `Debug` and `sweepwatch config` show them as `REDACTED`.
//! docs/ARCHITECTURE.md, "Configuration".

mod env;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::Figment;
use figment::providers::{Format as _, Toml};
use ingest::{Jt808Config, MqttConfig, PipelineConfig};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

pub use env::{ALIASES, NOT_SETTINGS};

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
    /// `postgres://user@host:port/dbname`; its password is a secret.
    pub url: DatabaseUrl,
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
        store::DbTarget::new(self.url.expose_secret(), &tls)
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::from("postgres://postgres@127.0.0.1:5432/sweepwatch"),
            pool_size: 8,
            timescaledb: store::Timescale::Auto,
            sslmode: None,
            ca_file: None,
        }
    }
}

/// A PostgreSQL URL whose password (`user:password@`, or a `password=`
/// parameter) is a secret: `Debug`, `Display` and `Serialize` (what `sweepwatch
/// config` prints) show it as `REDACTED`; [`DatabaseUrl::expose_secret`] gives
/// the whole URL to whoever connects.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    /// The URL, password included.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL with its password, if any, replaced by `REDACTED`.
    pub fn redacted(&self) -> String {
        let text = self.expose_secret();
        let Ok(mut url) = url::Url::parse(text) else {
            // Not a URL (the connection will say so): shown unless it may hold a password.
            return if text.contains('@') || text.contains("password") {
                format!("{} (not a URL)", ingest::config::REDACTED)
            } else {
                text.to_owned()
            };
        };
        if url.password().is_some() {
            let _ = url.set_password(Some(ingest::config::REDACTED));
        }
        if url.query_pairs().any(|(k, _)| k == "password") {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        ingest::config::REDACTED.into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(SecretString::from(url))
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self(SecretString::from(url))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
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

/// The configuration and what loading it found.
pub struct Loaded {
    pub config: Config,
    /// `SWEEPWATCH_*` variables that are not settings (ignored), and the like:
    /// to be logged once logging is set up.
    pub warnings: Vec<String>,
    figment: Figment,
    /// The keys the environment set, and by which variable.
    env_keys: env::Origins,
}

impl Loaded {
    /// Whether `key` (`log.filter`) was set by the file or the environment.
    pub fn is_set(&self, key: &str) -> bool {
        self.env_keys.contains_key(key)
            || self
                .figment
                .find_metadata(key)
                .is_some_and(|m| m.name != DEFAULTS)
    }
}

/// The name of the defaults layer.
const DEFAULTS: &str = "built-in defaults";

impl Config {
    /// Loads the configuration: the defaults, `file` (or the one
    /// `SWEEPWATCH_CONFIG` names) if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Loaded> {
        let mut vars = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|n| n.starts_with(env::PREFIX)) else {
                continue;
            };
            let value = value
                .into_string()
                .map_err(|_| anyhow::anyhow!("{name}: not valid UTF-8"))?;
            vars.push((name.to_owned(), value));
        }
        Self::load_from(file, &vars)
    }

    /// [`Config::load`] with the environment given as `vars` (name, value).
    pub fn load_from(file: Option<&Path>, vars: &[(String, String)]) -> anyhow::Result<Loaded> {
        let path: Option<PathBuf> = file.map(Path::to_path_buf).or_else(|| {
            vars.iter()
                .find(|(k, _)| k == "SWEEPWATCH_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let defaults = figment::value::Value::serialize(Config::default())
            .context("while rendering the defaults")?;
        let Some(defaults_dict) = defaults.as_dict() else {
            anyhow::bail!("the defaults are not a table");
        };
        let mut figment = Figment::from(env::Layer::named(DEFAULTS, defaults_dict.clone()));
        if let Some(p) = &path {
            std::fs::metadata(p).with_context(|| format!("while reading {}", p.display()))?;
            figment = figment.merge(Toml::file_exact(p));
        }
        let env = env::EnvLayers::read(vars, &defaults)?;
        let figment = figment
            .merge(env.settings.clone())
            .admerge(env.tokens.clone());
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!(describe(&figment, &env.origins, e)))?;
        if let Err((key, message)) = config.check() {
            anyhow::bail!("{}: {message}", origin(&figment, &env.origins, key));
        }
        Ok(Loaded {
            config,
            warnings: env.warnings,
            figment,
            env_keys: env.origins,
        })
    }

    /// What the types cannot say: the orgs are orgs, the API's settings hold
    /// together. The error names the key.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(bad) = self.mqtt.orgs.iter().find(|o| !api::config::is_org(o)) {
            return Err((
                "mqtt.orgs",
                format!("{bad:?} is not an org ([a-z0-9-]{{1,32}})"),
            ));
        }
        self.api.check().map_err(|e| (e.key, e.message))
    }

    /// The configuration as TOML, secrets shown as `REDACTED`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not render configuration: {e}\n"))
    }
}

/// Where `key`'s value came from, for an error: the variable that set it, the
/// file (and the key), or the key alone (a default).
fn origin(figment: &Figment, origins: &env::Origins, key: &str) -> String {
    if let Some(name) = env::variable_for(origins, key) {
        return name;
    }
    match figment.find_metadata(key).and_then(|md| md.source.as_ref()) {
        Some(figment::Source::File(file)) => format!("{}: {key}", file.display()),
        _ => key.to_owned(),
    }
}

/// A figment error as `WHERE: WHAT` (one line per error).
fn describe(figment: &Figment, origins: &env::Origins, errors: figment::Error) -> String {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            // (An unknown field's path ends with the field.)
            let path = &e.path;
            let key = path.join(".");
            let place = if key.is_empty() {
                match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                    Some(source) => source.to_string(),
                    None => "configuration".to_owned(),
                }
            } else if figment.find_metadata(&key).is_some() {
                origin(figment, origins, &key)
            } else {
                // An unknown key: named by the layer that has it.
                match e.metadata.as_ref() {
                    Some(md) if md.name == env::LAYER => {
                        let path: Vec<&str> = path.iter().map(String::as_str).collect();
                        md.interpolate(&figment::Profile::Default, &path)
                    }
                    Some(figment::Metadata {
                        source: Some(figment::Source::File(file)),
                        ..
                    }) => format!("{}: {key}", file.display()),
                    _ => key,
                }
            };
            format!("{place}: {}", e.kind)
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests;
