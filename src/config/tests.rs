//! The loader's layers, aliases, errors and secrets; and the documentation
//! (README, deploy/config/sweepwatch.toml) against the structs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use figment::value::{Dict, Value};

use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> anyhow::Result<Loaded> {
    Config::load_from(None, &vars(pairs))
}

fn load_err(pairs: &[(&str, &str)]) -> String {
    match load(pairs) {
        Ok(_) => panic!("{pairs:?} loaded"),
        Err(e) => format!("{e:#}"),
    }
}

/// A TOML file of its own for a test.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "sweepwatch-config-test-{}-{n}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn load(&self, pairs: &[(&str, &str)]) -> anyhow::Result<Loaded> {
        Config::load_from(Some(&self.0), &vars(pairs))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn env_overrides_file_and_file_overrides_defaults() {
    let file = TempFile::new("[mqtt]\nurl = \"mqtt://broker:1883\"\nclient_id = \"a\"\n");
    let cfg = file
        .load(&[
            ("SWEEPWATCH_MQTT_CLIENT_ID", "b"),
            ("SWEEPWATCH_ORGS", "humen, changan,"),
        ])
        .unwrap()
        .config;
    assert_eq!(cfg.http.addr, "127.0.0.1:8080", "a default");
    assert_eq!(cfg.mqtt.url, "mqtt://broker:1883", "the file");
    assert_eq!(cfg.mqtt.client_id, "b", "the environment over the file");
    assert_eq!(cfg.mqtt.orgs, vec!["humen", "changan"]);
    // SWEEPWATCH_CONFIG names the file when --config does not.
    let path = file.0.to_str().unwrap();
    let cfg = load(&[("SWEEPWATCH_CONFIG", path)]).unwrap().config;
    assert_eq!(cfg.mqtt.client_id, "a");
    let e = load_err(&[("SWEEPWATCH_CONFIG", "/nonexistent/sweepwatch.toml")]);
    assert!(e.contains("/nonexistent/sweepwatch.toml"), "{e}");
}

#[test]
fn every_key_is_set_by_its_nested_variable() {
    let defaults = Value::serialize(Config::default()).unwrap();
    let mut keys = BTreeSet::new();
    leaves(&defaults, "", &mut keys);
    assert!(keys.len() > 50, "{keys:?}");
    for key in &keys {
        let name = env::nested_name(key);
        // A value unlike the default, as text of the key's type.
        let (text, expect): (&str, &str) = match defaults.find_ref(key).unwrap() {
            Value::Num(..) => ("7", "7"),
            Value::Bool(_, b) => (if *b { "false" } else { "true" }, ""),
            Value::Array(..) if key == "api.tokens" => ("n:viewer:t", ""),
            Value::Array(..) if key.ends_with("orgs") => ("ab, cd", "[\"ab\", \"cd\"]"),
            Value::Array(..) => ("10.0.0.1, 10.0.0.2", "[\"10.0.0.1\", \"10.0.0.2\"]"),
            Value::Dict(..) => ("{ sweeper = { source = \"status\", bit = 3 } }", ""),
            _ if key == "database.sslmode" => ("require", "\"require\""),
            _ if key == "database.timescaledb" => ("off", "\"off\""),
            _ => ("x7", "\"x7\""),
        };
        let loaded = load(&[(&name, text)]).unwrap_or_else(|e| panic!("{name}={text}: {e:#}"));
        assert!(loaded.warnings.is_empty(), "{name}: {:?}", loaded.warnings);
        assert!(loaded.is_set(key), "{name} did not set {key}");
        let printed = loaded.config.to_toml();
        if !expect.is_empty() && key != "mqtt.password" {
            let (section, field) = key.split_once('.').unwrap();
            let table: toml::Table = toml::from_str(&printed).unwrap();
            let got = table[section][field].to_string();
            assert!(
                got.trim_end_matches(".0") == expect.trim_matches('"') || got == expect,
                "{name}={text}: {key} = {got}"
            );
        }
    }
}

