//! Cuts a TCP byte stream into frames.
//!
//! Every `0x7E` ends whatever came before it and starts a new frame, so back-to-back frames
//! (`7E…7E 7E…7E`), frames sharing one flag (`7E…7E…7E`) and garbage between frames all
//! split the same way: each run of bytes between two flags is decoded on its own, and a
//! valid frame after garbage is never lost. Bytes before the very first flag are garbage.
//! A run longer than any frame can be is reported once and skipped up to the next flag.

use crate::error::{BadFrame, FrameError};
use crate::escape::FLAG;
use crate::frame::{self, Frame};
use crate::header::{MAX_BODY_LEN, MAX_HEADER_LEN};

/// Longest escaped run between two flags that can be a frame: the longest header, a full
/// body and the check code, every byte escaped into two.
pub const MAX_FRAME_LEN: usize = 2 * (MAX_HEADER_LEN + MAX_BODY_LEN + 1);

/// Where the splitter is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No flag seen yet: bytes are garbage.
    BeforeFirstFlag,
    /// After a flag: bytes are a frame's.
    InFrame,
    /// The current run exceeded [`MAX_FRAME_LEN`]; skip to the next flag.
    Discarding,
}

/// An incremental frame splitter. Feed it with [`Splitter::push`] as bytes arrive and take
/// frames with [`Splitter::next_frame`] until it returns `None`. It holds at most the bytes
/// pushed and not yet taken plus one run of at most [`MAX_FRAME_LEN`] bytes.
#[derive(Debug)]
pub struct Splitter {
    input: Vec<u8>,
    /// Start of the bytes of `input` not yet looked at.
    pos: usize,
    /// The escaped bytes of the current run, flags excluded.
    run: Vec<u8>,
    state: State,
    max_len: usize,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter::new()
    }
}

impl Splitter {
    /// A splitter with the bound [`MAX_FRAME_LEN`].
    pub fn new() -> Splitter {
        Splitter::with_max_len(MAX_FRAME_LEN)
    }

    /// A splitter that refuses runs longer than `max_len` escaped bytes (at least 1).
    pub fn with_max_len(max_len: usize) -> Splitter {
        Splitter {
            input: Vec::new(),
            pos: 0,
            run: Vec::new(),
            state: State::BeforeFirstFlag,
            max_len: max_len.max(1),
        }
    }

