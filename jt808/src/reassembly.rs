//! Reassembling split messages (分包): a message longer than one frame's 1023 bytes is sent
//! as packages 1..=total with consecutive serials. Packages are keyed by phone, message id
//! and the serial of package 1, held until all have arrived, then joined into one frame.

use std::collections::BTreeMap;

use crate::frame::Frame;
use crate::header::Phone;

/// Split messages a connection may have open at once. Terminals send one at a time; a few
/// more cover a resend overlapping a new message, and the bound keeps a terminal that
/// never finishes from growing the map.
pub const DEFAULT_MAX_PENDING: usize = 8;
/// Largest reassembled body: the same 256 KiB as an MQTT backlog, enough for a blind-area
/// batch of some 6,000 positions.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 256 * 1024;

/// Why a package was refused. The packages of the message received so far are kept
/// unless the error says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("package index {index} of {total} is impossible")]
    BadIndex { total: u16, index: u16 },
    #[error("package says the message has {got} packages; its first package said {expected}")]
    TotalMismatch { expected: u16, got: u16 },
    #[error("split message exceeds {max} bytes; its packages were dropped")]
    TooLarge { max: usize },
}

#[derive(Debug, PartialEq, Eq)]
struct Key {
    phone: Phone,
    msg_id: u16,
    first_serial: u16,
}

#[derive(Debug)]
struct Pending {
    key: Key,
    /// Header of the first package received, used for the joined frame.
    first: Frame,
    total: u16,
    parts: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
    /// Insertion order, for evicting the oldest.
    seq: u64,
}

/// Reassembles split messages of one connection. Unsplit frames pass straight through.
#[derive(Debug)]
pub struct Reassembler {
    pending: Vec<Pending>,
    max_pending: usize,
    max_message_len: usize,
    next_seq: u64,
    evicted: u64,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(DEFAULT_MAX_PENDING, DEFAULT_MAX_MESSAGE_LEN)
    }
}

