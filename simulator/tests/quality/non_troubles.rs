//! Each non-trouble the simulator plants raises nothing: it is recorded in the truth
//! (so a false alert can be explained), and the engine stays quiet about it.

use std::time::Duration;

use simulator::scenario::{Behaviours, DeviceSelection};

use crate::common::*;

fn with_noise(name: &str) -> Behaviours {
    let mut b = Behaviours::only(name).expect("a behaviour");
    b.noise.enabled = true;
    b
}

fn noise_only() -> Behaviours {
    let mut b = Behaviours::none();
    b.noise.enabled = true;
    b
}

fn devices(prefix: &str, n: usize) -> DeviceSelection {
    DeviceSelection::Ids((1..=n).map(|i| format!("{prefix}-{i:03}")).collect())
}

/// The run planted at least `min` non-troubles `behaviour`, no trouble, and the
/// engine raised no alert about the devices of the run.
fn assert_quiet(c: &Checked, behaviour: &str, min: usize) {
    let n = c
        .plan
        .truth
        .non_troubles
        .iter()
        .filter(|p| p.behaviour == behaviour)
        .count();
    assert!(
        n >= min,
        "{n} {behaviour} planted, wanted {min}\n{}",
        c.why()
    );
    assert!(
        c.plan.truth.troubles.is_empty(),
        "{:#?}",
        c.plan.truth.troubles
    );
    assert_eq!(c.score.total.alerts, 0, "\n{}", c.why());
}

#[test]
fn sweepers_driving_between_their_routes_with_the_broom_up_raise_nothing() {
    // Every sweeper for an hour and a half: some drive 5 km between their routes.
    let c = check(&run(devices("sw", 24), noise_only(), 90));
    assert_quiet(&c, "transit", 24);
}

#[test]
fn collectors_driving_to_their_transfer_stations_and_waiting_there_raise_nothing() {
    let c = check(&run(devices("co", 16), with_noise("transfer_trips"), 90));
    assert_quiet(&c, "transfer_trip", 16);
    // A trip: there, 10 minutes of queueing and unloading, and on to the next route.
    let trips: Vec<i64> = c
        .plan
        .truth
        .non_troubles
        .iter()
        .filter(|p| p.behaviour == "transfer_trip")
        .map(|p| (p.to - p.from).num_minutes())
        .collect();
    assert!(
        trips.iter().filter(|m| **m >= 10).count() >= 16,
        "{trips:?}"
    );
}

#[test]
fn cleaners_walking_to_a_city_service_station_for_their_break_raise_nothing() {
    // One cleaner per beat, two and a half hours: everyone takes a break, some at the
    // station of the next beat.
    let mut b = with_noise("breaks");
    b.breaks.every = Duration::from_secs(3600);
    let c = check(&run(devices("wk", 15), b, 150));
    assert_quiet(&c, "break", 15);
}

#[test]
fn a_vehicle_stopped_in_traffic_for_six_minutes_raises_nothing() {
    let c = check(&run(ids(&["sw-006"]), with_noise("traffic_jam"), 20));
    assert_quiet(&c, "traffic_jam", 1);
}

#[test]
fn a_tunnel_of_four_minutes_raises_nothing() {
    let c = check(&run(ids(&["sw-007"]), with_noise("dropout"), 20));
    assert_quiet(&c, "dropout", 1);
}

#[test]
fn a_backlog_arriving_five_minutes_late_raises_nothing() {
    let c = check(&run(ids(&["co-001"]), with_noise("backlog"), 20));
    assert_quiet(&c, "backlog", 1);
}

#[test]
fn a_sweeper_working_along_the_edge_of_its_corridor_with_gps_noise_raises_nothing() {
    let c = check(&run(ids(&["sw-008"]), with_noise("edge"), 20));
    assert_quiet(&c, "edge", 1);
}

#[test]
fn a_cleaner_walking_along_the_edge_of_her_beat_with_gps_noise_raises_nothing() {
    let mut failures = Vec::new();
    for seed in 1..=4 {
        let mut o = run(ids(&["wk-020"]), with_noise("edge"), 20);
        o.seed = seed;
        let c = check(&o);
        let planted = c
            .plan
            .truth
            .non_troubles
            .iter()
            .any(|p| p.behaviour == "edge");
        if !planted || c.score.total.alerts > 0 {
            failures.push(format!(
                "seed {seed} (edge planted: {planted}):\n{}",
                c.why()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_whole_town_on_clean_tracks_with_gps_noise_raises_nothing() {
    let c = check(&run(DeviceSelection::PerKind(16), noise_only(), 45));
    assert_quiet(&c, "transit", 1);
}
