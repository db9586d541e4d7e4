//! Property tests of coverage: bounds, monotonicity, arrival order, splitting,
//! and agreement with an exact geometric computation done with `geo`
//! (buffer the pass line by the half-width, clip the route line, measure).

use crate::helpers::*;
use chrono::{NaiveTime, Weekday};
use geo::{BooleanOps, Buffer, Euclidean, Length, LineString, MultiLineString};
use geofence::*;
use proptest::prelude::*;

const ALL_DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

#[derive(Debug, Clone)]
struct Case {
    route: Vec<[f64; 2]>,
    hw: f64,
    track: Vec<[f64; 2]>,
}

/// A route as a random walk of 2..6 legs of 30..200 m, and a track of 2..12
/// points near it (within 30 m of a point of the route).
fn case() -> impl Strategy<Value = Case> {
    let legs = prop::collection::vec((30.0f64..200.0, -1.2f64..1.2), 1..6);
    (
        legs,
        3.0f64..15.0,
        prop::collection::vec(
            (0.0f64..1.0, -30.0f64..30.0, -30.0f64..30.0),
            2..=REORDER_WINDOW,
        ),
    )
        .prop_map(|(legs, hw, picks)| {
            let mut route = vec![[0.0, 0.0]];
            let mut heading: f64 = 0.3;
            for (len, turn) in legs {
                heading += turn;
                let last = *route.last().unwrap();
                route.push([last[0] + len * heading.cos(), last[1] + len * heading.sin()]);
            }
            let track = picks
                .into_iter()
                .map(|(u, dx, dy)| {
                    let i = ((u * route.len() as f64) as usize).min(route.len() - 1);
                    [route[i][0] + dx, route[i][1] + dy]
                })
                .collect();
            Case { route, hw, track }
        })
}

fn prop_engine(c: &Case) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    let pts: Vec<(f64, f64)> = c.route.iter().map(|p| ll(p[0], p[1])).collect();
    e.set_areas(vec![Area::route(id("r"), &pts, c.hw, 1).unwrap()]);
    let all_day = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
    e.set_shifts(vec![
        Shift::new(id("s"), "all day", chrono_tz::Asia::Shanghai)
            .with_weekly(WeeklyWindow {
                days: ALL_DAYS.to_vec(),
                start: all_day,
                end: all_day,
            })
            .unwrap(),
    ]);
    e.set_devices(vec![
        (id("p/a"), DeviceKind::Sweeper),
        (id("p/b"), DeviceKind::Sweeper),
    ]);
    e.set_assignments(vec![Assignment {
        device: id("p/a"),
        area: id("r"),
        shift: id("s"),
        valid_from: t(0, 0, 0) - chrono::Duration::days(1),
        valid_to: None,
    }])
    .unwrap();
    let mut rules = RuleConfig::default();
    let loose = RuleOverride {
        gap_max_m: Some(1e6),
        gap_max_s: Some(1_000_000),
        ..Default::default()
    };
    rules.kinds.insert(DeviceKind::Sweeper, loose);
    e.set_rules(rules);
    e
}

fn track_fixes(track: &[[f64; 2]], start_s: i64) -> Vec<Fix> {
    track
        .iter()
        .enumerate()
        .map(|(i, p)| {
            fix(secs(t(10, 0, 0), start_s + i as i64 * 10), p[0], p[1])
                .working(true)
                .speed(6.0)
        })
        .collect()
}

fn covered(e: &Engine) -> f64 {
    let key = ShiftInstanceKey {
        shift: id("s"),
        local_date: day_key().local_date,
    };
    e.coverage(&id("r"), &key).map_or(0.0, |r| r.covered_m)
}

fn total(c: &Case) -> f64 {
    c.route
        .windows(2)
        .map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]))
        .sum()
}

