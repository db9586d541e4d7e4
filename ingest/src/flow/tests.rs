//! The flow control, in-process and deterministic: time is a parameter, the
//! broker and the database are small models.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

fn limits() -> FlowLimits {
    FlowLimits {
        pause_messages: 100,
        resume_messages: 50,
        pause_bytes: 1 << 20,
        resume_bytes: 1 << 19,
        batch_rows: 10,
        batch_age: Duration::from_millis(50),
        batches_in_flight: 1,
    }
}

fn ms(t0: Instant, n: u64) -> Instant {
    t0 + Duration::from_millis(n)
}

#[test]
fn pauses_above_the_mark_and_acknowledges_while_paused() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    let mut paused_at = None;
    for i in 0..100u16 {
        let c = f.received(i, Some(i + 1), 1, 100, t0);
        if c.paused {
            paused_at = Some(i);
        }
    }
    assert_eq!(paused_at, Some(99), "pauses on reaching 100 held");
    assert!(!f.reading());
    // Reading is paused: commits still produce acks, in order.
    let b = f.next_batch(t0).expect("10 rows queued: a full batch");
    assert_eq!(b.items, (0..10).collect::<Vec<_>>());
    let c = f.committed(b.id, t0);
    assert!(c.acks_ready && !c.resumed);
    assert_eq!(f.take_acks(), (1..=10).collect::<Vec<_>>());
    // Resumes once held is down to 50.
    let mut resumed_after = None;
    for n in 2.. {
        let b = f.next_batch(t0).unwrap();
        if f.committed(b.id, t0).resumed {
            resumed_after = Some(n);
            break;
        }
    }
    assert_eq!(resumed_after, Some(5), "100 - 5 batches of 10 = 50 held");
    assert!(f.reading());
    assert_eq!(f.held(), 50);
    assert_eq!(f.take_acks(), (11..=50).collect::<Vec<_>>());
    assert_eq!(f.pauses(), 1);
}

#[test]
fn pauses_on_bytes_too() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    let c = f.received((), Some(1), 1000, 1 << 20, t0);
    assert!(c.paused, "one 1 MiB message reaches the byte mark");
    let b = f.next_batch(t0).unwrap();
    assert_eq!(b.items.len(), 1, "a message larger than a batch goes alone");
    assert!(f.committed(b.id, t0).resumed);
}

#[test]
fn batches_by_rows_by_age_and_on_close() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    f.received("a", Some(1), 4, 10, t0);
    f.received("b", Some(2), 4, 10, ms(t0, 10));
    assert!(f.next_batch(ms(t0, 49)).is_none(), "8 rows, 49 ms: not due");
    assert_eq!(f.next_batch_at(), Some(ms(t0, 50)));
    let b = f.next_batch(ms(t0, 50)).expect("due by age");
    assert_eq!(b.items, vec!["a", "b"]);
    // One batch in flight: the next waits for the commit.
    f.received("c", Some(3), 6, 10, ms(t0, 60));
    f.received("d", Some(4), 6, 10, ms(t0, 60));
    assert!(f.next_batch(ms(t0, 500)).is_none());
    assert_eq!(f.next_batch_at(), None);
    f.committed(b.id, ms(t0, 70));
    // 12 rows queued: a full batch takes 6 (another 6 would pass 10).
    let b = f.next_batch(ms(t0, 70)).unwrap();
    assert_eq!(b.items, vec!["c"]);
    f.committed(b.id, ms(t0, 71));
    f.close();
    assert!(!f.reading());
    let b = f.next_batch(ms(t0, 72)).expect("closing: batch at once");
    assert_eq!(b.items, vec!["d"]);
    assert!(!f.drained());
    f.committed(b.id, ms(t0, 73));
    assert!(f.drained());
    assert_eq!(f.take_acks(), vec![1, 2, 3, 4]);
}

