//! A PostgreSQL cluster of the test's own: `initdb` in a temporary directory,
//! a free port, started and stopped with `pg_ctl`, so a test can take the
//! database server itself down (not only cut a connection to it).
//!
//! PostgreSQL refuses to run as root, and CI runs as root: the cluster then
//! belongs to the `postgres` user (its directory chowned to it, `initdb` and
//! `pg_ctl` run with its uid and gid). Binaries come from the newest
//! `/usr/lib/postgresql/*/bin`, else `/usr/local/bin`, else `$PATH`.
//!
//! [`PgCluster::start_with_tls`] turns TLS on with a certificate the test
//! made, optionally refusing every TCP connection without it (`hostssl`
//! only); the test's own admin connections then use the Unix socket.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokio_postgres::{Client, NoTls};

use super::certs::ServerCert;
use super::{free_port, unique};

pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    running: bool,
    /// Plain TCP connections are refused: admin connections use the socket.
    tls_only: bool,
}

/// TLS for a cluster of the test's own.
pub struct PgTls {
    /// The server's certificate (`ssl_cert_file`) and key (`ssl_key_file`).
    pub cert: ServerCert,
    /// `hostssl` lines only in pg_hba.conf: TCP without TLS is refused.
    pub required: bool,
}

impl PgCluster {
    /// Creates a cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> Self {
        Self::create(None)
    }

    /// The same, with `ssl = on` and the given certificate.
    pub fn start_with_tls(tls: PgTls) -> Self {
        Self::create(Some(tls))
    }

    fn create(tls: Option<PgTls>) -> Self {
        let dir = std::env::temp_dir().join(unique("sweepwatch-pg-"));
        std::fs::create_dir_all(&dir).unwrap();
        let owner = postgres_owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let mut cluster = Self {
            port: free_port(),
            dir,
            bin: bin_dir(),
            owner,
            running: false,
            tls_only: tls.as_ref().is_some_and(|t| t.required),
        };
        let data = cluster.data_dir();
        cluster
            .run(
                "initdb",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-A".as_ref(),
                    "trust".as_ref(),
                    "-U".as_ref(),
                    "postgres".as_ref(),
                    "-E".as_ref(),
                    "UTF8".as_ref(),
                    "--locale=C".as_ref(),
                    // A throwaway cluster: skip fsyncing its files.
                    "--no-sync".as_ref(),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(tls) = tls {
            cluster.configure_tls(&tls);
        }
        // Another test's server may bind the port between free_port and
        // pg_ctl: the first start then takes another port.
        for _ in 0..5 {
            match cluster.try_start() {
                Ok(()) => return cluster,
                Err(e) if e.contains("Address already in use") => cluster.port = free_port(),
                Err(e) => panic!("{e}"),
            }
        }
        cluster.start_again();
        cluster
    }

    /// Writes the certificate and key (the key private to the server's user,
    /// as PostgreSQL demands), turns ssl on, and with `required` replaces
    /// pg_hba.conf: the socket stays open, TCP only with TLS.
    fn configure_tls(&self, tls: &PgTls) {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        std::fs::write(&cert, &tls.cert.cert_pem).unwrap();
        std::fs::write(&key, &tls.cert.key_pem).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some((uid, gid)) = self.owner {
            for f in [&cert, &key] {
                std::os::unix::fs::chown(f, Some(uid), Some(gid)).unwrap();
            }
        }
        let conf = self.data_dir().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&format!(
            "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            cert.display(),
            key.display()
        ));
        std::fs::write(&conf, text).unwrap();
        if tls.required {
            std::fs::write(
                self.data_dir().join("pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostssl all all ::1/128 trust\n",
            )
            .unwrap();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_again(&mut self) {
        self.try_start().unwrap_or_else(|e| panic!("{e}"));
    }

    fn try_start(&mut self) -> Result<(), String> {
        assert!(!self.running, "the cluster is already running");
        // Unix socket in our directory (not /var/run/postgresql, which may
        // not exist or belong to another cluster); TCP on 127.0.0.1 only.
        // fsync off: a fast shutdown still writes everything to the OS, and
        // the machine does not crash in a test.
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        let (data, log) = (self.data_dir(), self.log_file());
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )?;
        self.running = true;
        Ok(())
    }

    /// `pg_ctl stop -m fast`: every session is disconnected, open transactions
    /// roll back, and the server exits; waits until it has.
    pub fn stop_fast(&mut self) {
        self.stop("fast");
    }

    fn stop(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                mode.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "stop".as_ref(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.running = false;
    }

    /// The URL of database `db` in this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a database and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        self.client("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        self.url(name)
    }

    pub async fn client(&self, db: &str) -> Client {
        let connecting = if self.tls_only {
            let mut cfg = tokio_postgres::Config::new();
            cfg.host_path(&self.dir)
                .port(self.port)
                .user("postgres")
                .dbname(db);
            cfg.connect(NoTls).await
        } else {
            tokio_postgres::connect(&self.url(db), NoTls).await
        };
        let (client, conn) = connecting
            .unwrap_or_else(|e| panic!("connect to the test's cluster: {e}\n{}", self.log_tail()));
        tokio::spawn(conn);
        client
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("LC_ALL", "C")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid).env("HOME", &self.dir);
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.bin.join(tool).display()));
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{tool} {args:?} failed ({:?}):\n{}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        ))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let mut cmd = Command::new(self.bin.join("pg_ctl"));
            cmd.arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if let Some((uid, gid)) = self.owner {
                cmd.uid(uid).gid(gid);
            }
            let _ = cmd.status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The uid and gid to run PostgreSQL as: `postgres`'s when we are root.
fn postgres_owner() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root, and there is no 'postgres' user to run PostgreSQL as"
    );
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

/// The newest installed PostgreSQL's binaries.
fn bin_dir() -> PathBuf {
    let versioned = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, bin)| bin);
    versioned
        .or_else(|| {
            let local = Path::new("/usr/local/bin");
            local.join("initdb").exists().then(|| local.to_path_buf())
        })
        .unwrap_or_default() // empty: found on $PATH
}
