//! Keep-alive as a pure state machine: when to send PINGREQ, and when the
//! broker is to be considered gone.
//!
//! A PINGREQ goes out every keep-alive interval, whatever else is written
//! (acks alone never tell us the broker is alive). The broker is dead when a
//! ping is unanswered and nothing at all has arrived for a whole interval
//! *while we were reading*: while reading is paused, the PINGRESP waits in the
//! socket behind the messages we have not read yet, and that is no sign of a
//! dead broker.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do before this instant.
    WaitUntil(Instant),
    SendPing,
    /// No answer: drop the connection.
    Dead,
}

#[derive(Debug)]
pub struct KeepAlive {
    interval: Duration,
    next_ping: Instant,
    /// When the unanswered ping was sent.
    awaiting: Option<Instant>,
    /// When a packet last arrived, or reading last resumed.
    heard_or_resumed: Instant,
    reading: bool,
}

impl KeepAlive {
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self {
            interval,
            next_ping: now + interval,
            awaiting: None,
            heard_or_resumed: now,
            reading: true,
        }
    }

    /// Any packet arrived.
    pub fn on_packet(&mut self, now: Instant) {
        self.heard_or_resumed = now;
    }

    pub fn on_pingresp(&mut self) {
        self.awaiting = None;
    }

    /// The reader paused or resumed reading.
    pub fn on_reading(&mut self, reading: bool, now: Instant) {
        if reading && !self.reading {
            self.heard_or_resumed = now;
        }
        self.reading = reading;
    }

    /// What to do now. Call again at the instant `WaitUntil` names.
    pub fn poll(&mut self, now: Instant) -> Action {
        if let Some(sent) = self.awaiting {
            let quiet_since = sent.max(self.heard_or_resumed);
            if self.reading && now.saturating_duration_since(quiet_since) >= self.interval {
                return Action::Dead;
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.interval;
            if self.awaiting.is_none() {
                self.awaiting = Some(now);
                return Action::SendPing;
            }
        }
        let mut wake = self.next_ping;
        if let Some(sent) = self.awaiting
            && self.reading
        {
            wake = wake.min(sent.max(self.heard_or_resumed) + self.interval);
        }
        Action::WaitUntil(wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_secs(10);

    fn at(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn pings_every_interval_and_an_answer_keeps_it_alive() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(I, t0);
        assert_eq!(k.poll(at(t0, 5)), Action::WaitUntil(at(t0, 10)));
        assert_eq!(k.poll(at(t0, 10)), Action::SendPing);
        k.on_packet(at(t0, 11));
        k.on_pingresp();
        assert_eq!(k.poll(at(t0, 15)), Action::WaitUntil(at(t0, 20)));
        assert_eq!(k.poll(at(t0, 20)), Action::SendPing);
    }

    #[test]
    fn unanswered_and_silent_for_an_interval_is_dead() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(I, t0);
        assert_eq!(k.poll(at(t0, 10)), Action::SendPing);
        assert_eq!(k.poll(at(t0, 19)), Action::WaitUntil(at(t0, 20)));
        assert_eq!(k.poll(at(t0, 20)), Action::Dead);
    }

    #[test]
    fn traffic_without_a_pingresp_is_alive() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(I, t0);
        assert_eq!(k.poll(at(t0, 10)), Action::SendPing);
        // The PINGRESP is behind a stream of messages still arriving.
        for s in 11..40 {
            k.on_packet(at(t0, s));
            assert_ne!(k.poll(at(t0, s)), Action::Dead);
        }
        // The last packet came at 39: silent for an interval at 49.
        assert_eq!(k.poll(at(t0, 48)), Action::WaitUntil(at(t0, 49)));
        assert_eq!(k.poll(at(t0, 49)), Action::Dead);
    }

    #[test]
    fn paused_reading_is_never_a_timeout() {
        let t0 = Instant::now();
        let mut k = KeepAlive::new(I, t0);
        assert_eq!(k.poll(at(t0, 10)), Action::SendPing);
        k.on_reading(false, at(t0, 10));
        // Paused for ten minutes: no more pings (one is outstanding), never dead.
        for s in (11..600).step_by(7) {
            assert!(matches!(k.poll(at(t0, s)), Action::WaitUntil(_)));
        }
        // Reading again: a whole interval of silence is needed to call it dead.
        k.on_reading(true, at(t0, 600));
        assert!(matches!(k.poll(at(t0, 609)), Action::WaitUntil(_)));
        assert_eq!(k.poll(at(t0, 610)), Action::Dead);
    }
}
