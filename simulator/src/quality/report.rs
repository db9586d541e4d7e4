//! The score as a table for people: one row per kind, then every false and every
//! missed alert with what explains it.
//!
//! ```text
//! org humen, 2026-11-23 22:00:00 UTC .. 2026-11-23 22:45:00 UTC, seed 1, 32 devices
//! kind              planted alerts hits false missed precision recall  error s mean/max
//! idle                    2      2    2     0      0      1.000  1.000     -2.5 / 5.0
//! off_area                2      3    2     1      0      0.667  1.000     +1.0 / 4.0
//! all                     4      5    4     1      0      0.800  1.000     -0.8 / 5.0
//! ignored: 412 alerts of devices or routes not in the run, 0 outside its span
//!
//! false alerts (1):
//!   off_area co-004 opened 22:31:10 (cleared 22:40:00): overlaps non-trouble transfer_trip of co-004 (22:30:05-22:41:10, ts-07)
//! missed (0)
//! ```

use std::fmt;

use super::score::{KindScore, Score};

fn ratio(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.3}"))
}

fn row(f: &mut fmt::Formatter<'_>, k: &KindScore) -> fmt::Result {
    let name = k.kind.map_or("all", |k| k.as_str());
    let err = match (k.error_mean_s, k.error_max_s) {
        (Some(m), Some(x)) => format!("{m:+.1} / {x:.1}"),
        _ => "-".into(),
    };
    writeln!(
        f,
        "{name:<17} {:>7} {:>6} {:>4} {:>5} {:>6} {:>9} {:>6}  {err:>15}",
        k.planted,
        k.alerts,
        k.hits,
        k.false_alerts,
        k.missed,
        ratio(k.precision),
        ratio(k.recall)
    )
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = |x: chrono::DateTime<chrono::Utc>| x.format("%Y-%m-%d %H:%M:%S UTC");
        writeln!(
            f,
            "org {}, {} .. {}, seed {}, {} devices",
            self.org,
            t(self.start),
            t(self.end),
            self.seed,
            self.devices
        )?;
        writeln!(
            f,
            "kind              planted alerts hits false missed precision recall  error s mean/max"
        )?;
        for k in &self.kinds {
            row(f, k)?;
        }
        row(f, &self.total)?;
        writeln!(
            f,
            "ignored: {} alerts of devices or routes not in the run, {} outside its span",
            self.ignored_other, self.ignored_outside
        )?;
        if !self.not_due.is_empty() {
            writeln!(
                f,
                "not scored: {} troubles due after the run ended",
                self.not_due.len()
            )?;
        }
        writeln!(f)?;
        writeln!(f, "false alerts ({}):", self.false_alerts.len())?;
        for a in &self.false_alerts {
            let cleared = a.alert.cleared_at.map_or("open".into(), |c| {
                format!("cleared {}", c.format("%H:%M:%S"))
            });
            let reopened = if a.alert.reopen_count > 0 {
                format!(", re-opened {}x", a.alert.reopen_count)
            } else {
                String::new()
            };
            writeln!(
                f,
                "  {} {} opened {} ({cleared}{reopened}): {}",
                a.alert.kind.as_str(),
                a.alert
                    .device
                    .as_deref()
                    .or(a.alert.area_id.as_deref())
                    .unwrap_or("-"),
                a.alert.opened_at.format("%H:%M:%S"),
                a.explanation.join("; ")
            )?;
        }
        writeln!(f, "missed ({}):", self.missed.len())?;
        for m in &self.missed {
            let p = &m.trouble;
            writeln!(
                f,
                "  {} {} planted {} by {} (due {}): {}",
                p.kind.map_or("-", |k| k.as_str()),
                p.route.as_deref().or(p.device.as_deref()).unwrap_or("-"),
                p.from.format("%H:%M:%S"),
                p.behaviour,
                m.due.format("%H:%M:%S"),
                m.explanation
            )?;
        }
        Ok(())
    }
}
