//! Terminals behind EMQX's JT/T 808 gateway: their relayed positions
//! ([`codec::Message::Jt808Relay`]) get their device here, in the writer,
//! before the batch is written. The device is the one whose `jt808_phone` is
//! the terminal's phone; a phone without one is registered in `[jt808] org`
//! as `jt808-{phone}` of `[jt808] kind`, exactly as the listener registers a
//! terminal (`store::jt808::register`). The work bit is then read as the
//! listener reads it (`work_by_phone`, else the kind's `work`).

use std::collections::HashMap;

use jt808::WorkBit;

use crate::codec::{self, DeviceAddr, DeviceName, Message, OrgId, Reject, RejectReason};
use crate::config::Jt808Config;
use crate::pipeline::Item;

/// Phones already looked up by this process: one round trip per terminal.
pub(crate) struct Relays {
    cfg: Jt808Config,
    known: HashMap<String, Result<(DeviceAddr, Option<WorkBit>), String>>,
}

impl Relays {
    pub fn new(cfg: Jt808Config) -> Self {
        Self {
            cfg,
            known: HashMap::new(),
        }
    }

    /// Gives every relayed message of `items` its device, turning it into
    /// the fix or backlog the device would have published. A database error
    /// leaves the rest as they are: the caller retries.
    pub async fn resolve(
        &mut self,
        pool: &store::Pool,
        items: &mut [Item],
    ) -> Result<(), store::StoreError> {
        let mut client = None;
        for item in items.iter_mut() {
            let Ok(Message::Jt808Relay(relay)) = &item.decoded else {
                continue;
            };
            if !self.known.contains_key(&relay.phone) {
                if client.is_none() {
                    client = Some(pool.get().await?);
                }
                let c = client.as_ref().expect("just set");
                let found = self.register(c, &relay.phone).await?;
                self.known.insert(relay.phone.clone(), found);
            }
            let found = self.known[&relay.phone].clone();
            let decoded = std::mem::replace(&mut item.decoded, Err(placeholder()));
            item.decoded = match (decoded, found) {
                (Ok(Message::Jt808Relay(r)), Ok((addr, work))) => Ok(into_message(*r, addr, work)),
                (_, Err(detail)) => Err(Reject::new(RejectReason::InvalidValue, detail)),
                (other, _) => other,
            };
        }
        Ok(())
    }

    async fn register(
        &self,
        client: &tokio_postgres::Client,
        phone: &str,
    ) -> Result<Result<(DeviceAddr, Option<WorkBit>), String>, store::StoreError> {
        let cfg = &self.cfg;
        let t = store::jt808::register(
            client,
            phone,
            &cfg.org,
            &format!("jt808-{phone}"),
            &cfg.kind,
        )
        .await?;
        let (Some(org), Some(device)) = (OrgId::parse(&t.org), DeviceName::parse(&t.name)) else {
            return Ok(Err(format!(
                "the device of JT/T 808 phone {phone} has no valid org/name ({:?}/{:?})",
                t.org, t.name
            )));
        };
        let work = cfg
            .work_by_phone
            .get(phone)
            .or_else(|| cfg.work.get(&t.kind))
            .copied();
        Ok(Ok((DeviceAddr { org, device }, work)))
    }
}

fn placeholder() -> Reject {
    Reject::new(RejectReason::InvalidValue, "being resolved")
}

/// The relayed positions as the device's own message, `work` read from each
/// report.
fn into_message(r: codec::Relay, addr: DeviceAddr, work: Option<WorkBit>) -> Message {
    let mut fixes = r.fixes;
    for (fix, report) in fixes.iter_mut().zip(&r.reports) {
        fix.work = work.and_then(|w| w.read(report));
    }
    if r.batch {
        Message::Backlog {
            addr,
            fixes,
            rejects: r.rejects,
        }
    } else {
        match fixes.pop() {
            Some(fix) if fixes.is_empty() => Message::Fix { addr, fix },
            // The decoder makes a single report exactly one fix.
            _ => Message::Backlog {
                addr,
                fixes,
                rejects: r.rejects,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(batch: bool, n: usize) -> codec::Relay {
        let report = jt808::LocationReport {
            alarm: 0,
            status: jt808::STATUS_POSITIONED | jt808::STATUS_ACC,
            lat: 22_814_300,
            lon: 113_672_100,
            altitude: 0,
            speed: 0,
            direction: 0,
            time: jt808::BcdTime([0x26, 0x11, 0x27, 0x13, 0, 0]),
            extras: vec![],
        };
        let fix = crate::jt808::report::fix(
            &report,
            None,
            &codec::Limits {
                max_age: chrono::TimeDelta::MAX,
                max_future: chrono::TimeDelta::MAX,
                ..codec::Limits::default()
            },
            chrono::Utc::now(),
        )
        .unwrap();
        codec::Relay {
            phone: "1".into(),
            batch,
            fixes: vec![fix; n],
            reports: vec![report; n],
            rejects: vec![],
        }
    }

    fn addr() -> DeviceAddr {
        DeviceAddr {
            org: OrgId::parse("jt808").unwrap(),
            device: DeviceName::parse("jt808-1").unwrap(),
        }
    }

    #[test]
    fn a_report_becomes_a_fix_with_the_kinds_work_bit() {
        let m = into_message(relay(false, 1), addr(), Some(WorkBit::ACC));
        let Message::Fix { fix, addr: a } = m else {
            panic!("{m:?}")
        };
        assert_eq!(a, addr());
        assert_eq!(fix.work, Some(true));
        let m = into_message(relay(false, 1), addr(), None);
        assert!(matches!(m, Message::Fix { fix, .. } if fix.work.is_none()));
    }

    #[test]
    fn a_batch_becomes_a_backlog() {
        let m = into_message(relay(true, 3), addr(), Some(WorkBit::Status { bit: 5 }));
        let Message::Backlog { fixes, .. } = m else {
            panic!("{m:?}")
        };
        assert_eq!(fixes.len(), 3);
        assert!(fixes.iter().all(|f| f.work == Some(false)));
    }
}