#[test]
fn only_a_message_that_changes_the_writers_wait_wakes_it() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    let due = |c: Changes| c.batch_due;
    // The first queued message sets the deadline the writer waits for.
    assert!(due(f.received("a", Some(1), 4, 10, t0)));
    // Later ones change nothing until the queue holds a full batch (10 rows).
    assert!(!due(f.received("b", Some(2), 4, 10, ms(t0, 1))));
    assert!(
        due(f.received("c", Some(3), 4, 10, ms(t0, 2))),
        "12 rows: full"
    );
    assert!(
        !due(f.received("d", Some(4), 4, 10, ms(t0, 3))),
        "already full"
    );
    let b = f.next_batch(ms(t0, 3)).expect("full");
    assert_eq!(b.items, vec!["a", "b"]);
    // Still queued (c, d: 8 rows): the writer learns of them at the commit.
    assert!(!due(f.received("e", Some(5), 1, 10, ms(t0, 4))));
    f.committed(b.id, ms(t0, 5));
    let b = f.next_batch(ms(t0, 60)).expect("due by age");
    assert_eq!(b.items, vec!["c", "d", "e"]);
    f.committed(b.id, ms(t0, 61));
    // The queue is empty again: the next message sets a new deadline.
    assert!(due(f.received("f", Some(6), 1, 10, ms(t0, 62))));
}

#[test]
fn acks_follow_the_order_of_batches_even_when_commits_do_not() {
    let t0 = Instant::now();
    let mut f = Flow::new(FlowLimits {
        batches_in_flight: 2,
        ..limits()
    });
    f.connected(false);
    for i in 0..20u16 {
        f.received((), Some(i), 1, 1, t0);
    }
    let first = f.next_batch(t0).unwrap();
    let second = f.next_batch(t0).unwrap();
    assert!(f.next_batch(t0).is_none(), "two in flight at most");
    let c = f.committed(second.id, t0);
    assert!(!c.acks_ready, "the first batch is not committed yet");
    assert!(f.take_acks().is_empty());
    assert!(f.committed(first.id, t0).acks_ready);
    assert_eq!(f.take_acks(), (0..20).collect::<Vec<_>>());
}

#[test]
fn acks_go_only_to_the_connection_that_delivered() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    f.received("old", Some(7), 1, 1, t0);
    let b = f.next_batch(ms(t0, 100)).unwrap();
    // The connection drops while the batch commits, and a new one comes up.
    f.disconnected();
    assert_eq!(f.connected(true), 2);
    f.received("new", Some(7), 1, 1, ms(t0, 100));
    let c = f.committed(b.id, ms(t0, 101));
    assert!(
        !c.acks_ready,
        "packet id 7 of epoch 1 must not ack epoch 2's 7"
    );
    let b = f.next_batch(ms(t0, 200)).unwrap();
    assert_eq!(b.items, vec!["new"]);
    f.committed(b.id, ms(t0, 201));
    assert_eq!(f.take_acks(), vec![7]);
}

#[test]
fn a_kept_session_purges_old_copies_a_lost_session_keeps_them() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    f.received("qos1", Some(1), 1, 5, t0);
    f.received("qos0", None, 1, 5, t0);
    f.disconnected();
    f.connected(true);
    assert_eq!(f.held(), 1, "the broker redelivers the QoS 1 message");
    assert_eq!(f.held_bytes(), 5);
    let mut g = Flow::new(limits());
    g.connected(false);
    g.received("qos1", Some(1), 1, 5, t0);
    g.disconnected();
    g.connected(false);
    assert_eq!(g.held(), 1, "the broker lost it: ours is the only copy");
    let b = g.next_batch(ms(t0, 50)).unwrap();
    assert_eq!(b.items, vec!["qos1"]);
    g.committed(b.id, ms(t0, 50));
    assert!(
        g.take_acks().is_empty(),
        "no ack for another connection's id"
    );
}

#[test]
fn pending_acks_die_with_their_connection() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    f.connected(false);
    f.received((), Some(1), 1, 1, t0);
    let b = f.next_batch(ms(t0, 50)).unwrap();
    f.committed(b.id, ms(t0, 50));
    f.disconnected();
    assert!(f.take_acks().is_empty());
}