    /// Appends bytes received from the terminal.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet split, plus the current run.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.pos + self.run.len()
    }

    /// The next frame, or the next bad frame with its raw bytes, or `None` when the bytes
    /// pushed so far hold no complete one.
    pub fn next_frame(&mut self) -> Option<Result<Frame, BadFrame>> {
        while self.pos < self.input.len() {
            let rest = &self.input[self.pos..];
            let (taken, flag) = match rest.iter().position(|&b| b == FLAG) {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            self.pos += taken.len() + usize::from(flag);
            if self.state != State::Discarding {
                let room = self.max_len + 1 - self.run.len();
                self.run.extend_from_slice(&taken[..taken.len().min(room)]);
                if self.run.len() > self.max_len {
                    self.run.truncate(self.max_len);
                    let raw = self.take_run(self.state == State::InFrame, false);
                    // A flag right after the long run ends it: what follows is a new run.
                    self.state = if flag {
                        State::InFrame
                    } else {
                        State::Discarding
                    };
                    return Some(Err(BadFrame {
                        raw,
                        error: FrameError::TooLong { max: self.max_len },
                    }));
                }
            }
            if flag && let Some(item) = self.end_run() {
                return Some(item);
            }
        }
        self.input.clear();
        self.pos = 0;
        None
    }

    /// A flag arrived: the current run is complete.
    fn end_run(&mut self) -> Option<Result<Frame, BadFrame>> {
        let state = std::mem::replace(&mut self.state, State::InFrame);
        match state {
            State::Discarding => None,
            _ if self.run.is_empty() => None,
            State::BeforeFirstFlag => {
                let len = self.run.len();
                Some(Err(BadFrame {
                    raw: self.take_run(false, false),
                    error: FrameError::Garbage { len },
                }))
            }
            State::InFrame => Some(match frame::decode_escaped(&self.run) {
                Ok(frame) => {
                    self.run.clear();
                    Ok(frame)
                }
                Err(error) => Err(BadFrame {
                    raw: self.take_run(true, true),
                    error,
                }),
            }),
        }
    }

    /// Takes the current run as raw bytes, with the flags that delimited it.
    fn take_run(&mut self, opened: bool, closed: bool) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.run.len() + 2);
        if opened {
            raw.push(FLAG);
        }
        raw.append(&mut self.run);
        if closed {
            raw.push(FLAG);
        }
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Header, Phone, Version};

    fn wire(serial: u16, body: &[u8]) -> Vec<u8> {
        Frame {
            header: Header::new(0x0200, Version::V2013, Phone::new("7").unwrap(), serial),
            body: body.to_vec(),
        }
        .encode()
        .unwrap()
    }

    fn drain(splitter: &mut Splitter) -> Vec<Result<Frame, BadFrame>> {
        std::iter::from_fn(|| splitter.next_frame()).collect()
    }

    fn serials(items: &[Result<Frame, BadFrame>]) -> Vec<Result<u16, FrameError>> {
        items
            .iter()
            .map(|r| match r {
                Ok(f) => Ok(f.header.serial),
                Err(b) => Err(b.error.clone()),
            })
            .collect()
    }

    #[test]
    fn frames_back_to_back_and_sharing_a_flag() {
        let (a, b) = (wire(1, &[0x7E]), wire(2, &[0x7D]));
        let mut s = Splitter::new();
        s.push(&[a.clone(), b.clone()].concat());
        assert_eq!(serials(&drain(&mut s)), [Ok(1), Ok(2)]);
        // 7E a 7E b 7E: the closing flag of one is the opening flag of the next.
        s.push(&[&a[..], &b[1..]].concat());
        assert_eq!(serials(&drain(&mut s)), [Ok(1), Ok(2)]);
    }

    #[test]
    fn a_frame_in_one_byte_pieces() {
        let a = wire(5, &[0x7E, 0x7D, 9]);
        let mut s = Splitter::new();
        let mut got = Vec::new();
        for b in &a {
            s.push(std::slice::from_ref(b));
            got.extend(drain(&mut s));
        }
        assert_eq!(serials(&got), [Ok(5)]);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn garbage_is_reported_with_its_bytes_and_the_next_frame_survives() {
        let a = wire(3, &[1, 2]);
        let mut s = Splitter::new();
        s.push(b"GET / HTTP/1.1\r\n");
        s.push(&a);
        s.push(b"\x00\x01junk");
        s.push(&a);
        let got = drain(&mut s);
        assert_eq!(
            got[0],
            Err(BadFrame {
                raw: b"GET / HTTP/1.1\r\n".to_vec(),
                error: FrameError::Garbage { len: 16 }
            })
        );
        assert!(matches!(got[1], Ok(ref f) if f.header.serial == 3));
        // The junk between two frames is a run of its own, reported with the flags around it.
        let Err(ref bad) = got[2] else {
            panic!("junk decoded as a frame: {:?}", got[2])
        };
        assert_eq!(bad.raw, b"\x7E\x00\x01junk\x7E");
        assert!(matches!(got[3], Ok(ref f) if f.header.serial == 3));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn a_run_past_the_bound_is_reported_once_and_skipped() {
        let mut s = Splitter::with_max_len(64);
        s.push(&[FLAG]);
        for _ in 0..100 {
            s.push(&[0x55; 50]);
            let got = drain(&mut s);
            assert!(got.len() <= 1);
            assert!(s.buffered() <= 64, "buffered {}", s.buffered());
        }
        let a = wire(8, &[]);
        s.push(&a);
        assert_eq!(serials(&drain(&mut s)), [Ok(8)]);

        // The long run and the flag that ends it in one push: the next frame is kept.
        let mut s = Splitter::with_max_len(64);
        s.push(&[&[FLAG][..], &[0x55; 100], &a[..]].concat());
        assert_eq!(
            serials(&drain(&mut s)),
            [Err(FrameError::TooLong { max: 64 }), Ok(8)]
        );

        let mut s = Splitter::with_max_len(64);
        s.push(&[FLAG]);
        s.push(&[0x55; 200]);
        let got = drain(&mut s);
        assert_eq!(serials(&got), [Err(FrameError::TooLong { max: 64 })]);
        let raw = &got[0].as_ref().unwrap_err().raw;
        assert_eq!(raw.len(), 65);
        assert_eq!(raw[0], FLAG);
    }

    #[test]
    fn the_largest_frame_fits_the_default_bound() {
        // A 2019 split package with a full body of flag bytes: every byte escaped.
        let mut header = Header::new(0x0200, Version::V2019_1, Phone::new("1").unwrap(), 1);
        header.package = Some(crate::header::Package { total: 1, index: 1 });
        let f = Frame {
            header,
            body: vec![FLAG; MAX_BODY_LEN],
        };
        let mut s = Splitter::new();
        s.push(&f.encode().unwrap());
        assert_eq!(drain(&mut s), [Ok(f)]);
    }

    #[test]
    fn empty_runs_between_flags_are_skipped() {
        let mut s = Splitter::new();
        s.push(&[FLAG; 10]);
        assert!(drain(&mut s).is_empty());
        s.push(&wire(4, &[])[1..]);
        assert_eq!(serials(&drain(&mut s)), [Ok(4)]);
    }
}
