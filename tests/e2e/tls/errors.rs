//! Every error the command line prints names its cause (issue 14: "Error:
//! while creating the database / Caused by:" said nothing useful): the
//! binary run against a refused connection, bad URLs, a missing CA file, a
//! role the server does not know, and TLS required from a server without it.

use std::time::Duration;

use super::assert_names_cause;
use crate::helpers::free_port;
use crate::helpers::pgcluster::PgCluster;
use crate::helpers::service::run;

async fn sweepwatch(args: &[&str], url: &str) -> std::process::Output {
    run(
        args,
        &[("SWEEPWATCH_DATABASE_URL", url)],
        Duration::from_secs(60),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_errors_name_their_cause_tls_or_not() {
    // Nobody listens there.
    let refused = format!("postgres://postgres@127.0.0.1:{}/sweepwatch", free_port());
    let out = sweepwatch(&["migrate"], &refused).await;
    assert_names_cause(
        "migrate, connection refused",
        &out,
        &[
            "while creating the database postgres@127.0.0.1:",
            "could not connect to the database server",
            "Connection refused",
        ],
    );
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/humen.json");
    let out = sweepwatch(&["import", scenario], &refused).await;
    assert_names_cause("import, connection refused", &out, &["Connection refused"]);

    // Bad URLs: which part is wrong, not only "invalid connection string".
    let cases = [
        (
            "postgres://postgres@127.0.0.1:5432/x?sslmode=verify-fulll",
            "sslmode \"verify-fulll\": use disable, prefer, require, verify-ca or verify-full",
        ),
        (
            "postgres://postgres@127.0.0.1:5432/x?sslcert=/tmp/client.pem",
            "unknown option `sslcert`",
        ),
        (
            "postgres://postgres@127.0.0.1:notaport/x",
            "invalid value for option `port`",
        ),
        (
            "postgres://postgres@127.0.0.1:5432/x?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
            "database TLS: CA file /nonexistent/ca.pem",
        ),
    ];
    for (url, cause) in cases {
        let out = sweepwatch(&["migrate"], url).await;
        assert_names_cause(url, &out, &[cause]);
    }

    // A server that answers, and refuses: its own words.
    let pg = tokio::task::block_in_place(PgCluster::start);
    let nobody = format!("postgres://nobody@127.0.0.1:{}/x", pg.port);
    let out = sweepwatch(&["migrate"], &nobody).await;
    assert_names_cause(
        "unknown role",
        &out,
        &["FATAL: role \"nobody\" does not exist (SQLSTATE 28000)"],
    );
    // TLS required, and the server has none (initdb's default: ssl = off).
    let out = sweepwatch(&["migrate"], &pg.url("x?sslmode=require")).await;
    assert_names_cause(
        "require against ssl = off",
        &out,
        &["the server does not support TLS (ssl = off)"],
    );
}
