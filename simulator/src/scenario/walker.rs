//! Movement: a device follows a cyclic program of steps (drive or walk to a point, or
//! stay put), with detours (breaks, idling, leaving the area) pushed in front of it.
//! Each step carries a [`Tag`] saying what the device is doing, so the ground truth
//! can be read off the motion rather than guessed from the options.

use std::collections::VecDeque;

use super::geom::{P, dist, heading};

/// What a step is part of: the device's job, or a behaviour planted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Working the program: sweeping a route, walking the beat.
    Work,
    /// Between two areas of the program, not working.
    Transit,
    /// A collector's trip to a transfer station (an index into the scenario's
    /// areas), the wait there, and the way on.
    TransferTrip(u32),
    /// A cleaner's walk to a rest zone (an area index), the rest, and the walk back.
    Break(u32),
    /// Standing still, not working (the `idle` trouble).
    Idle,
    /// A cleaner walking out of her beat (the `leave_area` trouble).
    LeaveArea,
    /// A driver taking the vehicle away from its working area.
    TakeAway,
    /// Working a street that is not assigned.
    OffRoute,
    /// Working too fast.
    Speeding,
    /// Stopped in traffic, not working.
    TrafficJam,
    /// Moving along the edge of the area.
    Edge,
    /// In the yard before a late start.
    Depot,
}

/// One step of a program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Go in a straight line to `to` at `kmh`, working or not.
    Move { to: P, kmh: f64, work: bool },
    /// Stay where it is for `secs`.
    Dwell { secs: f64, work: bool },
}

/// What the device is doing after an advance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub pos: P,
    pub kmh: f64,
    /// Degrees from north.
    pub heading: f64,
    pub work: bool,
    /// What the step it is in is part of.
    pub tag: Tag,
}

/// A step and what it is part of.
pub type Leg = (Step, Tag);

/// Follows `program` over and over; `detours` run first, once.
#[derive(Debug, Clone)]
pub struct Walker {
    pos: P,
    program: Vec<Leg>,
    next: usize,
    detours: VecDeque<Leg>,
    current: Option<Leg>,
    /// Where the current step started.
    step_from: P,
    /// Seconds left of the current dwell.
    dwell_left: f64,
    heading: f64,
}

/// Steps taken in one advance at most: a program of zero-length moves must not spin.
const MAX_STEPS_PER_ADVANCE: usize = 100_000;

impl Walker {
    /// (Tests) a program whose steps are tagged by their work flag: working steps are
    /// [`Tag::Work`], the others [`Tag::Transit`].
    #[cfg(test)]
    pub fn new(start: P, program: Vec<Step>) -> Self {
        let legs = program
            .into_iter()
            .map(|s| {
                let tag = match s {
                    Step::Move { work: true, .. } | Step::Dwell { work: true, .. } => Tag::Work,
                    _ => Tag::Transit,
                };
                (s, tag)
            })
            .collect();
        Self::tagged(start, legs)
    }

    pub fn tagged(start: P, program: Vec<Leg>) -> Self {
        Self {
            pos: start,
            program,
            next: 0,
            detours: VecDeque::new(),
            current: None,
            step_from: start,
            dwell_left: 0.0,
            heading: 0.0,
        }
    }

    pub fn pos(&self) -> P {
        self.pos
    }

    /// Whether a detour is under way (or queued): the device is busy with a
    /// behaviour, not its program.
    pub fn in_detour(&self) -> bool {
        !self.detours.is_empty()
            || self
                .current
                .is_some_and(|(_, t)| !matches!(t, Tag::Work | Tag::Transit | Tag::TransferTrip(_)))
    }

    /// The current step, if it is a move: where it started and where it goes.
    pub fn current_move(&self) -> Option<(P, P, bool)> {
        match self.current {
            Some((Step::Move { to, work, .. }, _)) => Some((self.step_from, to, work)),
            _ => None,
        }
    }

    /// Runs `steps`, tagged `tag`, next: before the rest of the current step and the
    /// program.
    pub fn detour(&mut self, steps: impl IntoIterator<Item = Step>, tag: Tag) {
        let mut legs: Vec<Leg> = steps.into_iter().map(|s| (s, tag)).collect();
        if let Some((cur, t)) = self.current.take() {
            // Resume the interrupted step afterwards (a dwell keeps what is left of it).
            let resumed = match cur {
                Step::Dwell { work, .. } => Step::Dwell {
                    secs: self.dwell_left,
                    work,
                },
                m => m,
            };
            legs.push((resumed, t));
        }
        for s in legs.into_iter().rev() {
            self.detours.push_front(s);
        }
        self.dwell_left = 0.0;
    }

