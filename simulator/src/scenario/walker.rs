//! Movement: a device follows a cyclic program of steps (drive or walk to a point, or
//! stay put), with detours (breaks, idling, leaving the area) pushed in front of it.

use std::collections::VecDeque;

use super::geom::{P, dist, heading};

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
}

/// Follows `program` over and over; `detours` run first, once.
#[derive(Debug, Clone)]
pub struct Walker {
    pos: P,
    program: Vec<Step>,
    next: usize,
    detours: VecDeque<Step>,
    current: Option<Step>,
    /// Seconds left of the current dwell.
    dwell_left: f64,
    heading: f64,
}

/// Steps taken in one advance at most: a program of zero-length moves must not spin.
const MAX_STEPS_PER_ADVANCE: usize = 100_000;

impl Walker {
    pub fn new(start: P, program: Vec<Step>) -> Self {
        Self {
            pos: start,
            program,
            next: 0,
            detours: VecDeque::new(),
            current: None,
            dwell_left: 0.0,
            heading: 0.0,
        }
    }

    pub fn pos(&self) -> P {
        self.pos
    }

    /// Runs `steps` next, before the rest of the current step and the program.
    pub fn detour(&mut self, steps: impl IntoIterator<Item = Step>) {
        let mut steps: Vec<Step> = steps.into_iter().collect();
        if let Some(cur) = self.current.take() {
            // Resume the interrupted step afterwards (a dwell keeps what is left of it).
            steps.push(match cur {
                Step::Dwell { work, .. } => Step::Dwell {
                    secs: self.dwell_left,
                    work,
                },
                m => m,
            });
        }
        for s in steps.into_iter().rev() {
            self.detours.push_front(s);
        }
        self.dwell_left = 0.0;
    }

    fn take_step(&mut self) -> Option<Step> {
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
        for _ in 0..MAX_STEPS_PER_ADVANCE {
            let step = match self.current {
                Some(s) => s,
                None => match self.take_step() {
                    Some(s) => {
                        if let Step::Dwell { secs, .. } = s {
                            self.dwell_left = secs;
                        }
                        self.current = Some(s);
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
                            return self.motion(kmh, work);
                        }
                    } else {
                        let f = v * left / d;
                        self.pos = [
                            self.pos[0] + (to[0] - self.pos[0]) * f,
                            self.pos[1] + (to[1] - self.pos[1]) * f,
                        ];
                        return self.motion(kmh, work);
                    }
                }
                Step::Dwell { work, .. } => {
                    if self.dwell_left > left {
                        self.dwell_left -= left;
                        return self.motion(0.0, work);
                    }
                    left -= self.dwell_left;
                    self.dwell_left = 0.0;
                    self.current = None;
                    if left <= 0.0 {
                        return self.motion(0.0, work);
                    }
                }
            }
        }
        self.motion(0.0, false)
    }

    fn motion(&self, kmh: f64, work: bool) -> Motion {
        Motion {
            pos: self.pos,
            kmh,
            heading: self.heading,
            work,
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
        w.detour([Step::Dwell {
            secs: 60.0,
            work: false,
        }]);
        let m = w.advance(30.0);
        assert_eq!((m.pos, m.kmh, m.work), ([50.0, 0.0], 0.0, false));
        let m = w.advance(30.0);
        assert!(dist(m.pos, [50.0, 0.0]) < 1e-6, "{m:?}");
        let m = w.advance(2.5);
        assert!(dist(m.pos, [75.0, 0.0]) < 1e-6 && m.work, "{m:?}");
    }
}
