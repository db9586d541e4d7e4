//! The HTTP server: HTTP/1.1 connections served by hyper, each request told
//! its peer's address (`ConnectInfo`), a client that does not send a whole
//! request header within `header_read_timeout` cut off (which also closes a
//! keep-alive connection idle for as long), and a graceful shutdown.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires
//! with it: a client trickling a header byte a second could hold a
//! connection (and its task) forever. HTTP/2 is not offered: browsers speak
//! it only over TLS, which a reverse proxy in front terminates, and its
//! version sniffing would wait on a trickled preface with no timeout.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A client must send a request's whole header within this time.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    opts: ServeOptions,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "could not accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service =
            tower::ServiceExt::map_request(router.clone(), move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // A client that went away or timed out: not the server's fault.
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
