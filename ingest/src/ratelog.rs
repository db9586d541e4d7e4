//! Logging that cannot flood: at most `burst` lines per window, then one line
//! saying how many were suppressed. Pair it with a counter; the counter is the
//! complete record, the log is for a human's first look.

use std::time::{Duration, Instant};

pub struct RateLimitedLog {
    window: Duration,
    burst: u32,
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(window: Duration, burst: u32) -> Self {
        Self {
            window,
            burst,
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }

    /// Whether to log this event. When a window ends with suppressed events,
    /// `on_suppressed` is called once with their number.
    pub fn allow(&mut self, on_suppressed: impl FnOnce(u64)) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= self.window {
            if self.suppressed > 0 {
                on_suppressed(self.suppressed);
            }
            self.window_start = now;
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < self.burst {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_suppresses_then_reports() {
        let mut log = RateLimitedLog::new(Duration::from_millis(50), 3);
        let allowed = (0..10)
            .filter(|_| log.allow(|_| panic!("no report inside the window")))
            .count();
        assert_eq!(allowed, 3);
        std::thread::sleep(Duration::from_millis(60));
        let mut reported = 0;
        assert!(log.allow(|n| reported = n));
        assert_eq!(reported, 7);
    }
}
