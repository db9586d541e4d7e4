//! Who the client is (its IP address, through trusted reverse proxies) and
//! the per-client limit on failed authentications that slows a token brute
//! force.
//!
//! Each unknown token a client presents takes one from its allowance
//! (`auth_failures_burst`, refilled at `auth_failures_per_min`). While the
//! allowance is spent, *every* request of that client that needs a token is
//! answered 429 with `Retry-After`, before its token is even looked at: were
//! a valid token let through, the difference between 200 and 429 would tell
//! a guesser which guess was right, and the limit would slow nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

/// An IP address or a CIDR range, for `api.trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { net: addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one. `None` when the
/// connection's address is unknown (a request served in-process).
pub fn client_ip(
    peer: Option<&ConnectInfo<SocketAddr>>,
    headers: &HeaderMap,
    trusted: &[IpRange],
) -> Option<IpAddr> {
    let peer = canonical(peer?.0.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .collect();
    // Proxies append: the last untrusted address is the one a trusted proxy saw.
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(*ip))
            .unwrap_or(peer),
    )
}

/// The key a client's failures are counted under: its IPv4 address, or the
/// /64 of its IPv6 address (one subscriber's whole prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    Ip(IpAddr),
    /// Clients beyond [`MAX_CLIENTS`] share one allowance.
    Overflow,
}

fn key_of(ip: IpAddr) -> ClientKey {
    match ip {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            ClientKey::Ip(IpAddr::V6(Ipv6Addr::from(prefix)))
        }
        v4 => ClientKey::Ip(v4),
    }
}

/// Clients with recent failures that are tracked one by one. Only failures
/// add a client and a client whose allowance refilled is forgotten, so this
/// bounds memory under a distributed guess; beyond it, new clients share one
/// allowance (a flood of addresses slows itself, not the known ones).
const MAX_CLIENTS: usize = 65_536;

/// Failed authentications per client, as token buckets.
pub struct FailureLimiter {
    burst: f64,
    per_s: f64,
    clients: Mutex<HashMap<ClientKey, (f64, Instant)>>,
}

impl FailureLimiter {
    pub fn new(burst: u32, per_min: f64) -> Self {
        Self {
            burst: f64::from(burst),
            per_s: (per_min / 60.0).max(0.0),
            clients: Mutex::default(),
        }
    }

    fn enabled(&self) -> bool {
        self.burst >= 1.0
    }

    /// Seconds until `ip` may try again, when its allowance is spent.
    pub fn blocked(&self, ip: Option<IpAddr>) -> Option<u64> {
        let ip = ip.filter(|_| self.enabled())?;
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let key = match key_of(ip) {
            k if clients.contains_key(&k) => k,
            _ if clients.len() >= MAX_CLIENTS => ClientKey::Overflow,
            _ => return None,
        };
        let (left, _) = self.refill(clients.get_mut(&key)?, now);
        (left < 1.0).then(|| self.wait_s(left))
    }

    /// Counts a failed authentication of `ip`.
    pub fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip.filter(|_| self.enabled()) else {
            return;
        };
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = key_of(ip);
        if !clients.contains_key(&key) && clients.len() >= MAX_CLIENTS {
            self.forget_refilled(&mut clients, now);
            if clients.len() >= MAX_CLIENTS {
                key = ClientKey::Overflow;
            }
        }
        let bucket = clients.entry(key).or_insert((self.burst, now));
        let (left, _) = self.refill(bucket, now);
        bucket.0 = (left - 1.0).max(0.0);
    }

    fn refill(&self, bucket: &mut (f64, Instant), now: Instant) -> (f64, Instant) {
        let (left, at) = *bucket;
        let left = (left + now.duration_since(at).as_secs_f64() * self.per_s).min(self.burst);
        *bucket = (left, now);
        *bucket
    }

    fn wait_s(&self, left: f64) -> u64 {
        if self.per_s <= 0.0 {
            return 3600;
        }
        ((1.0 - left) / self.per_s).ceil().max(1.0) as u64
    }

    fn forget_refilled(&self, clients: &mut HashMap<ClientKey, (f64, Instant)>, now: Instant) {
        clients.retain(|_, b| self.refill(b, now).0 < self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn failures_past_the_burst_block_the_client_and_no_other() {
        let l = FailureLimiter::new(3, 6.0);
        for _ in 0..3 {
            assert_eq!(l.blocked(ip("10.0.0.1")), None);
            l.failed(ip("10.0.0.1"));
        }
        assert_eq!(l.blocked(ip("10.0.0.1")), Some(10), "one try per 10 s");
        assert_eq!(l.blocked(ip("10.0.0.2")), None);
        // An IPv6 client is its /64.
        for _ in 0..3 {
            l.failed(ip("2001:db8::1"));
        }
        assert!(l.blocked(ip("2001:db8::ffff")).is_some());
        assert!(l.blocked(ip("2001:db8:0:1::1")).is_none());
        // Unknown address (in-process requests), or the limit off: never blocked.
        assert_eq!(l.blocked(None), None);
        let off = FailureLimiter::new(0, 6.0);
        off.failed(ip("10.0.0.1"));
        assert_eq!(off.blocked(ip("10.0.0.1")), None);
    }

    #[test]
    fn ranges_and_forwarded_clients() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains("10.1.2.3".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(
            IpRange::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            IpRange::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(IpRange::parse("10.0.0.0/33").is_none());
        assert!(IpRange::parse("proxy").is_none());

        let trusted = [IpRange::parse("10.0.0.0/8").unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.2.3.4, 5.6.7.8, 10.0.0.9".parse().unwrap(),
        );
        let via_proxy = ConnectInfo("10.0.0.1:5000".parse::<SocketAddr>().unwrap());
        let direct = ConnectInfo("9.9.9.9:5000".parse::<SocketAddr>().unwrap());
        assert_eq!(client_ip(Some(&via_proxy), &h, &trusted), ip("5.6.7.8"));
        assert_eq!(client_ip(Some(&direct), &h, &trusted), ip("9.9.9.9"));
        assert_eq!(client_ip(Some(&via_proxy), &h, &[]), ip("10.0.0.1"));
        assert_eq!(client_ip(None, &h, &trusted), None);
    }
}
