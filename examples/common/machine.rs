//! What else the machine is doing: the load average before a run (and waiting
//! for it to fall), and where CPU time went during a measurement, per process
//! name, from `/proc`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Waits (polling every 30 s, at most `max_wait`) until the 1-minute load average
/// is at most `max`, so that figures are not polluted by other work. Returns the
/// load averages it started with; measures anyway (with a warning) when it never
/// fell.
pub async fn wait_for_quiet(max: f64, max_wait: Duration) -> [f64; 3] {
    const POLL: Duration = Duration::from_secs(30);
    let deadline = Instant::now() + max_wait;
    loop {
        let load = load_average().unwrap_or([0.0; 3]);
        if load[0] <= max {
            return load;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "warning: load average still {:.2} after {:.0} s; measuring anyway",
                load[0],
                max_wait.as_secs_f64()
            );
            return load;
        }
        eprintln!(
            "load average {:.2} > {max}: waiting ({:.0} s more at most)",
            load[0],
            deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until process `pid` uses less than `cores` over a second (at most
/// `max_wait`), e.g. until the broker has worked off the acknowledgements an
/// earlier phase left in its sockets. Returns how long it waited.
pub async fn wait_idle(pid: u32, cores: f64, max_wait: Duration) -> Duration {
    let start = Instant::now();
    let hz = ticks_per_second();
    let mut before = proc_ticks(pid).map_or(0, |p| p.1);
    while start.elapsed() < max_wait {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some((_, now)) = proc_ticks(pid) else {
            break;
        };
        if ((now.saturating_sub(before)) as f64 / hz) < cores {
            break;
        }
        before = now;
    }
    start.elapsed()
}

/// CPU time of every process and of the whole machine at one instant.
pub struct CpuSnapshot {
    at: Instant,
    /// pid → (command name, user + system clock ticks)
    procs: HashMap<u32, (String, u64)>,
    /// The `cpu` line of `/proc/stat`: busy, steal and all ticks.
    busy: u64,
    steal: u64,
    all: u64,
}

/// CPU used between two snapshots.
pub struct CpuUse {
    /// (process name, cores used on average), most first.
    pub by_name: Vec<(String, f64)>,
    /// Cores the whole machine was busy on average (not idle, not iowait).
    pub machine_busy: f64,
    /// Cores' worth of time the hypervisor took (steal).
    pub steal: f64,
    pub cores: usize,
    /// Seconds between the two snapshots.
    pub secs: f64,
}

/// The services a benchmark runs, which other work on the machine may run too:
/// their processes are told apart by their command line (see [`cpu_snapshot`]).
const SERVICES: [&str; 3] = ["sweepwatch", "mosquitto", "postgres"];

/// CPU times now. A process of one of the [`SERVICES`] is labelled with its name
/// when its command line contains one of `ours` (the benchmark's binary path,
/// broker directory, database name), else `name(other)`; PostgreSQL's own
/// processes (checkpointer, WAL writer, …) are `postgres(server)`.
pub fn cpu_snapshot(ours: &[String]) -> CpuSnapshot {
    let mut procs = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some((name, ticks)) = proc_ticks(pid) {
                procs.insert(pid, (label(pid, name, ours), ticks));
            }
        }
    }
    let (busy, steal, all) = machine_ticks().unwrap_or((0, 0, 0));
    CpuSnapshot {
        at: Instant::now(),
        procs,
        busy,
        steal,
        all,
    }
}

fn label(pid: u32, name: String, ours: &[String]) -> String {
    if !SERVICES.contains(&name.as_str()) {
        return name;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default();
    if ours.iter().any(|o| cmdline.contains(o.as_str())) {
        return name;
    }
    // A backend's title is `postgres: 15/main: user database host(port) state`.
    if name == "postgres" && !cmdline.contains('(') {
        return "postgres(server)".into();
    }
    format!("{name}(other)")
}

/// (comm, utime + stime) of a process.
fn proc_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn machine_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    let all: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    let steal = *v.get(7)?;
    Some((all - idle - steal, steal, all))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

impl CpuSnapshot {
    /// What each process name (summed over its processes) used from `self` to
    /// `later`. A process that started in between counts whole; one that ended
    /// in between is missing.
    pub fn until(&self, later: &CpuSnapshot) -> CpuUse {
        let secs = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let hz = ticks_per_second();
        let mut by: HashMap<String, u64> = HashMap::new();
        for (pid, (name, ticks)) in &later.procs {
            // A kernel worker's name says what it is doing now: one pid, one worker.
            let before = self.procs.get(pid).map_or(0, |(_, t)| *t);
            let name = name.as_str();
            let group = match name.split_once('/') {
                Some((kernel_thread, _)) if !name.contains('(') => kernel_thread,
                _ => name,
            };
            *by.entry(group.to_owned()).or_default() += ticks.saturating_sub(before);
        }
        let mut by_name: Vec<(String, f64)> = by
            .into_iter()
            .filter(|(_, t)| *t > 0)
            .map(|(n, t)| (n, t as f64 / hz / secs))
            .collect();
        by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
        let all = (later.all.saturating_sub(self.all)).max(1) as f64;
        let cores = super::num_cpus();
        CpuUse {
            by_name,
            machine_busy: later.busy.saturating_sub(self.busy) as f64 / all * cores as f64,
            steal: later.steal.saturating_sub(self.steal) as f64 / all * cores as f64,
            cores,
            secs,
        }
    }
}

impl CpuUse {
    /// CPU microseconds the processes with one of these names spent per item,
    /// over `items` items.
    pub fn us_per(&self, names: &[&str], items: u64) -> f64 {
        let cores: f64 = self
            .by_name
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, c)| c)
            .sum();
        cores * self.secs * 1e6 / items.max(1) as f64
    }

    /// The whole machine's busy CPU microseconds per item.
    pub fn machine_us_per(&self, items: u64) -> f64 {
        self.machine_busy * self.secs * 1e6 / items.max(1) as f64
    }
}

impl std::fmt::Display for CpuUse {
    /// `machine 1.95 of 2 cores busy (steal 0.00): sweepwatch 0.80, postgres 0.60, …,
    /// others 0.02, exited meanwhile 0.10` (the last is what processes that ended
    /// before the second snapshot used, e.g. another build's compiler runs)
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "machine {:.2} of {} cores busy (steal {:.2}):",
            self.machine_busy, self.cores, self.steal
        )?;
        let shown = self.by_name.iter().take(8);
        for (i, (name, cores)) in shown.enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name} {cores:.2}")?;
        }
        let rest: f64 = self.by_name.iter().skip(8).map(|(_, c)| c).sum();
        let seen: f64 = self.by_name.iter().map(|(_, c)| c).sum();
        write!(
            f,
            ", others {rest:.2}, exited meanwhile {:.2}",
            (self.machine_busy - seen).max(0.0)
        )
    }
}