#[test]
fn stall_clock_starts_with_work_and_restarts_with_each_commit() {
    let t0 = Instant::now();
    let mut f = Flow::new(limits());
    let after = Duration::from_secs(30);
    assert_eq!(f.stalled_for(ms(t0, 999_999), after), None, "idle");
    f.connected(false);
    f.received((), Some(1), 1, 1, ms(t0, 1_000_000));
    assert_eq!(f.stalled_for(ms(t0, 1_029_999), after), None);
    assert_eq!(
        f.stalled_for(ms(t0, 1_030_000), after),
        Some(Duration::from_secs(30))
    );
    let b = f.next_batch(ms(t0, 1_030_000)).unwrap();
    f.received((), Some(2), 1, 1, ms(t0, 1_030_001));
    f.committed(b.id, ms(t0, 1_031_000));
    assert_eq!(f.stalled_for(ms(t0, 1_060_999), after), None);
    assert!(f.stalled_for(ms(t0, 1_061_000), after).is_some());
}

/// A broker with a large backlog for our session, as Mosquitto behaves: it
/// sends whenever we read, never more than the 65,535 packet ids MQTT has
/// outstanding at once, and frees an id when its PUBACK arrives.
struct BrokerModel {
    backlog: u64,
    next_msg: u64,
    /// (packet id, message number) sent and not acknowledged, in send order.
    outstanding: VecDeque<(u16, u64)>,
    free_ids: Vec<u16>,
}

impl BrokerModel {
    fn new(backlog: u64) -> Self {
        Self {
            backlog,
            next_msg: 0,
            outstanding: VecDeque::new(),
            free_ids: (1..=u16::MAX).rev().collect(),
        }
    }

    fn send(&mut self) -> Option<(u16, u64)> {
        if self.next_msg == self.backlog {
            return None;
        }
        let id = self.free_ids.pop()?;
        let m = (id, self.next_msg);
        self.next_msg += 1;
        self.outstanding.push_back(m);
        Some(m)
    }

    /// PUBACKs must come in the order the messages were sent.
    fn ack(&mut self, id: u16) {
        let (sent, _) = self.outstanding.pop_front().expect("an ack for nothing");
        assert_eq!(sent, id, "acks out of order");
        self.free_ids.push(id);
    }
}

/// The regression for the ingest deadlock: a backlog much larger than every
/// bound (queue, packet ids) drains completely, reading pauses many times, and
/// acknowledgements keep flowing while it is paused.
#[test]
fn a_backlog_past_every_bound_drains_with_reading_paused_in_between() {
    let t0 = Instant::now();
    let backlog = 1_000_000;
    let mut broker = BrokerModel::new(backlog);
    let mut f = Flow::new(FlowLimits {
        pause_messages: 32_768,
        resume_messages: 16_384,
        batch_rows: 5_000,
        ..FlowLimits::default()
    });
    f.connected(false);
    let mut stored = vec![false; backlog as usize];
    let mut acks_while_paused = 0usize;
    let mut steps = 0u64;
    let mut now = t0;
    while stored.iter().any(|s| !s) {
        steps += 1;
        assert!(steps < 1_000_000, "no progress: the flow is stuck");
        now += Duration::from_millis(1);
        // The socket: read while allowed (up to 2,000 packets per step).
        for _ in 0..2_000 {
            if !f.reading() {
                break;
            }
            let Some((id, n)) = broker.send() else { break };
            f.received(n, Some(id), 1, 150, now);
        }
        // The writer, slower than the broker: one batch every fifth step.
        if steps.is_multiple_of(5)
            && let Some(b) = f.next_batch(now)
        {
            for &n in &b.items {
                stored[n as usize] = true;
            }
            f.committed(b.id, now);
        }
        // The connection's writer half: acks go out whatever the reading state.
        let acks = f.take_acks();
        if !f.reading() {
            acks_while_paused += acks.len();
        }
        for id in acks {
            broker.ack(id);
        }
        assert!(f.held() <= 32_768 + 1, "held {} past the mark", f.held());
    }
    assert!(broker.outstanding.is_empty(), "every message acknowledged");
    assert!(f.pauses() >= 10, "reading paused {} times", f.pauses());
    assert!(
        acks_while_paused > 100_000,
        "{acks_while_paused} acks while paused"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Receive { qos1: bool, rows: usize },
    Batch { advance_ms: u64 },
    Commit,
    Reconnect { session_present: bool },
    SendAcks,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 1usize..4).prop_map(|(qos1, rows)| Op::Receive { qos1, rows }),
        3 => (0u64..80).prop_map(|advance_ms| Op::Batch { advance_ms }),
        3 => Just(Op::Commit),
        1 => any::<bool>().prop_map(|session_present| Op::Reconnect { session_present }),
        2 => Just(Op::SendAcks),
    ]
}

