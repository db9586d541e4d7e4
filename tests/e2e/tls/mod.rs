//! TLS and credentials, end to end (issue 14): PostgreSQL over TLS with
//! libpq's sslmodes against a cluster of the test's own whose certificate the
//! test made; MQTT over TLS with a password file; device identity on the
//! local broker (`deploy/local/broker.sh --auth`); and the CLI's errors
//! naming their cause. Certificates come from `helpers::certs`.
//!
//! `cargo nextest run --test e2e tls`

mod devices;
mod errors;
mod mqtt;
mod postgres;

use std::path::PathBuf;

use crate::helpers::unique;

/// A directory of the test's own that the broker's and the database's users
/// can read (they run as `mosquitto` and `postgres` when the test is root).
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(prefix: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self(path)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Hands the directory over to whoever removes it then (a `Broker`).
    pub fn into_path(self) -> PathBuf {
        let path = self.0.clone();
        std::mem::forget(self);
        path
    }

    /// A path as a string, for URLs and environment variables.
    pub fn file(&self, name: &str) -> String {
        self.join(name).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Asserts that a command failed and that its stderr names every one of
/// `causes`, with no "Caused by:" left empty and no cause that is only one
/// of tokio-postgres's bare kinds ("db error", ...).
pub fn assert_names_cause(what: &str, out: &std::process::Output, causes: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- {what}:\n{stderr}");
    assert!(
        !out.status.success(),
        "{what}: succeeded, expected a failure"
    );
    for cause in causes {
        assert!(
            stderr.contains(cause),
            "{what}: stderr does not say {cause:?}:\n{stderr}"
        );
    }
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "Caused by:" {
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
            assert!(
                !next.is_empty(),
                "{what}: \"Caused by:\" names nothing:\n{stderr}"
            );
        }
        let bare = line
            .trim()
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == ':');
        for terse in [
            "database error",
            "db error",
            "error performing TLS handshake",
        ] {
            assert_ne!(
                bare.trim(),
                terse,
                "{what}: a cause is only {terse:?}:\n{stderr}"
            );
        }
    }
}
