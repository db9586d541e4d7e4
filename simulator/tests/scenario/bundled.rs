//! The bundled Humen scenario: valid, up to date with its generator, and as big as
//! issue 6 asks.

use std::collections::{HashMap, HashSet};

use geofence::scenario::ScenarioFile;
use geofence::{AreaKind, DeviceKind, ZonePurpose};

pub const HUMEN: &str = include_str!("../../../scenarios/humen.json");

pub fn humen() -> ScenarioFile {
    ScenarioFile::from_json(HUMEN).expect("humen.json parses")
}

#[test]
fn the_file_is_what_the_generator_makes() {
    assert!(
        HUMEN == simulator::humen::generate(),
        "scenarios/humen.json is stale: run `cargo run -p simulator --example gen_humen > scenarios/humen.json`"
    );
    assert!(HUMEN.len() < 2 * 1024 * 1024, "{} bytes", HUMEN.len());
}

#[test]
fn humen_validates_with_the_counts_the_issue_asks_for() {
    let file = humen();
    let s = file.validate().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.org.id, "humen");

    let mut zones: HashMap<ZonePurpose, usize> = HashMap::new();
    let (mut sweep, mut wash) = (0, 0);
    for a in &s.areas {
        assert!(
            a.district.is_some() && a.grid.is_some() && a.chief.is_some(),
            "{}",
            a.id()
        );
        match a.kind() {
            AreaKind::Route {
                half_width_m,
                passes_required,
            } => {
                assert!((6.0..=10.0).contains(half_width_m), "{}", a.id());
                if *passes_required == 2 {
                    wash += 1
                } else {
                    sweep += 1
                }
            }
            AreaKind::Zone { purpose } => *zones.entry(*purpose).or_default() += 1,
        }
    }
    assert!(
        sweep + wash >= 60 && wash >= 12 && sweep >= 30,
        "{sweep} sweep, {wash} wash routes"
    );
    assert_eq!(zones.get(&ZonePurpose::Beat), Some(&15));
    assert_eq!(zones.get(&ZonePurpose::Park), Some(&7));
    assert_eq!(zones.get(&ZonePurpose::TransferStation), Some(&25));
    assert_eq!(zones.get(&ZonePurpose::RestZone), Some(&16));
    let districts: HashSet<_> = s.areas.iter().filter_map(|a| a.district.clone()).collect();
    let grids: HashSet<_> = s.areas.iter().filter_map(|a| a.grid.clone()).collect();
    assert_eq!((districts.len(), grids.len()), (4, 15));

    let shifts: HashSet<&str> = s.shifts.iter().map(|x| x.id().as_str()).collect();
    assert_eq!(
        shifts,
        HashSet::from(["day-sweep", "night-wash", "clean-city-day"])
    );

    let mut kinds: HashMap<DeviceKind, usize> = HashMap::new();
    for d in &s.devices {
        *kinds.entry(d.kind).or_default() += 1;
    }
    assert_eq!(kinds.get(&DeviceKind::Sweeper), Some(&24));
    assert_eq!(kinds.get(&DeviceKind::Washer), Some(&12));
    assert_eq!(kinds.get(&DeviceKind::Collector), Some(&16));
    assert!(kinds.get(&DeviceKind::Worker).is_some_and(|n| *n >= 200));
    let assigned: HashSet<&str> = s.assignments.iter().map(|a| a.device.as_str()).collect();
    assert!(
        s.devices.iter().all(|d| assigned.contains(d.id.as_str())),
        "every device is assigned"
    );
}

#[test]
fn route_lengths_are_realistic() {
    let s = humen().validate().unwrap();
    for a in &s.areas {
        if let geofence::AreaGeometry::Line(l) = a.geometry() {
            let len: f64 =
                l.0.windows(2)
                    .map(|w| geofence::geodesy::local_distance_m(w[0].x, w[0].y, w[1].x, w[1].y))
                    .sum();
            assert!((450.0..=3000.0).contains(&len), "{} is {len:.0} m", a.id());
        }
    }
}
