//! A TCP proxy that a benchmark can cut and restore: put it between the service
//! and PostgreSQL to take the database away from the service alone (other users
//! of the same server are not disturbed). The idea of `tests/e2e/helpers/proxy.rs`,
//! which examples cannot import.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    /// Connections refused while cut.
    refused: Arc<AtomicU64>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    pub async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let refused = Arc::new(AtomicU64::new(0));
        let accept = {
            let (down, conns, refused) = (down.clone(), conns.clone(), refused.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if down.load(Ordering::SeqCst) {
                        // Closed at once: the client sees the connection end before
                        // the startup handshake, as with a server that is not there.
                        refused.fetch_add(1, Ordering::Relaxed);
                        drop(inbound);
                        continue;
                    }
                    let upstream = upstream.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                            let _ = outbound.set_nodelay(true);
                            let _ = inbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    let mut open = conns.lock().unwrap_or_else(|e| e.into_inner());
                    open.retain(|c| !c.is_finished());
                    open.push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Ok(Self {
            port,
            down,
            conns,
            refused,
            accept,
        })
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        let mut open = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        for c in open.drain(..) {
            c.abort();
        }
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Connections refused while cut, so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
