//! 50,000 fixes from 500 devices published unpaced while the service runs.

use std::time::Instant;

use crate::chaos::{Delivery, Fleet, Patience, prime, report, settle_and_check, wait_for_fixes};
use crate::helpers::brokers::{AnyBroker, Kind};
use crate::helpers::burst;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::unique;

pub async fn run(kind: Kind) {
    let (devices, per_device) = (500, 100);
    let broker = AnyBroker::start(kind);
    let db = TestDb::create().await;
    let svc = Service::start(&db.url, &broker.url(), &unique("brokers-burst-"), &[]).await;
    let mut fleet = Fleet::new(devices);
    prime(broker.port(), &db.url, &mut fleet).await;
    let want = fleet.fixes(per_device);

    let started = Instant::now();
    let published = burst::publish(broker.port(), fleet.jobs(0..per_device)).await;
    report(
        "brokers::burst",
        &format!("{kind:?}: published {published}"),
    );
    wait_for_fixes(&db.url, &svc, want, Patience::for_fixes(want)).await;
    report(
        "brokers::burst",
        &format!(
            "{kind:?}: {want} fixes stored {:.1} s after the burst began",
            started.elapsed().as_secs_f64()
        ),
    );
    settle_and_check(&db.url, &fleet, per_device, Delivery::Once, 0).await;
}