    fn take_step(&mut self) -> Option<Leg> {
        if let Some(s) = self.detours.pop_front() {
            return Some(s);
        }
        if self.program.is_empty() {
            return None;
        }
        let s = self.program[self.next % self.program.len()];
        self.next = (self.next + 1) % self.program.len();
        Some(s)
    }

    /// Moves on by `secs` seconds and says what the device is doing at the end.
    pub fn advance(&mut self, secs: f64) -> Motion {
        let mut left = secs.max(0.0);
        let mut tag = self.current.map_or(Tag::Work, |c| c.1);
        for _ in 0..MAX_STEPS_PER_ADVANCE {
            let step = match self.current {
                Some((s, t)) => {
                    tag = t;
                    s
                }
                None => match self.take_step() {
                    Some((s, t)) => {
                        if let Step::Dwell { secs, .. } = s {
                            self.dwell_left = secs;
                        }
                        self.current = Some((s, t));
                        self.step_from = self.pos;
                        tag = t;
                        s
                    }
                    None => break,
                },
            };
            match step {
                Step::Move { to, kmh, work } => {
                    let d = dist(self.pos, to);
                    let v = (kmh / 3.6).max(0.01);
                    if d > 1e-9 {
                        self.heading = heading(self.pos, to);
                    }
                    if d <= v * left {
                        left -= d / v;
                        self.pos = to;
                        self.current = None;
                        if left <= 0.0 {
                            return self.motion(kmh, work, tag);
                        }
                    } else {
                        let f = v * left / d;
                        self.pos = [
                            self.pos[0] + (to[0] - self.pos[0]) * f,
                            self.pos[1] + (to[1] - self.pos[1]) * f,
                        ];
                        return self.motion(kmh, work, tag);
                    }
                }
                Step::Dwell { work, .. } => {
                    if self.dwell_left > left {
                        self.dwell_left -= left;
                        return self.motion(0.0, work, tag);
                    }
                    left -= self.dwell_left;
                    self.dwell_left = 0.0;
                    self.current = None;
                    if left <= 0.0 {
                        return self.motion(0.0, work, tag);
                    }
                }
            }
        }
        self.motion(0.0, false, tag)
    }

    fn motion(&self, kmh: f64, work: bool, tag: Tag) -> Motion {
        Motion {
            pos: self.pos,
            kmh,
            heading: self.heading,
            work,
            tag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<Step> {
        [[100.0, 0.0], [100.0, 100.0], [0.0, 100.0], [0.0, 0.0]]
            .into_iter()
            .map(|to| Step::Move {
                to,
                kmh: 36.0,
                work: true,
            })
            .collect()
    }

    #[test]
    fn loops_the_program_at_its_speed() {
        let mut w = Walker::new([0.0, 0.0], square());
        let m = w.advance(5.0);
        assert!(dist(m.pos, [50.0, 0.0]) < 1e-6);
        assert!(m.work && (m.heading - 90.0).abs() < 1e-6);
        let m = w.advance(40.0);
        assert!(dist(m.pos, [50.0, 0.0]) < 1e-6, "{m:?}");
        // 100 laps later, the same place
        let m = w.advance(1000.0 * 4.0);
        assert!(dist(m.pos, [50.0, 0.0]) < 1e-6, "{m:?}");
    }

    #[test]
    fn detours_run_first_then_the_interrupted_step() {
        let mut w = Walker::new([0.0, 0.0], square());
        w.advance(5.0);
        w.detour(
            [Step::Dwell {
                secs: 60.0,
                work: false,
            }],
            Tag::Idle,
        );
        let m = w.advance(30.0);
        assert_eq!(
            (m.pos, m.kmh, m.work, m.tag),
            ([50.0, 0.0], 0.0, false, Tag::Idle)
        );
        let m = w.advance(30.0);
        assert!(dist(m.pos, [50.0, 0.0]) < 1e-6, "{m:?}");
        let m = w.advance(2.5);
        assert!(dist(m.pos, [75.0, 0.0]) < 1e-6 && m.work, "{m:?}");
        assert_eq!(m.tag, Tag::Work);
    }
}
