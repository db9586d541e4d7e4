//! The environment layer: every key as `SWEEPWATCH_SECTION__KEY` (sections and
//! keys joined by a double underscore, any case), and the flat names of earlier
//! versions as aliases ([`ALIASES`]).
//!
//! A variable's text becomes the key's type as the defaults show it: a number,
//! a boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`), a list
//! (comma-separated, blanks trimmed, empty items dropped), an optional value
//! (empty: unset), a table (TOML, `{ sweeper = { source = "status", bit = 0 } }`;
//! an entry of a table, e.g. `SWEEPWATCH_JT808__WORK__SWEEPER`, likewise), or
//! else the text as it is. API tokens (`SWEEPWATCH_API_TOKENS` or
//! `SWEEPWATCH_API__TOKENS`) are given in clear (`name:role:token,...`), hashed
//! as they are read, and added to the file's.
//!
//! A variable with `__` is a key: an unknown one is an error, as in the file.
//! Any other `SWEEPWATCH_*` variable that is neither an alias nor one of
//! [`NOT_SETTINGS`] is warned about and ignored.

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::value::{Dict, Empty, Map, Num, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Every setting's variable starts with this.
pub const PREFIX: &str = "SWEEPWATCH_";

/// The name of the environment's layers (in errors).
pub const LAYER: &str = "environment";

/// The flat names of earlier versions, each the alias of a key. Parsed like
/// the key's own variable.
pub const ALIASES: &[(&str, &str)] = &[
    ("SWEEPWATCH_DATABASE_URL", "database.url"),
    ("SWEEPWATCH_DATABASE_SSLMODE", "database.sslmode"),
    ("SWEEPWATCH_DATABASE_CA_FILE", "database.ca_file"),
    ("SWEEPWATCH_MQTT_URL", "mqtt.url"),
    ("SWEEPWATCH_MQTT_CLIENT_ID", "mqtt.client_id"),
    ("SWEEPWATCH_MQTT_USERNAME", "mqtt.username"),
    ("SWEEPWATCH_MQTT_PASSWORD", "mqtt.password"),
    ("SWEEPWATCH_MQTT_CA_FILE", "mqtt.ca_file"),
    ("SWEEPWATCH_ORGS", "mqtt.orgs"),
    ("SWEEPWATCH_JT808_LISTEN", "jt808.listen"),
    ("SWEEPWATCH_JT808_ORG", "jt808.org"),
    ("SWEEPWATCH_JT808_KIND", "jt808.kind"),
    ("SWEEPWATCH_HTTP_ADDR", "http.addr"),
    ("SWEEPWATCH_API_TOKENS", "api.tokens"),
    ("SWEEPWATCH_API_RATE_PER_S", "api.rate_per_s"),
    ("SWEEPWATCH_API_RATE_BURST", "api.rate_burst"),
    ("SWEEPWATCH_API_CORS_ORIGINS", "api.cors_origins"),
    (
        "SWEEPWATCH_API_AUTH_FAILURES_BURST",
        "api.auth_failures_burst",
    ),
    (
        "SWEEPWATCH_API_AUTH_FAILURES_PER_MIN",
        "api.auth_failures_per_min",
    ),
    ("SWEEPWATCH_API_TRUSTED_PROXIES", "api.trusted_proxies"),
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

/// `SWEEPWATCH_*` variables that are not settings of the service and are not
/// warned about: the file's name, and what the CLI, tests and scripts read.
/// A name ending in `*` is a prefix.
pub const NOT_SETTINGS: &[&str] = &[
    "SWEEPWATCH_CONFIG",            // the file (Config::load)
    "SWEEPWATCH_SIMULATE_PASSWORD", // `sweepwatch simulate` (clap)
    "SWEEPWATCH_OPENAPI_DUMP",      // api's OpenAPI test
    "SWEEPWATCH_BIN",               // deploy/check.sh, deploy/local/quality.sh
    "SWEEPWATCH_TOOLS_VENV",        // deploy/check.sh
    "SWEEPWATCH_TEST_RUST_ONLY",    // deploy/local/test.sh
    "SWEEPWATCH_TEST_PG",           // tests/web
    "SWEEPWATCH_BROKER_DEVICES",    // deploy/local/serve.sh
    "SWEEPWATCH_BROKER_PORT",       // deploy/local/serve.sh
    "SWEEPWATCH_URL",               // web/vite.config.js
    "SWEEPWATCH_NATS_*",            // deploy/nats/sweepwatch.conf
];

/// What a `SWEEPWATCH_*` variable is.
#[derive(Debug, PartialEq, Eq)]
pub enum Var {
    /// Sets this key (dotted).
    Key(String),
    /// Not a setting, known ([`NOT_SETTINGS`]).
    NotSetting,
    /// Neither: ignored with a warning.
    Unknown,
}

/// Classifies `name`. A name with `__` is a key, whether or not the key exists
/// (extracting the configuration refuses an unknown one).
pub fn classify(name: &str) -> Var {
    if NOT_SETTINGS.iter().any(|n| match n.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *n,
    }) {
        return Var::NotSetting;
    }
    if let Some((_, key)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        return Var::Key((*key).to_owned());
    }
    match name.strip_prefix(PREFIX) {
        Some(rest) if rest.contains("__") => Var::Key(
            rest.split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join("."),
        ),
        _ => Var::Unknown,
    }
}

/// The variable that sets `key` in the nested form.
pub fn nested_name(key: &str) -> String {
    format!("{PREFIX}{}", key.replace('.', "__").to_ascii_uppercase())
}

/// Which variable set each key (dotted).
pub type Origins = Arc<BTreeMap<String, String>>;

/// The variable that set `key`, or a table above it, or a key below it (an
/// unknown table).
pub fn variable_for(origins: &Origins, key: &str) -> Option<String> {
    let path: Vec<&str> = key.split('.').collect();
    (1..=path.len())
        .rev()
        .find_map(|n| origins.get(&path[..n].join(".")).cloned())
        .or_else(|| {
            origins
                .iter()
                .find(|(k, _)| k.starts_with(&format!("{key}.")))
                .map(|(_, name)| name.clone())
        })
}

/// The environment as two layers: the settings (merged over the file) and
/// the API tokens (appended to the file's).
pub struct EnvLayers {
    pub settings: Layer,
    pub tokens: Layer,
    pub origins: Origins,
    pub warnings: Vec<String>,
}

impl EnvLayers {
    /// Reads `vars` (`SWEEPWATCH_*` only matter), typed after `defaults`.
    /// An error names the variable.
    pub fn read(vars: &[(String, String)], defaults: &Value) -> anyhow::Result<Self> {
        let mut settings = Dict::new();
        let mut tokens = Vec::new();
        let mut origins = BTreeMap::new();
        let mut warnings = Vec::new();
        // Aliases first, so that the nested name wins where both are given.
        let mut vars: Vec<&(String, String)> =
            vars.iter().filter(|(k, _)| k.starts_with(PREFIX)).collect();
        vars.sort_by_key(|(k, _)| (!ALIASES.iter().any(|(a, _)| a == k), k.clone()));
        for (name, text) in vars {
            let key = match classify(name) {
                Var::Key(key) => key,
                Var::NotSetting => continue,
                Var::Unknown => {
                    warnings.push(unknown_warning(name, defaults));
                    continue;
                }
            };
            if key == "api.tokens" {
                let parsed = api::config::parse_token_list(text)
                    .map_err(|e| anyhow::anyhow!("{name}: {}", e.message))?;
                tokens.extend(parsed);
                continue;
            }
            let value = typed(defaults, &key, text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            if let Some(earlier) = origins.insert(key.clone(), name.clone()) {
                warnings.push(format!(
                    "{earlier} and {name} both set {key}: {name} is used"
                ));
            }
            insert(&mut settings, &key, value);
        }
        let mut token_dict = Dict::new();
        if !tokens.is_empty() {
            let value =
                Value::serialize(&tokens).map_err(|e| anyhow::anyhow!("api.tokens: {e}"))?;
            insert(&mut token_dict, "api.tokens", value);
            origins.insert("api.tokens".into(), "SWEEPWATCH_API_TOKENS".into());
        }
        let origins = Arc::new(origins);
        Ok(Self {
            settings: Layer::env(settings, origins.clone()),
            tokens: Layer::env(token_dict, origins.clone()),
            origins,
            warnings,
        })
    }
}

/// The warning for a variable that is not a setting, with the name it may
/// have meant (`SWEEPWATCH_PIPELINE_BATCH_MAX_ROWS`: `..._PIPELINE__BATCH_MAX_ROWS`).
fn unknown_warning(name: &str, defaults: &Value) -> String {
    let rest = &name[PREFIX.len()..];
    let meant = defaults.as_dict().and_then(|sections| {
        sections.keys().find_map(|section| {
            let key = rest
                .to_ascii_lowercase()
                .strip_prefix(&format!("{section}_"))
                .map(|k| format!("{section}.{k}"))?;
            defaults.find_ref(&key).map(|_| nested_name(&key))
        })
    });
    match meant {
        Some(meant) => format!("{name} is not a setting (ignored); did you mean {meant}?"),
        None => format!(
            "{name} is not a setting (ignored): settings are SWEEPWATCH_SECTION__KEY, \
             or a name in README's table"
        ),
    }
}

/// `text` as the type the defaults give `key`.
fn typed(defaults: &Value, key: &str, text: &str) -> Result<Value, String> {
    let Some(default) = defaults.find_ref(key) else {
        // Not among the defaults: an entry of a table (a map, empty by
        // default) is TOML; anything else is text, refused later if unknown.
        return if in_table(defaults, key) {
            toml_value(text)
        } else {
            Ok(Value::from(text))
        };
    };
    Ok(match default {
        Value::Num(..) => number(text)?,
        Value::Bool(..) => boolean(text)?,
        Value::Array(..) => Value::from(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect::<Vec<_>>(),
        ),
        Value::Empty(..) if text.trim().is_empty() => Value::from(Empty::None),
        Value::Dict(..) => toml_value(text)?,
        _ => Value::from(text),
    })
}

/// Whether `key` is a key: among the defaults, or an entry of a table.
#[cfg(test)]
pub fn is_key(defaults: &Value, key: &str) -> bool {
    defaults.find_ref(key).is_some() || in_table(defaults, key)
}

/// Whether the nearest key above `key` that the defaults hold is an empty table.
fn in_table(defaults: &Value, key: &str) -> bool {
    let mut parts: Vec<&str> = key.split('.').collect();
    while parts.pop().is_some() && !parts.is_empty() {
        if let Some(v) = defaults.find_ref(&parts.join(".")) {
            return v.as_dict().is_some_and(|d| d.is_empty());
        }
    }
    false
}

fn number(text: &str) -> Result<Value, String> {
    let t = text.trim();
    let num = if t.contains(['.', 'e', 'E']) && !t.starts_with("0x") {
        t.parse::<f64>().map(Num::F64).map_err(|e| e.to_string())
    } else if t.starts_with('-') {
        t.parse::<i64>().map(Num::I64).map_err(|e| e.to_string())
    } else {
        t.parse::<u64>().map(Num::U64).map_err(|e| e.to_string())
    };
    num.map(Value::from)
        .map_err(|e| format!("{text:?} is not a number: {e}"))
}

fn boolean(text: &str) -> Result<Value, String> {
    Value::from(text.trim())
        .to_bool_lossy()
        .map(Value::from)
        .ok_or_else(|| format!("{text:?} is not true or false"))
}

/// A TOML value (`{ ... }`, `[ ... ]`, `"text"`, `3`).
fn toml_value(text: &str) -> Result<Value, String> {
    let doc: Dict =
        toml::from_str(&format!("v = {text}")).map_err(|e| format!("not a TOML value: {e}"))?;
    doc.get("v").cloned().ok_or_else(|| "empty".to_owned())
}

/// Puts `value` at the dotted `key` of `dict`.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if entry.as_dict().is_none() {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// A layer of keys with a name, and for the environment's, the variable that
/// set each key (what errors name).
#[derive(Clone)]
pub struct Layer {
    name: &'static str,
    dict: Dict,
    origins: Origins,
}

impl Layer {
    /// The defaults' layer.
    pub fn named(name: &'static str, dict: Dict) -> Self {
        Self {
            name,
            dict,
            origins: Arc::default(),
        }
    }

    fn env(dict: Dict, origins: Origins) -> Self {
        Self {
            name: LAYER,
            dict,
            origins,
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let origins = self.origins.clone();
        Metadata::named(self.name).interpolater(move |_: &Profile, path: &[&str]| {
            variable_for(&origins, &path.join(".")).unwrap_or_else(|| nested_name(&path.join(".")))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        Ok(Map::from([(Profile::Default, self.dict.clone())]))
    }
}
