//! PostgreSQL over TLS: a cluster of the test's own with `ssl = on`, a
//! certificate for `localhost` from a CA the test made, and pg_hba.conf
//! taking TCP connections only with TLS (`hostssl`). The certificate names
//! `localhost` only, so connecting to `127.0.0.1` is connecting to "another
//! host name" as far as the certificate goes.

use std::time::Duration;

use super::{Dir, assert_names_cause};
use crate::helpers::broker::Broker;
use crate::helpers::certs::Ca;
use crate::helpers::pgcluster::{PgCluster, PgTls};
use crate::helpers::publisher::{Publisher, fix_json, now_ms};
use crate::helpers::service::{Service, run};
use crate::helpers::{eventually, free_port, unique};

/// A TLS-only cluster, the CA that issued its certificate (`ca.pem`) and
/// another CA (`other-ca.pem`), both in the returned directory.
fn tls_cluster() -> (PgCluster, Dir) {
    let dir = Dir::new("sweepwatch-pgtls-");
    let ca = Ca::new("sweepwatch test database CA");
    ca.write(&dir.0, "ca.pem");
    Ca::new("some other CA").write(&dir.0, "other-ca.pem");
    let pg = tokio::task::block_in_place(|| {
        PgCluster::start_with_tls(PgTls {
            cert: ca.issue(&["localhost"]),
            required: true,
        })
    });
    (pg, dir)
}

/// `sweepwatch migrate` against `url` with `env`.
async fn migrate(url: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec![("SWEEPWATCH_DATABASE_URL", url)];
    all.extend_from_slice(env);
    run(&["migrate"], &all, Duration::from_secs(60)).await
}

fn assert_ok(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_stores_fixes_over_verify_full_with_the_right_ca() {
    let (pg, dir) = tls_cluster();
    pg.create_database("sweepwatch").await;
    let url = format!(
        "postgres://postgres@localhost:{}/sweepwatch?sslmode=verify-full&sslrootcert={}",
        pg.port,
        dir.file("ca.pem")
    );
    let broker = Broker::start();
    let _svc = Service::start(&url, &broker.url(), &unique("pgtls-"), &[]).await;

    let mut publisher = Publisher::connect(broker.port).await;
    let t0 = now_ms() - 60_000;
    for i in 0..20 {
        let fix = fix_json(t0 + i * 1000, 22.8143, 113.6721 + i as f64 * 1e-4, i as u64);
        publisher
            .publish("sweepwatch/v1/humen/tls-sw-1/fix", fix)
            .await;
    }
    publisher.flush().await;
    let client = pg.client("sweepwatch").await;
    eventually(Duration::from_secs(30), "20 fixes stored", || async {
        let n: i64 = client
            .query_one("SELECT count(*) FROM fixes", &[])
            .await
            .ok()?
            .get(0);
        (n == 20).then_some(())
    })
    .await;
    // Every TCP session of the service is encrypted (pg_hba allows no other),
    // and there are some: the pool's.
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
               FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE a.datname = 'sweepwatch' AND a.client_addr IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    let (tls, plain): (i64, i64) = (row.get(0), row.get(1));
    assert!(tls >= 1 && plain == 0, "TLS sessions {tls}, plain {plain}");

    // The same through the configuration's settings (environment), and
    // `migrate` creating a database over TLS.
    let out = migrate(
        &format!("postgres://postgres@localhost:{}/made_over_tls", pg.port),
        &[
            ("SWEEPWATCH_DATABASE_SSLMODE", "verify-full"),
            ("SWEEPWATCH_DATABASE_CA_FILE", &dir.file("ca.pem")),
        ],
    )
    .await;
    assert_ok("migrate with SWEEPWATCH_DATABASE_SSLMODE/CA_FILE", &out);
    let made: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = 'made_over_tls'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(made, 1, "migrate did not create the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmodes_behave_as_libpq_and_certificate_failures_say_what_to_do() {
    let (pg, dir) = tls_cluster();
    let (ca, other) = (dir.file("ca.pem"), dir.file("other-ca.pem"));
    let at = |host: &str, db: &str, params: &str| {
        format!("postgres://postgres@{host}:{}/{db}?{params}", pg.port)
    };

    // require: encrypted, the certificate unchecked (unknown CA, other name).
    let out = migrate(&at("127.0.0.1", "req", "sslmode=require"), &[]).await;
    assert_ok("require without a CA", &out);
    // prefer (the default): the server offers TLS, so TLS (plain is refused).
    let out = migrate(&at("127.0.0.1", "pref", ""), &[]).await;
    assert_ok("prefer", &out);
    // verify-ca: the chain, not the name (the certificate is for localhost).
    let out = migrate(
        &at(
            "127.0.0.1",
            "vca",
            &format!("sslmode=verify-ca&sslrootcert={ca}"),
        ),
        &[],
    )
    .await;
    assert_ok("verify-ca to 127.0.0.1", &out);

    // disable against a server that takes TCP only with TLS.
    let out = migrate(&at("127.0.0.1", "dis", "sslmode=disable"), &[]).await;
    assert_names_cause(
        "sslmode=disable against hostssl only",
        &out,
        &[
            "no pg_hba.conf entry for host \"127.0.0.1\"",
            "no encryption",
            "use sslmode=require",
        ],
    );
    // verify-full with a CA that did not issue the server's certificate.
    let out = migrate(
        &at(
            "localhost",
            "wrongca",
            &format!("sslmode=verify-full&sslrootcert={other}"),
        ),
        &[],
    )
    .await;
    assert_names_cause(
        "verify-full with another CA",
        &out,
        &[
            "TLS handshake with localhost failed",
            "invalid peer certificate: UnknownIssuer",
            &format!("not issued by the CA in {other}"),
            "set database.ca_file (SWEEPWATCH_DATABASE_CA_FILE",
        ],
    );
    // require with a CA file checks the chain, as libpq does.
    let out = migrate(
        &at(
            "127.0.0.1",
            "reqca",
            &format!("sslmode=require&sslrootcert={other}"),
        ),
        &[],
    )
    .await;
    assert_names_cause(
        "require with another CA",
        &out,
        &["invalid peer certificate: UnknownIssuer"],
    );
    // verify-full to a name the certificate is not for.
    let out = migrate(
        &at("127.0.0.1", "name", "sslmode=verify-full"),
        &[("SWEEPWATCH_DATABASE_CA_FILE", &ca)],
    )
    .await;
    assert_names_cause(
        "verify-full to 127.0.0.1 with a certificate for localhost",
        &out,
        &[
            "certificate not valid for name \"127.0.0.1\"",
            "only valid for DnsName(\"localhost\")",
            "use sslmode=verify-ca",
        ],
    );

    // `serve` does not wait for a certificate to verify: it exits, saying why.
    let http = format!("127.0.0.1:{}", free_port());
    let url = at("localhost", "postgres", "sslmode=verify-full");
    let out = run(
        &["serve"],
        &[
            ("SWEEPWATCH_DATABASE_URL", url.as_str()),
            ("SWEEPWATCH_DATABASE_CA_FILE", &other),
            ("SWEEPWATCH_HTTP_ADDR", &http),
            ("SWEEPWATCH_MQTT_URL", "mqtt://127.0.0.1:1"),
        ],
        Duration::from_secs(30),
    )
    .await;
    assert_names_cause(
        "serve with another CA",
        &out,
        &[
            "while connecting to the database postgres@localhost",
            "invalid peer certificate: UnknownIssuer",
        ],
    );
}