impl Reassembler {
    /// At most `max_pending` (at least 1) open messages of at most `max_message_len` bytes.
    pub fn new(max_pending: usize, max_message_len: usize) -> Reassembler {
        Reassembler {
            pending: Vec::new(),
            max_pending: max_pending.max(1),
            max_message_len,
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Open split messages.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Open messages dropped to make room for newer ones, since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Takes a frame: an unsplit frame comes straight back, a package completes its message
    /// (returned as one unsplit frame with the serial of package 1) or waits for the rest.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Frame>, ReassemblyError> {
        let Some(package) = frame.header.package else {
            return Ok(Some(frame));
        };
        let (total, index) = (package.total, package.index);
        if total == 0 || index == 0 || index > total {
            return Err(ReassemblyError::BadIndex { total, index });
        }
        let key = Key {
            phone: frame.header.phone.clone(),
            msg_id: frame.header.msg_id,
            first_serial: frame.header.serial.wrapping_sub(index - 1),
        };
        let at = match self.pending.iter().position(|p| p.key == key) {
            Some(at) => at,
            None => self.open(key, &frame, total),
        };
        let pending = &mut self.pending[at];
        if pending.total != total {
            return Err(ReassemblyError::TotalMismatch {
                expected: pending.total,
                got: total,
            });
        }
        let len = frame.body.len();
        let replaced = pending
            .parts
            .insert(index, frame.body)
            .map_or(0, |old| old.len());
        pending.bytes = pending.bytes + len - replaced;
        if pending.bytes > self.max_message_len {
            self.pending.swap_remove(at);
            return Err(ReassemblyError::TooLarge {
                max: self.max_message_len,
            });
        }
        if pending.parts.len() < usize::from(total) {
            return Ok(None);
        }
        let done = self.pending.swap_remove(at);
        let mut joined = done.first;
        joined.header.package = None;
        joined.header.serial = done.key.first_serial;
        joined.body = done.parts.into_values().flatten().collect();
        Ok(Some(joined))
    }

    /// Opens a message, evicting the oldest when full; returns its position.
    fn open(&mut self, key: Key, frame: &Frame, total: u16) -> usize {
        if self.pending.len() >= self.max_pending {
            let oldest = (0..self.pending.len())
                .min_by_key(|&i| self.pending[i].seq)
                .expect("full means not empty");
            self.pending.swap_remove(oldest);
            self.evicted += 1;
        }
        self.pending.push(Pending {
            key,
            first: Frame {
                header: frame.header.clone(),
                body: Vec::new(),
            },
            total,
            parts: BTreeMap::new(),
            bytes: 0,
            seq: self.next_seq,
        });
        self.next_seq += 1;
        self.pending.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Header, Package, Version};

    fn package(phone: &str, serial: u16, total: u16, index: u16, body: &[u8]) -> Frame {
        let mut header = Header::new(0x0704, Version::V2013, Phone::new(phone).unwrap(), serial);
        header.package = Some(Package { total, index });
        Frame {
            header,
            body: body.to_vec(),
        }
    }

    #[test]
    fn unsplit_frames_pass_through() {
        let mut r = Reassembler::default();
        let f = Frame {
            header: Header::new(2, Version::V2013, Phone::new("1").unwrap(), 1),
            body: vec![],
        };
        assert_eq!(r.push(f.clone()), Ok(Some(f)));
    }

    #[test]
    fn packages_in_any_order_join_in_index_order() {
        let mut r = Reassembler::default();
        assert_eq!(r.push(package("1", 12, 3, 3, b"ef")), Ok(None));
        assert_eq!(r.push(package("1", 10, 3, 1, b"ab")), Ok(None));
        assert_eq!(r.pending(), 1);
        let joined = r.push(package("1", 11, 3, 2, b"cd")).unwrap().unwrap();
        assert_eq!(joined.body, b"abcdef");
        assert_eq!(joined.header.serial, 10);
        assert_eq!(joined.header.package, None);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn serials_wrap_and_phones_are_kept_apart() {
        let mut r = Reassembler::default();
        assert_eq!(r.push(package("1", u16::MAX, 2, 1, b"a")), Ok(None));
        assert_eq!(r.push(package("2", 0, 2, 2, b"X")), Ok(None));
        let joined = r.push(package("1", 0, 2, 2, b"b")).unwrap().unwrap();
        assert_eq!(
            (joined.body.as_slice(), joined.header.serial),
            (&b"ab"[..], u16::MAX)
        );
        assert_eq!(r.pending(), 1);
    }

    #[test]
    fn impossible_packages_are_refused() {
        let mut r = Reassembler::default();
        for (total, index) in [(0, 0), (2, 0), (2, 3), (0, 1)] {
            assert_eq!(
                r.push(package("1", 5, total, index, b"x")),
                Err(ReassemblyError::BadIndex { total, index })
            );
        }
        assert_eq!(r.push(package("1", 5, 3, 1, b"x")), Ok(None));
        assert_eq!(
            r.push(package("1", 6, 4, 2, b"x")),
            Err(ReassemblyError::TotalMismatch {
                expected: 3,
                got: 4
            })
        );
    }

    #[test]
    fn a_resent_package_replaces_the_first_copy() {
        let mut r = Reassembler::default();
        r.push(package("1", 1, 2, 1, b"old")).unwrap();
        r.push(package("1", 1, 2, 1, b"new")).unwrap();
        let joined = r.push(package("1", 2, 2, 2, b"!")).unwrap().unwrap();
        assert_eq!(joined.body, b"new!");
    }

    #[test]
    fn past_the_pending_bound_the_oldest_is_evicted_and_new_messages_complete() {
        let mut r = Reassembler::new(2, 1024);
        for serial in [100, 200, 300, 400] {
            assert_eq!(r.push(package("1", serial, 2, 1, b"a")), Ok(None));
            assert!(r.pending() <= 2);
        }
        assert_eq!(r.evicted(), 2);
        // 100 and 200 are gone: their second packages open new messages.
        assert_eq!(r.push(package("1", 101, 2, 2, b"b")), Ok(None));
        assert_eq!(r.evicted(), 3);
        // 400 is still there and completes.
        let joined = r.push(package("1", 401, 2, 2, b"b")).unwrap().unwrap();
        assert_eq!(joined.header.serial, 400);
    }

    #[test]
    fn a_message_past_the_size_bound_is_dropped() {
        let mut r = Reassembler::new(4, 10);
        assert_eq!(r.push(package("1", 1, 3, 1, &[0; 6])), Ok(None));
        assert_eq!(
            r.push(package("1", 2, 3, 2, &[0; 6])),
            Err(ReassemblyError::TooLarge { max: 10 })
        );
        assert_eq!(r.pending(), 0);
        // A later message of the same terminal still goes through.
        assert_eq!(r.push(package("1", 10, 2, 1, &[1; 5])), Ok(None));
        assert_eq!(
            r.push(package("1", 11, 2, 2, &[2; 5]))
                .unwrap()
                .unwrap()
                .body
                .len(),
            10
        );
    }
}