/// Exact reference with geo: buffer the pass line, clip the route, measure.
fn reference(c: &Case) -> f64 {
    let pass = LineString::from(c.track.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>());
    let corridor = pass.buffer(c.hw);
    let route = MultiLineString(vec![LineString::from(
        c.route.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>(),
    )]);
    corridor
        .clip(&route, false)
        .0
        .iter()
        .map(|l| Euclidean.length(l))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn coverage_is_a_fraction_and_matches_exact_geometry(c in case()) {
        let mut e = prop_engine(&c);
        feed(&mut e, "p/a", &track_fixes(&c.track, 0));
        let tot = total(&c);
        let key = ShiftInstanceKey { shift: id("s"), local_date: day_key().local_date };
        let frac = e.coverage(&id("r"), &key).map_or(0.0, |r| r.covered_fraction);
        prop_assert!((0.0..=1.0).contains(&frac), "{frac}");
        let exact = reference(&c) / tot;
        prop_assert!((frac - exact).abs() <= 0.01, "engine {frac} exact {exact}");
        // and the corridor function on its own, in the same frame as the reference
        let mut set = IntervalSet::default();
        for w in c.track.windows(2) {
            for (a, b) in corridor::covered_stretches(&c.route, c.hw, w[0], w[1]) {
                set.insert(a, b);
            }
        }
        prop_assert!((set.measure() / tot - exact).abs() <= 0.01);
    }

    #[test]
    fn arrival_order_does_not_matter(c in case(), perm in Just((0..REORDER_WINDOW).collect::<Vec<_>>()).prop_shuffle()) {
        let fixes = track_fixes(&c.track, 0);
        let mut in_order = prop_engine(&c);
        feed(&mut in_order, "p/a", &fixes);
        let shuffled: Vec<Fix> = perm.iter().filter(|&&i| i < fixes.len()).map(|&i| fixes[i].clone()).collect();
        let mut e = prop_engine(&c);
        feed(&mut e, "p/a", &shuffled);
        prop_assert!((covered(&e) - covered(&in_order)).abs() < 1e-6, "{} vs {}", covered(&e), covered(&in_order));
    }

    #[test]
    fn splitting_a_pass_changes_nothing(c in case(), at in 0.0f64..1.0, k in 0usize..REORDER_WINDOW) {
        let fixes = track_fixes(&c.track, 0);
        let mut whole = prop_engine(&c);
        feed(&mut whole, "p/a", &fixes);
        let k = k % (fixes.len() - 1);
        let (a, b) = (c.track[k], c.track[k + 1]);
        let mid = [a[0] + at * (b[0] - a[0]), a[1] + at * (b[1] - a[1])];
        let mid_ts = secs(fixes[k].ts, 0) + chrono::Duration::milliseconds((at * 10_000.0).clamp(1.0, 9_999.0) as i64);
        let mut split = fixes.clone();
        split.insert(k + 1, fix(mid_ts, mid[0], mid[1]).working(true).speed(6.0));
        let mut e = prop_engine(&c);
        feed(&mut e, "p/a", &split);
        prop_assert!((covered(&e) - covered(&whole)).abs() < 1e-6, "{} vs {}", covered(&e), covered(&whole));
    }

    #[test]
    fn adding_passes_never_lowers_coverage(c in case(), d in case()) {
        let mut one = prop_engine(&c);
        feed(&mut one, "p/a", &track_fixes(&c.track, 0));
        let mut two = prop_engine(&c);
        feed(&mut two, "p/a", &track_fixes(&c.track, 0));
        let before = covered(&two);
        feed(&mut two, "p/b", &track_fixes(&d.track, 3));
        prop_assert!(covered(&two) >= before - 1e-9);
        prop_assert!((before - covered(&one)).abs() < 1e-9);
    }
}

/// Like `prop_engine`, with a second route `r2` on the same line, assigned
/// too: every pass segment touches two coverage cells.
fn twin_engine(c: &Case) -> Engine {
    let mut e = prop_engine(c);
    let pts: Vec<(f64, f64)> = c.route.iter().map(|p| ll(p[0], p[1])).collect();
    e.set_areas(vec![
        Area::route(id("r"), &pts, c.hw, 1).unwrap(),
        Area::route(id("r2"), &pts, c.hw, 1).unwrap(),
    ]);
    let asg = |area: &'static str| Assignment {
        device: id("p/a"),
        area: id(area),
        shift: id("s"),
        valid_from: t(0, 0, 0) - chrono::Duration::days(1),
        valid_to: None,
    };
    e.set_assignments(vec![asg("r"), asg("r2")]).unwrap();
    e
}

fn covered_twins(e: &Engine) -> (f64, f64) {
    let key = ShiftInstanceKey {
        shift: id("s"),
        local_date: day_key().local_date,
    };
    let of = |r: &'static str| e.coverage(&id(r), &key).map_or(0.0, |r| r.covered_m);
    (of("r"), of("r2"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Late fixes that split segments touching two cells at once (the
    /// reorder window keeps such lists apart from its one-cell entries).
    #[test]
    fn arrival_order_does_not_matter_when_a_pass_touches_two_routes(c in case(), perm in Just((0..REORDER_WINDOW).collect::<Vec<_>>()).prop_shuffle()) {
        let fixes = track_fixes(&c.track, 0);
        let mut in_order = twin_engine(&c);
        feed(&mut in_order, "p/a", &fixes);
        let shuffled: Vec<Fix> = perm.iter().filter(|&&i| i < fixes.len()).map(|&i| fixes[i].clone()).collect();
        let mut e = twin_engine(&c);
        feed(&mut e, "p/a", &shuffled);
        let (a, b) = covered_twins(&e);
        let (a0, b0) = covered_twins(&in_order);
        prop_assert!((a - a0).abs() < 1e-6 && (b - b0).abs() < 1e-6, "{a} {b} vs {a0} {b0}");
        prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        prop_assert!((a0 - covered(&prop_engine_fed(&c, &fixes))).abs() < 1e-6);
    }
}

fn prop_engine_fed(c: &Case, fixes: &[Fix]) -> Engine {
    let mut e = prop_engine(c);
    feed(&mut e, "p/a", fixes);
    e
}

#[test]
fn reference_and_engine_agree_on_a_crossing_and_a_diagonal_pass() {
    for track in [
        vec![[50.0, -30.0], [50.0, 30.0]],
        vec![[-20.0, -20.0], [60.0, 10.0], [120.0, 4.0]],
    ] {
        let c = Case {
            route: vec![[0.0, 0.0], [100.0, 0.0]],
            hw: 8.0,
            track,
        };
        let mut e = prop_engine(&c);
        feed(&mut e, "p/a", &track_fixes(&c.track, 0));
        let exact = reference(&c);
        assert!(exact > 10.0);
        assert!(
            (covered(&e) - exact).abs() < 0.01 * total(&c),
            "{} vs {exact}",
            covered(&e)
        );
    }
}
