//! Flow control from the socket to the database and back, as a pure state
//! machine: no IO, no clock (time is a parameter), no locks. The connection
//! and the writer are thin shells around it (`crate::mqtt::conn`, `crate::writer`).
//!
//! ```text
//!  socket ──received──▶ queue ──next_batch──▶ in flight ──committed──▶ acks ──▶ socket
//!            (pauses reading            (batches, in order)        (current connection,
//!             above the high-water mark)                            in order)
//! ```
//!
//! **Why it cannot deadlock.** Reading and acknowledging are independent. The
//! queue decides only whether the shell *reads* the socket; acknowledgements
//! are produced by commits and written by the connection's own writer half,
//! whatever the reading state. Reading resumes when commits bring the held
//! count down, and commits need nothing from the socket, only the database. So
//! whenever the database is up, held messages are committed, acknowledged, and
//! reading resumes. The acknowledgements waiting to be written are bounded by
//! construction: one per QoS 1 message the broker has outstanding on the
//! current connection, at most 65,535 (MQTT packet ids), and they are dropped
//! when that connection ends.
//!
//! **Connection epochs.** Packet ids name messages only on the connection that
//! delivered them. Each connection gets an epoch; an acknowledgement is sent
//! only on the epoch its message came on. On a reconnect with the session kept,
//! the broker redelivers every unacknowledged message, so queued copies from
//! older epochs are purged. When the broker lost the session it will not
//! redeliver anything: then those copies are the only ones left, and they are
//! kept and stored (without an acknowledgement; there is nobody to send it to).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The bounds of the flow.
#[derive(Debug, Clone)]
pub struct FlowLimits {
    /// Stop reading when this many messages are held (queued or in a batch)...
    pub pause_messages: usize,
    /// ...and read again at this many or fewer.
    pub resume_messages: usize,
    /// The same in payload bytes (a backlog message may hold 1,000 fixes).
    pub pause_bytes: usize,
    pub resume_bytes: usize,
    /// A batch takes at most this many rows (at least one message)...
    pub batch_rows: usize,
    /// ...and is formed early only when its oldest message has waited this long.
    pub batch_age: Duration,
    /// Batches handed out and not yet committed.
    pub batches_in_flight: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        Self {
            // 32,768 fix messages are ~13 MB in memory and over a second of
            // commits at full speed: enough to keep the writer busy while the
            // socket refills, far below the 65,535 QoS 1 messages a broker
            // may have outstanding on one connection.
            pause_messages: 32_768,
            resume_messages: 16_384,
            // A full 256 KiB backlog counts as 256 KiB: 256 of them pause reading.
            pause_bytes: 64 << 20,
            resume_bytes: 32 << 20,
            batch_rows: 5_000,
            batch_age: Duration::from_millis(50),
            batches_in_flight: 1,
        }
    }
}

/// A message handed to a batch, with the size the flow counts for it.
struct Entry<T> {
    item: T,
    /// The packet id to acknowledge (QoS 1), with the epoch it came on.
    ack: Option<(u64, u16)>,
    rows: usize,
    bytes: usize,
    at: Instant,
}

struct InFlight {
    id: u64,
    acks: Vec<(u64, u16)>,
    messages: usize,
    bytes: usize,
    committed: bool,
}

/// A batch for the writer: commit it, then call [`Flow::committed`] with its id.
#[derive(Debug)]
pub struct Batch<T> {
    pub id: u64,
    pub items: Vec<T>,
}

/// What a state change means for the shell.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Reading was paused by this call.
    pub paused: bool,
    /// Reading may go on again after this call.
    pub resumed: bool,
    /// Acknowledgements are waiting to be written.
    pub acks_ready: bool,
    /// The writer's wait changes: the queue was empty (a batch deadline now
    /// exists) or it has just reached a full batch. Otherwise a message
    /// changes nothing the waiting writer needs to know, so the shell need
    /// not wake it (at 20,000 messages/s, waking it per message cost more
    /// CPU than the commits).
    pub batch_due: bool,
}

pub struct Flow<T> {
    limits: FlowLimits,
    epoch: u64,
    connected: bool,
    queue: VecDeque<Entry<T>>,
    queued_rows: usize,
    in_flight: VecDeque<InFlight>,
    next_id: u64,
    /// Messages and payload bytes held: queued plus in flight.
    held_messages: usize,
    held_bytes: usize,
    reading: bool,
    closing: bool,
    /// Packet ids to acknowledge on the current connection, in order.
    acks: Vec<u16>,
    /// When the last batch was committed, or when work appeared after idleness.
    progress_at: Option<Instant>,
    pauses: u64,
}

impl<T> Flow<T> {
    pub fn new(limits: FlowLimits) -> Self {
        Self {
            limits,
            epoch: 0,
            connected: false,
            queue: VecDeque::new(),
            queued_rows: 0,
            in_flight: VecDeque::new(),
            next_id: 1,
            held_messages: 0,
            held_bytes: 0,
            reading: true,
            closing: false,
            acks: Vec::new(),
            progress_at: None,
            pauses: 0,
        }
    }

    /// A new connection is up. Returns its epoch.
    pub fn connected(&mut self, session_present: bool) -> u64 {
        self.epoch += 1;
        self.connected = true;
        // Acks of the old connection cannot be sent on this one.
        self.acks.clear();
        if session_present {
            // The broker redelivers every unacknowledged message: drop the old copies.
            let epoch = self.epoch;
            let before = self.queue.len();
            let mut dropped_bytes = 0;
            let mut dropped_rows = 0;
            self.queue.retain(|e| {
                let stale = matches!(e.ack, Some((ep, _)) if ep < epoch);
                if stale {
                    dropped_bytes += e.bytes;
                    dropped_rows += e.rows;
                }
                !stale
            });
            let dropped = before - self.queue.len();
            self.held_messages -= dropped;
            self.held_bytes -= dropped_bytes;
            self.queued_rows -= dropped_rows;
            self.update_reading();
        }
        self.epoch
    }

