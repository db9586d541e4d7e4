//! A token bucket that turns a target rate into a batch size per timer tick, so the
//! publisher sleeps once per tick instead of once per message. Pure: elapsed time is a
//! parameter.

use std::time::Duration;

/// Tokens (fixes) accumulate at `rate` per second, capped at `burst`.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
}

impl Pacer {
    /// A bucket filling at `rate` per second that holds at most `max_burst` worth of time:
    /// a publisher held back longer than that (a full channel, a busy CPU) does not try
    /// to make up the whole backlog at once. The bucket starts empty.
    pub fn new(rate: f64, max_burst: Duration) -> Self {
        let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
        Self {
            rate,
            burst: (rate * max_burst.as_secs_f64()).max(1.0),
            tokens: 0.0,
        }
    }

    /// Adds the tokens earned over `elapsed` and takes out the whole ones: the number of
    /// fixes to publish now.
    pub fn take(&mut self, elapsed: Duration) -> u64 {
        self.tokens = (self.tokens + self.rate * elapsed.as_secs_f64()).min(self.burst);
        let whole = self.tokens.floor();
        self.tokens -= whole;
        whole as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);

    #[test]
    fn steady_ticks_give_the_rate() {
        let mut p = Pacer::new(2_500.0, Duration::from_millis(250));
        let total: u64 = (0..100).map(|_| p.take(TICK)).sum();
        assert!((2_499..=2_500).contains(&total), "{total}");
    }

    #[test]
    fn fractions_carry_over() {
        // 150/s is 1.5 per 10 ms tick: alternately 1 and 2.
        let mut p = Pacer::new(150.0, Duration::from_secs(1));
        let got: Vec<u64> = (0..4).map(|_| p.take(TICK)).collect();
        assert_eq!(got.iter().sum::<u64>(), 6);
        assert!(got.iter().all(|&n| n == 1 || n == 2), "{got:?}");
    }

    #[test]
    fn a_late_tick_is_caught_up_up_to_the_burst() {
        let mut p = Pacer::new(1_000.0, Duration::from_millis(100));
        assert_eq!(p.take(Duration::from_millis(50)), 50);
        assert_eq!(p.take(Duration::from_secs(5)), 100);
    }

    #[test]
    fn nonsense_rates_publish_nothing() {
        assert_eq!(Pacer::new(f64::NAN, TICK).take(TICK), 0);
        assert_eq!(Pacer::new(-5.0, TICK).take(TICK), 0);
    }
}