#[test]
fn nested_variables_any_case_and_their_errors_name_them() {
    let cfg = load(&[
        ("SWEEPWATCH_PIPELINE__MAX_HELD_MESSAGES", " 100 "),
        ("SWEEPWATCH_HA__ENABLED", "off"),
        ("SWEEPWATCH_api__rate_per_s", "2.5"),
    ])
    .unwrap()
    .config;
    assert_eq!(cfg.pipeline.max_held_messages, 100);
    assert!(!cfg.ha.enabled);
    assert!((cfg.api.rate_per_s - 2.5).abs() < 1e-9);

    let e = load_err(&[("SWEEPWATCH_PIPELINE__MAX_HELD_MESSAGES", "12k")]);
    assert!(
        e.starts_with("SWEEPWATCH_PIPELINE__MAX_HELD_MESSAGES: \"12k\" is not a number")
            && e.contains("invalid digit"),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_JT808__MAX_IN_FLIGHT", "-1")]);
    assert!(e.starts_with("SWEEPWATCH_JT808__MAX_IN_FLIGHT: "), "{e}");
    let e = load_err(&[("SWEEPWATCH_API__RATE_BURST", "99999999999")]);
    assert!(e.starts_with("SWEEPWATCH_API__RATE_BURST: "), "{e}");
    let e = load_err(&[("SWEEPWATCH_MQTT__OWNTRACKS", "maybe")]);
    assert!(
        e.starts_with("SWEEPWATCH_MQTT__OWNTRACKS: \"maybe\" is not true or false"),
        "{e}"
    );
    // A key that does not exist is refused, as in the file.
    let e = load_err(&[("SWEEPWATCH_PIPELINE__MAX_HELD_MESAGES", "5")]);
    assert!(
        e.starts_with("SWEEPWATCH_PIPELINE__MAX_HELD_MESAGES: unknown field"),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_DATABSE__URL", "postgres://x")]);
    assert!(
        e.starts_with("SWEEPWATCH_DATABSE__URL: unknown field"),
        "{e}"
    );
}

#[test]
fn aliases_parse_as_they_always_did() {
    let file = TempFile::new(&format!(
        "[database]\nsslmode = \"require\"\nca_file = \"/etc/a.pem\"\n\
         [[api.tokens]]\nname = \"file\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
        api::config::sha256_hex("f")
    ));
    let cfg = file
        .load(&[
            ("SWEEPWATCH_DATABASE_SSLMODE", ""),
            ("SWEEPWATCH_DATABASE_CA_FILE", ""),
            ("SWEEPWATCH_MQTT_CA_FILE", "/etc/broker-ca.pem"),
            (
                "SWEEPWATCH_API_TOKENS",
                "desk:operator@humen+changan:t:x, wall:viewer:y",
            ),
            ("SWEEPWATCH_API_RATE_PER_S", " 20 "),
            ("SWEEPWATCH_API_RATE_BURST", "5"),
            (
                "SWEEPWATCH_API_CORS_ORIGINS",
                "https://a.example, https://b.example,",
            ),
            ("SWEEPWATCH_API_TRUSTED_PROXIES", "10.0.0.0/8,::1"),
            ("SWEEPWATCH_API_STREAM_MAX_PER_TOKEN", "3"),
            ("SWEEPWATCH_JT808_LISTEN", "0.0.0.0:7611"),
            ("SWEEPWATCH_LOG", "warn,ingest=debug"),
            ("SWEEPWATCH_WEB_DIR", "/srv/page"),
        ])
        .unwrap()
        .config;
    assert_eq!(cfg.database.sslmode, None, "empty: unset, over the file");
    assert_eq!(cfg.database.ca_file, None);
    assert_eq!(cfg.mqtt.ca_file, Some("/etc/broker-ca.pem".into()));
    let names: Vec<&str> = cfg.api.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["file", "desk", "wall"], "added to the file's");
    assert_eq!(cfg.api.tokens[1].orgs, ["humen", "changan"]);
    assert_eq!(cfg.api.tokens[1].sha256, api::config::sha256_hex("t:x"));
    assert!((cfg.api.rate_per_s - 20.0).abs() < 1e-9);
    assert_eq!(cfg.api.rate_burst, 5);
    assert_eq!(
        cfg.api.cors_origins,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(cfg.api.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert_eq!(cfg.api.stream_max_per_token, 3);
    assert!(cfg.jt808.enabled());
    assert_eq!(cfg.log.filter, "warn,ingest=debug");
    assert_eq!(cfg.web.dir, "/srv/page");

    let cfg = load(&[("SWEEPWATCH_DATABASE_SSLMODE", "verify-full")])
        .unwrap()
        .config;
    assert_eq!(cfg.database.sslmode, Some(store::SslMode::VerifyFull));
    assert!(cfg.to_toml().contains("sslmode = \"verify-full\""));
    let e = load_err(&[("SWEEPWATCH_DATABASE_SSLMODE", "verify")]);
    assert!(
        e.starts_with("SWEEPWATCH_DATABASE_SSLMODE: ") && e.contains("`verify-full`"),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_API_RATE_BURST", "lots")]);
    assert!(
        e.starts_with("SWEEPWATCH_API_RATE_BURST: \"lots\" is not a number"),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_API_TOKENS", "a:root:x")]);
    assert!(
        e.starts_with("SWEEPWATCH_API_TOKENS: a: role must be"),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_API_TOKENS", "a:viewer:x,a:admin:y")]);
    assert!(
        e.starts_with("SWEEPWATCH_API_TOKENS: two tokens are called"),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_API_TRUSTED_PROXIES", "10.0.0.0/33")]);
    assert!(
        e.starts_with("SWEEPWATCH_API_TRUSTED_PROXIES: \"10.0.0.0/33\""),
        "{e}"
    );
    let e = load_err(&[("SWEEPWATCH_ORGS", "humen,Humen")]);
    assert!(
        e.starts_with("SWEEPWATCH_ORGS: \"Humen\" is not an org"),
        "{e}"
    );
    // The nested name sets the same key, and wins over the alias.
    let loaded = load(&[
        ("SWEEPWATCH_MQTT_URL", "mqtt://a:1883"),
        ("SWEEPWATCH_MQTT__URL", "mqtt://b:1883"),
    ])
    .unwrap();
    assert_eq!(loaded.config.mqtt.url, "mqtt://b:1883");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let e = load_err(&[("SWEEPWATCH_MQTT__ORGS", "a_b")]);
    assert!(
        e.starts_with("SWEEPWATCH_MQTT__ORGS: \"a_b\" is not an org"),
        "{e}"
    );
}

#[test]
fn file_errors_name_the_file_and_the_key() {
    let file = TempFile::new("[mqtt]\nurll = \"x\"\n");
    let e = format!("{:#}", file.load(&[]).err().unwrap());
    assert!(
        e.starts_with(&format!("{}: mqtt.urll: unknown field", file.0.display())),
        "{e}"
    );
    let file = TempFile::new("[pipeline]\nmax_held_messages = \"many\"\n");
    let e = format!("{:#}", file.load(&[]).err().unwrap());
    assert!(
        e.starts_with(&format!(
            "{}: pipeline.max_held_messages: invalid type",
            file.0.display()
        )),
        "{e}"
    );
    let file = TempFile::new("[mqtt]\norgs = [\"Humen\"]\n");
    let e = format!("{:#}", file.load(&[]).err().unwrap());
    assert!(
        e.starts_with(&format!("{}: mqtt.orgs: \"Humen\"", file.0.display())),
        "{e}"
    );
    // A syntax error is figment's, which names the file relative to the
    // working directory (`../sweepwatch-config-….toml` when run from /tmp/x).
    let file = TempFile::new("[mqtt\n");
    let e = format!("{:#}", file.load(&[]).err().unwrap());
    let name = file.0.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        e.contains(&name) && e.contains("invalid table header"),
        "{e}"
    );
}

#[test]
fn other_variables_are_warned_about_unless_known() {
    let loaded = load(&[
        ("SWEEPWATCH_PIPELINE_BATCH_MAX_ROWS", "10"),
        ("SWEEPWATCH_COLOUR", "blue"),
        ("SWEEPWATCH_BIN", "target/debug/sweepwatch"),
        ("SWEEPWATCH_NATS_STORE", "/var/lib/nats"),
        ("SWEEPWATCH_SIMULATE_PASSWORD", "x"),
        ("HOME", "/root"),
    ])
    .unwrap();
    assert_eq!(loaded.config.pipeline.batch_max_rows, 5000);
    assert_eq!(
        loaded.warnings,
        [
            "SWEEPWATCH_COLOUR is not a setting (ignored): settings are \
             SWEEPWATCH_SECTION__KEY, or a name in README's table",
            "SWEEPWATCH_PIPELINE_BATCH_MAX_ROWS is not a setting (ignored); did you mean \
             SWEEPWATCH_PIPELINE__BATCH_MAX_ROWS?",
        ]
    );
}

#[test]
fn secrets_are_never_printed() {
    let loaded = load(&[
        ("SWEEPWATCH_MQTT_PASSWORD", "s3cret-mqtt"),
        (
            "SWEEPWATCH_DATABASE_URL",
            "postgres://sweep:s3cret-pg@db:5432/sweepwatch?sslmode=require",
        ),
        ("SWEEPWATCH_API_TOKENS", "desk:operator:s3cret-token"),
    ])
    .unwrap();
    let cfg = &loaded.config;
    let shown = [
        format!("{cfg:?}"),
        cfg.to_toml(),
        cfg.database.url.to_string(),
    ];
    for text in &shown {
        assert!(!text.contains("s3cret"), "{text}");
    }
    let printed = cfg.to_toml();
    assert!(printed.contains("password = \"REDACTED\""), "{printed}");
    assert!(
        printed.contains("url = \"postgres://sweep:REDACTED@db:5432/sweepwatch?sslmode=require\""),
        "{printed}"
    );
    assert!(
        printed.contains("[[api.tokens]]"),
        "tokens are printed hashed: {printed}"
    );
    assert_eq!(
        cfg.database.url.expose_secret(),
        "postgres://sweep:s3cret-pg@db:5432/sweepwatch?sslmode=require"
    );
    let password = cfg.mqtt.password.as_ref().unwrap();
    assert_eq!(password.expose_secret(), "s3cret-mqtt");
    // What `sweepwatch config` prints loads again (the secrets then come from
    // the environment).
    let file = TempFile::new(&printed);
    let again = file.load(&[]).unwrap().config;
    assert_eq!(again.api.tokens, cfg.api.tokens);
    // A password given as a parameter, and a password that looks like a number.
    let url = DatabaseUrl::from("postgres://db/sw?user=a&password=s3cret");
    assert_eq!(url.redacted(), "postgres://db/sw?user=a&password=REDACTED");
    assert_eq!(
        DatabaseUrl::from("host=db password=s3cret").redacted(),
        "REDACTED (not a URL)"
    );
    let cfg = load(&[("SWEEPWATCH_MQTT__PASSWORD", "1234")])
        .unwrap()
        .config;
    assert_eq!(cfg.mqtt.password.unwrap().expose_secret(), "1234");
}

#[test]
fn the_jt808_listener_is_off_by_default_and_configured_by_file_and_env() {
    assert!(!Config::default().jt808.enabled());
    let file = TempFile::new(
        "[jt808]\norg = \"humen\"\n[jt808.work]\nsweeper = { source = \"extra\", id = 0x25, bit = 3 }\n",
    );
    let mut cfg = file
        .load(&[
            ("SWEEPWATCH_JT808_LISTEN", "0.0.0.0:7611"),
            ("SWEEPWATCH_JT808_KIND", "sweeper"),
            (
                "SWEEPWATCH_JT808__WORK_BY_PHONE__13800138000",
                "{ source = \"status\", bit = 10 }",
            ),
        ])
        .unwrap()
        .config;
    assert!(cfg.jt808.enabled());
    assert_eq!(cfg.jt808.org, "humen");
    assert_eq!(
        cfg.jt808.work["sweeper"],
        ingest::jt808::WorkBit::Extra { id: 0x25, bit: 3 },
        "a bit of additional item 0x25"
    );
    assert_eq!(
        cfg.jt808.work_by_phone["13800138000"],
        ingest::jt808::WorkBit::Status { bit: 10 }
    );
    assert_eq!(ingest::jt808::check_config(&cfg.jt808), Ok(()));
    cfg.jt808.kind = "truck".into();
    assert!(ingest::jt808::check_config(&cfg.jt808).is_err());
    let bad = TempFile::new("[jt808.work]\nsweeper = { source = \"status\", bit = 32 }\n");
    let e = format!("{:#}", bad.load(&[]).err().unwrap());
    assert!(
        e.contains("jt808.work.sweeper"),
        "a bit beyond 31 is refused when read: {e}"
    );
    let e = load_err(&[(
        "SWEEPWATCH_JT808__WORK__SWEEPER",
        "{ source = \"status\", bit = 32 }",
    )]);
    assert!(e.starts_with("SWEEPWATCH_JT808__WORK__SWEEPER: "), "{e}");
}

// The documentation against the structs.

/// The keys of a tree of values: a table's keys, or the key itself for a
/// value (an empty table, a list, `None`).
fn leaves(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value.as_dict() {
        Some(dict) if !dict.is_empty() => {
            for (k, v) in dict {
                leaves(v, &format!("{prefix}{k}."), out);
            }
        }
        _ => {
            out.insert(prefix.trim_end_matches('.').to_owned());
        }
    }
}

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The keys the example file documents: its keys, and the optional ones it
/// shows commented out (`# sslmode = "verify-full"` under `[database]`).
fn documented_keys(text: &str) -> BTreeSet<String> {
    let dict: Dict = toml::from_str(text).unwrap();
    let mut keys = BTreeSet::new();
    leaves(&Value::from(dict), "", &mut keys);
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim_matches(['[', ']']).to_owned();
        } else if let Some((key, _)) = line.strip_prefix("# ").and_then(|l| l.split_once(" = "))
            && !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

#[test]
fn the_example_file_documents_every_key_and_nothing_else() {
    let text = repo_file("deploy/config/sweepwatch.toml");
    let file = TempFile::new(&text);
    let loaded = file.load(&[]).expect("the example loads (no unknown key)");
    assert_eq!(
        loaded.config.to_toml(),
        Config::default().to_toml(),
        "the example sets every key to its default"
    );
    let mut keys = BTreeSet::new();
    leaves(&Value::serialize(Config::default()).unwrap(), "", &mut keys);
    let documented = documented_keys(&text);
    let missing: Vec<_> = keys.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys not in deploy/config/sweepwatch.toml (add them, with a comment): {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&keys).collect();
    assert!(
        unknown.is_empty(),
        "documented keys the structs lack: {unknown:?}"
    );
}

/// Every `SWEEPWATCH_*` name in `text`, but the pattern `SWEEPWATCH_SECTION__KEY`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(env::PREFIX) {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].trim_end_matches('_');
        let pattern = tail[end..].starts_with('*') || name.contains("SECTION__KEY");
        if name.len() > env::PREFIX.len() && !pattern {
            names.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_variable_the_docs_and_deployments_name_is_accepted() {
    let defaults = Value::serialize(Config::default()).unwrap();
    let readme = repo_file("README.md");
    let example = repo_file("deploy/config/sweepwatch.toml");
    let mut files = vec![
        "README.md".to_owned(),
        "docs/OPERATIONS.md".to_owned(),
        "deploy/config/sweepwatch.toml".to_owned(),
        "deploy/compose/compose.yaml".to_owned(),
        "deploy/systemd/sweepwatch.service".to_owned(),
        "Dockerfile".to_owned(),
    ];
    let k8s = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    for entry in std::fs::read_dir(k8s).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files.push(format!(
                "deploy/kubernetes/{}",
                path.file_name().unwrap().display()
            ));
        }
    }
    for file in &files {
        for name in names_in(&repo_file(file)) {
            match env::classify(&name) {
                env::Var::NotSetting => {}
                env::Var::Unknown => panic!("{file} names {name}, which is not a setting"),
                env::Var::Key(key) => {
                    assert!(
                        env::is_key(&defaults, &key),
                        "{file} names {name}: {key} is not a key"
                    );
                }
            }
        }
    }
    for (alias, key) in ALIASES {
        assert!(
            defaults.find_ref(key).is_some(),
            "{alias} is the alias of {key}, not a key"
        );
        assert!(
            readme.contains(&format!("`{alias}`")),
            "README's table lacks {alias}"
        );
        assert!(
            example.contains(alias),
            "deploy/config/sweepwatch.toml lacks {alias}"
        );
    }
    assert!(
        readme.contains("SWEEPWATCH_SECTION__KEY"),
        "README explains the nested names"
    );
}