proptest! {
    /// Whatever happens in whatever order: every message of the current
    /// connection is acknowledged at most once, only after it was committed,
    /// in the order received; the held count is exact; reading is never on at
    /// or above the mark; and once the database keeps committing, everything
    /// held is committed.
    #[test]
    fn invariants_hold_under_any_interleaving(ops in proptest::collection::vec(op(), 1..400)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut f = Flow::new(FlowLimits {
            pause_messages: 12,
            resume_messages: 6,
            batch_rows: 5,
            batches_in_flight: 2,
            ..limits()
        });
        let mut epoch = f.connected(false);
        let mut next_pkid = 1u16;
        // (epoch, pkid) received, committed, acked.
        let mut committed: HashSet<(u64, u16)> = HashSet::new();
        let mut acked: HashSet<(u64, u16)> = HashSet::new();
        let mut last_acked: Option<u16> = None;
        let mut in_flight: VecDeque<Batch<(u64, Option<u16>)>> = VecDeque::new();
        let mut stored = 0usize;
        let mut received = 0usize;
        let mut purged = 0usize;
        for op in ops {
            match op {
                Op::Receive { qos1, rows } => {
                    if !f.reading() {
                        continue; // the shell does not read while paused
                    }
                    let pkid = qos1.then(|| { next_pkid += 1; next_pkid });
                    f.received((epoch, pkid), pkid, rows, 10, now);
                    received += 1;
                }
                Op::Batch { advance_ms } => {
                    now += Duration::from_millis(advance_ms);
                    if let Some(b) = f.next_batch(now) {
                        in_flight.push_back(b);
                    }
                }
                Op::Commit => {
                    if let Some(b) = in_flight.pop_front() {
                        for (ep, p) in &b.items {
                            if let Some(p) = p { committed.insert((*ep, *p)); }
                        }
                        stored += b.items.len();
                        f.committed(b.id, now);
                    }
                }
                Op::Reconnect { session_present } => {
                    let held_before = f.held();
                    f.disconnected();
                    epoch = f.connected(session_present);
                    last_acked = None;
                    purged += held_before - f.held();
                    if !session_present {
                        prop_assert_eq!(held_before, f.held());
                    }
                }
                Op::SendAcks => {
                    for p in f.take_acks() {
                        prop_assert!(committed.contains(&(epoch, p)), "ack before commit");
                        prop_assert!(acked.insert((epoch, p)), "acked twice");
                        if let Some(prev) = last_acked { prop_assert!(p > prev, "out of order"); }
                        last_acked = Some(p);
                    }
                }
            }
            let queued_or_flying = in_flight.iter().map(|b| b.items.len()).sum::<usize>();
            prop_assert!(f.held() >= queued_or_flying);
            prop_assert!(!(f.reading() && f.held() >= 12), "reading at {} held", f.held());
        }
        // The database keeps committing: everything held drains.
        f.close();
        for _ in 0..10_000 {
            if let Some(b) = in_flight.pop_front() {
                stored += b.items.len();
                f.committed(b.id, now);
            } else if let Some(b) = f.next_batch(now) {
                in_flight.push_back(b);
            } else {
                break;
            }
        }
        prop_assert!(f.drained());
        prop_assert_eq!(stored + purged, received);
    }
}
