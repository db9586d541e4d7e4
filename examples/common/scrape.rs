//! Reading the service from outside: its Prometheus metrics and its memory
//! (`/proc/{pid}/status`).

/// The `/metrics` page.
pub async fn metrics_text(http: &str) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("{http}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The value of an unlabelled metric in a `/metrics` page.
pub fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .filter(|r| r.starts_with(' '))
            .and_then(|r| r.trim().parse().ok())
    })
}

/// The sum over every label set of a metric (0 when it has none yet).
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter(|r| r.starts_with('{') || r.starts_with(' '))
        .filter_map(|r| r.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Every label set of a metric with its value, e.g. `result="accepted" 1000`.
pub fn labelled(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix('{'))
        .filter_map(|r| {
            let (labels, v) = r.rsplit_once(' ')?;
            Some((labels.trim_end_matches('}').to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The value of an unlabelled metric, fetched now; `None` while the service
/// does not answer.
pub async fn metric(http: &str, name: &str) -> Option<f64> {
    value(&metrics_text(http).await.ok()?, name)
}

/// A quantile of the histogram `name` (e.g. `sweepwatch_ingest_lag_seconds`),
/// interpolated linearly within its bucket.
pub fn quantile(text: &str, name: &str, q: f64) -> f64 {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|r| {
            let (le, rest) = r.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    let target = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= target {
            if le.is_infinite() {
                return prev.0;
            }
            let frac = if count > prev.1 {
                (target - prev.1) / (count - prev.1)
            } else {
                0.0
            };
            return prev.0 + frac * (le - prev.0);
        }
        prev = (le, count);
    }
    f64::NAN
}

/// A `kB` field of `/proc/{pid}/status` (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// The peak resident set (`VmHWM`) of a live process, in KiB.
pub fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmHWM").ok_or_else(|| anyhow::anyhow!("no VmHWM for process {pid}"))
}