    /// The connection is gone; its pending acknowledgements with it.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.acks.clear();
    }

    /// A message arrived on the current connection. `pkid` is `Some` for QoS 1.
    /// Never refuses: the shell asks [`Flow::reading`] before it reads the next
    /// packet, so the queue overshoots its mark by at most one message.
    pub fn received(
        &mut self,
        item: T,
        pkid: Option<u16>,
        rows: usize,
        bytes: usize,
        now: Instant,
    ) -> Changes {
        if self.held_messages == 0 {
            // Work appears: the stall clock starts now, not at the last commit.
            self.progress_at = Some(now);
        }
        let was_empty = self.queue.is_empty();
        let below_full = self.queued_rows < self.limits.batch_rows;
        self.queue.push_back(Entry {
            item,
            ack: pkid.map(|p| (self.epoch, p)),
            rows: rows.max(1),
            bytes,
            at: now,
        });
        self.queued_rows += rows.max(1);
        self.held_messages += 1;
        self.held_bytes += bytes;
        let mut changes = self.update_reading();
        changes.batch_due =
            was_empty || self.closing || (below_full && self.queued_rows >= self.limits.batch_rows);
        changes
    }

    /// The next batch, if one is due: a full batch's rows are queued, the
    /// oldest queued message has waited `batch_age`, or the flow is closing.
    pub fn next_batch(&mut self, now: Instant) -> Option<Batch<T>> {
        if self.in_flight.len() >= self.limits.batches_in_flight.max(1) {
            return None;
        }
        let oldest = self.queue.front()?.at;
        let due = self.closing
            || self.queued_rows >= self.limits.batch_rows
            || now.saturating_duration_since(oldest) >= self.limits.batch_age;
        if !due {
            return None;
        }
        let mut items = Vec::new();
        let mut acks = Vec::new();
        let (mut rows, mut bytes) = (0, 0);
        while let Some(e) = self.queue.front() {
            if !items.is_empty() && rows + e.rows > self.limits.batch_rows {
                break;
            }
            let e = self.queue.pop_front().expect("front exists");
            rows += e.rows;
            bytes += e.bytes;
            acks.extend(e.ack);
            items.push(e.item);
        }
        self.queued_rows -= rows;
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.push_back(InFlight {
            id,
            acks,
            messages: items.len(),
            bytes,
            committed: false,
        });
        Some(Batch { id, items })
    }

    /// When a batch will be due if nothing else arrives (for the shell's timer).
    pub fn next_batch_at(&self) -> Option<Instant> {
        if self.in_flight.len() >= self.limits.batches_in_flight.max(1) {
            return None;
        }
        self.queue.front().map(|e| e.at + self.limits.batch_age)
    }

    /// The batch `id` is committed. Its messages (and those of earlier batches
    /// committed before it) are acknowledged, in the order received.
    pub fn committed(&mut self, id: u64, now: Instant) -> Changes {
        if let Some(b) = self.in_flight.iter_mut().find(|b| b.id == id) {
            b.committed = true;
        }
        let mut changes = Changes::default();
        while self.in_flight.front().is_some_and(|b| b.committed) {
            let b = self.in_flight.pop_front().expect("front exists");
            self.held_messages -= b.messages;
            self.held_bytes -= b.bytes;
            if self.connected {
                let epoch = self.epoch;
                let before = self.acks.len();
                self.acks.extend(
                    b.acks
                        .iter()
                        .filter(|(ep, _)| *ep == epoch)
                        .map(|&(_, p)| p),
                );
                changes.acks_ready |= self.acks.len() > before;
            }
            self.progress_at = Some(now);
        }
        let reading = self.update_reading();
        changes.resumed = reading.resumed;
        changes
    }

    /// The acknowledgements to write now, in order; the connection's writer
    /// takes them all at once.
    pub fn take_acks(&mut self) -> Vec<u16> {
        std::mem::take(&mut self.acks)
    }

    /// Whether the shell may read the next packet from the socket.
    pub fn reading(&self) -> bool {
        self.reading
    }

    /// Stop reading for good (shutdown): what is held is batched at once.
    pub fn close(&mut self) {
        self.closing = true;
        self.reading = false;
    }

    /// Closing, and everything received was committed.
    pub fn drained(&self) -> bool {
        self.closing && self.held_messages == 0
    }

    /// Messages held: queued, or in a batch not yet committed.
    pub fn held(&self) -> usize {
        self.held_messages
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Times reading paused since the start.
    pub fn pauses(&self) -> u64 {
        self.pauses
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How long messages have been held without any commit, when that is at
    /// least `after`. `None` while idle or making progress.
    pub fn stalled_for(&self, now: Instant, after: Duration) -> Option<Duration> {
        if self.held_messages == 0 {
            return None;
        }
        let since = now.saturating_duration_since(self.progress_at?);
        (since >= after).then_some(since)
    }

    fn update_reading(&mut self) -> Changes {
        let mut c = Changes::default();
        if self.closing {
            return c;
        }
        let l = &self.limits;
        if self.reading
            && (self.held_messages >= l.pause_messages || self.held_bytes >= l.pause_bytes)
        {
            self.reading = false;
            self.pauses += 1;
            c.paused = true;
        } else if !self.reading
            && self.held_messages <= l.resume_messages
            && self.held_bytes <= l.resume_bytes
        {
            self.reading = true;
            c.resumed = true;
        }
        c
    }
}

#[cfg(test)]
mod tests;
