//! The bundled scenario: a Dongguan town modelled on Humen (虎门), around 22.82 N,
//! 113.67 E. [`generate`] builds it deterministically; `scenarios/humen.json` is its
//! output (`cargo run -p simulator --example gen_humen > scenarios/humen.json`), and a
//! test checks the two agree.
//!
//! The town is 6 km × 4.5 km: 15 grid beats (5 × 3 cells of 1.2 km × 1.5 km) in 4
//! districts (片区), each grid with its chief (片长); 9 east-west and 10 north-south
//! streets cut into routes at crossings (0.5–2.4 km); the three main roads each way are
//! washed at night (2 passes, 10 m half-width), the rest swept by day (6–10 m); 7 parks,
//! 25 garbage transfer stations beside sweep routes, 16 city service stations (驿站) as
//! rest zones. Shifts: day sweep 06:00–18:00, night wash 22:00–05:00, and the clean-city
//! day on the last Saturday of each month, 08:00–12:00.

use geofence::geodesy::LocalFrame;
use serde_json::{Value, json};

use crate::scenario::rng::Rng;

/// Centre of the town.
pub const CENTRE: (f64, f64) = (113.67, 22.82);
const HALF_W: f64 = 3000.0;
const HALF_H: f64 = 2250.0;
const COLS: usize = 5;
const ROWS: usize = 3;

const DISTRICTS: [&str; 4] = [
    "Taiping 太平",
    "Baisha 白沙",
    "Zhen'an 镇安",
    "Lianjiang 莲江",
];
/// District of each grid cell, by (col, row), row 0 in the south.
fn district_of(col: usize, row: usize) -> usize {
    match (col, row) {
        (0..=1, 0..=1) => 0,
        (2..=3, 0..=1) => 1,
        (4, _) | (3, 2) => 2,
        _ => 3,
    }
}
const CHIEFS: [&str; 15] = [
    "Chen Wei 陈伟",
    "Li Na 李娜",
    "Zhang Min 张敏",
    "Wang Jun 王军",
    "Liu Yang 刘洋",
    "Huang Li 黄丽",
    "Zhou Qiang 周强",
    "Wu Fang 吴芳",
    "Xu Jing 徐静",
    "Sun Hao 孙浩",
    "Ma Lin 马琳",
    "Zhu Tao 朱涛",
    "Hu Xia 胡霞",
    "Guo Peng 郭鹏",
    "He Yan 何燕",
];
const EW_STREETS: [&str; 9] = [
    "Nanzha Rd",
    "Taiping Rd",
    "Yong'an Rd",
    "Lianjiang Rd",
    "Humen Ave",
    "Renmin Rd",
    "Baisha Rd",
    "Huanan Rd",
    "Xinwan Rd",
];
const NS_STREETS: [&str; 10] = [
    "Weiyuan Rd",
    "Chigang Rd",
    "Bei'an Rd",
    "Yinlong Rd",
    "Jinlong Rd",
    "Huanghe Rd",
    "Zhenxing Rd",
    "Shadong Rd",
    "Longyan Rd",
    "Haizhan Rd",
];
/// Main roads, washed at night: indices into the street lists.
const EW_MAIN: [usize; 3] = [2, 4, 6];
const NS_MAIN: [usize; 3] = [1, 5, 8];
const PARKS: [&str; 7] = [
    "Humen Park",
    "Lin Zexu Memorial Park",
    "Weiyuan Fort Garden",
    "Haizhan Museum Garden",
    "Jinhu Park",
    "Baisha Wetland Park",
    "Lianjiang Riverside Park",
];

struct Route {
    id: String,
    name: String,
    pts: Vec<[f64; 2]>,
    wash: bool,
    half_width: f64,
}

struct Gen {
    frame: LocalFrame,
    rng: Rng,
    features: Vec<Value>,
}

impl Gen {
    fn coord(&self, p: [f64; 2]) -> Value {
        let (lon, lat) = self.frame.unproject(p);
        json!([round7(lon), round7(lat)])
    }

    fn props(&self, at: [f64; 2], kind: &str, name: &str) -> serde_json::Map<String, Value> {
        let (col, row, g) = cell(at);
        let d = district_of(col, row);
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), kind.into());
        m.insert("name".into(), name.into());
        m.insert("district".into(), DISTRICTS[d].into());
        m.insert("grid".into(), grid_id(g).into());
        m.insert("chief".into(), CHIEFS[g].into());
        m
    }

    fn zone(&mut self, id: &str, kind: &str, name: &str, centre: [f64; 2], w: f64, h: f64) {
        let ring = [
            [-1.0, -1.0],
            [1.0, -1.0],
            [1.0, 1.0],
            [-1.0, 1.0],
            [-1.0, -1.0],
        ]
        .map(|[sx, sy]| self.coord([centre[0] + sx * w / 2.0, centre[1] + sy * h / 2.0]));
        let props = self.props(centre, kind, name);
        self.features
            .push(json!({"type": "Feature", "id": id, "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring.to_vec()]}}));
    }
}

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// (col, row, grid index) of a point.
fn cell(p: [f64; 2]) -> (usize, usize, usize) {
    let col = (((p[0] + HALF_W) / (2.0 * HALF_W / COLS as f64)).floor() as usize).min(COLS - 1);
    let row = (((p[1] + HALF_H) / (2.0 * HALF_H / ROWS as f64)).floor() as usize).min(ROWS - 1);
    (col, row, row * COLS + col)
}

fn grid_id(g: usize) -> String {
    format!("G{:02}", g + 1)
}

/// Splits a street (its crossing positions) into routes of 1-4 blocks.
fn split(rng: &mut Rng, crossings: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut a = 0;
    while a < crossings - 1 {
        let len = 1 + rng.below(4);
        let b = (a + len).min(crossings - 1);
        out.push((a, b));
        a = b;
    }
    out
}

fn streets(g: &mut Gen) -> Vec<Route> {
    let mut routes = Vec::new();
    // East-west streets every 500 m, crossings every 600 m (and the town edge).
    let xs: Vec<f64> = (0..=10).map(|k| -HALF_W + 600.0 * k as f64).collect();
    let ys: Vec<f64> = (0..=9).map(|k| -HALF_H + 500.0 * k as f64).collect();
    for (k, name) in EW_STREETS.iter().enumerate() {
        let y = -2000.0 + 500.0 * k as f64;
        let bend: Vec<f64> = xs.iter().map(|_| g.rng.range(-12.0, 12.0)).collect();
        for (n, (a, b)) in split(&mut g.rng, xs.len()).into_iter().enumerate() {
            let pts = (a..=b).map(|i| [xs[i], y + bend[i]]).collect();
            routes.push(route(
                &mut g.rng,
                format!("{name} {}", n + 1),
                pts,
                EW_MAIN.contains(&k),
            ));
        }
    }
    for (k, name) in NS_STREETS.iter().enumerate() {
        let x = -2700.0 + 600.0 * k as f64;
        let bend: Vec<f64> = ys.iter().map(|_| g.rng.range(-12.0, 12.0)).collect();
        for (n, (a, b)) in split(&mut g.rng, ys.len()).into_iter().enumerate() {
            let pts = (a..=b).map(|i| [x + bend[i], ys[i]]).collect();
            routes.push(route(
                &mut g.rng,
                format!("{name} {}", n + 1),
                pts,
                NS_MAIN.contains(&k),
            ));
        }
    }
    for (i, r) in routes.iter_mut().enumerate() {
        r.id = format!("route-{:03}", i + 1);
    }
    routes
}

fn route(rng: &mut Rng, name: String, pts: Vec<[f64; 2]>, wash: bool) -> Route {
    let half_width = if wash {
        10.0
    } else {
        6.0 + rng.below(5) as f64
    };
    Route {
        id: String::new(),
        name,
        pts,
        wash,
        half_width,
    }
}

fn midpoint(pts: &[[f64; 2]]) -> ([f64; 2], [f64; 2]) {
    let (a, b) = (
        pts[pts.len() / 2 - usize::from(pts.len().is_multiple_of(2))],
        pts[pts.len() / 2],
    );
    let (a, b) = if a == b {
        (pts[0], pts[pts.len() - 1])
    } else {
        (a, b)
    };
    (
        [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0],
        [b[0] - a[0], b[1] - a[1]],
    )
}

/// The Humen scenario as pretty-printed JSON (the content of `scenarios/humen.json`).
#[expect(
    clippy::too_many_lines,
    reason = "the town is laid out in one pass over one seeded generator: grids, routes, parks, stations in the order the RNG draws them; split, the draw order would hide in the calls"
)]
pub fn generate() -> String {
    let mut g = Gen {
        frame: LocalFrame::new(CENTRE.0, CENTRE.1),
        rng: Rng::derive(2026, "humen"),
        features: Vec::new(),
    };
    let routes = streets(&mut g);
    // Grid beats tile the town.
    let (cw, ch) = (2.0 * HALF_W / COLS as f64, 2.0 * HALF_H / ROWS as f64);
    let centre_of = |gi: usize| {
        [
            -HALF_W + cw * ((gi % COLS) as f64 + 0.5),
            -HALF_H + ch * ((gi / COLS) as f64 + 0.5),
        ]
    };
    for gi in 0..COLS * ROWS {
        let name = format!("Grid {} beat", grid_id(gi));
        g.zone(
            &format!("beat-{}", grid_id(gi).to_lowercase()),
            "beat",
            &name,
            centre_of(gi),
            cw,
            ch,
        );
    }
    for r in &routes {
        let coords: Vec<Value> = r.pts.iter().map(|p| g.coord(*p)).collect();
        let mut props = g.props(midpoint(&r.pts).0, "route", &r.name);
        props.insert("width_m".into(), r.half_width.into());
        props.insert("passes".into(), (if r.wash { 2 } else { 1 }).into());
        g.features
            .push(json!({"type": "Feature", "id": r.id, "properties": props,
            "geometry": {"type": "LineString", "coordinates": coords}}));
    }
    // Parks inside blocks (between streets), in distinct grids.
    for (i, name) in PARKS.iter().enumerate() {
        let gi = (i * 2 + 1) % (COLS * ROWS);
        let c = centre_of(gi);
        // the middle of the block north of the cell's centre crossing
        let c = [c[0], c[1] + 250.0];
        let (w, h) = (g.rng.range(160.0, 260.0), g.rng.range(120.0, 200.0));
        g.zone(
            &format!("park-{}", i + 1),
            "park",
            name,
            c,
            w.min(280.0),
            h.min(220.0),
        );
    }
    // Transfer stations beside the middle of 25 sweep routes, 30 m off the centre line.
    let sweep: Vec<usize> = (0..routes.len()).filter(|&i| !routes[i].wash).collect();
    let mut station_routes = Vec::new();
    for k in 0..25 {
        let ri = sweep[k * sweep.len() / 25];
        let (m, d) = midpoint(&routes[ri].pts);
        let len = d[0].hypot(d[1]).max(1e-9);
        let c = [m[0] - d[1] / len * 35.0, m[1] + d[0] / len * 35.0];
        g.zone(
            &format!("ts-{:02}", k + 1),
            "transfer_station",
            &format!("Transfer station {} 垃圾转运站", k + 1),
            c,
            40.0,
            30.0,
        );
        station_routes.push((format!("ts-{:02}", k + 1), routes[ri].id.clone()));
    }
    // City service stations: one in each grid, a second one in the busiest.
    let mut rest = Vec::new();
    for k in 0..16 {
        let gi = k % (COLS * ROWS);
        let c = centre_of(gi);
        let c = [c[0] + 150.0 + 200.0 * (k / 15) as f64, c[1] + 120.0];
        let id = format!("rest-{:02}", k + 1);
        g.zone(
            &id,
            "rest_zone",
            &format!("City service station {} 城市服务驿站", k + 1),
            c,
            30.0,
            30.0,
        );
        rest.push(id);
    }

    let (devices, assignments) = fleet(&routes, &station_routes);
    let doc = json!({
        "format": geofence::scenario::FORMAT,
        "org": {"id": "humen", "name": "Humen town 虎门镇, Dongguan", "timezone": "Asia/Shanghai"},
        "areas": {"type": "FeatureCollection", "features": g.features},
        "shifts": [
            {"id": "day-sweep", "name": "Day sweep 日扫",
             "weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "06:00:00", "end": "18:00:00"}]},
            {"id": "night-wash", "name": "Night wash 夜洗",
             "weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "22:00:00", "end": "05:00:00"}]},
            {"id": "clean-city-day", "name": "Clean-city day 城市清洁日",
             "monthly": [{"day": {"rule": "last_weekday", "weekday": "Sat"}, "start": "08:00:00", "end": "12:00:00"}]}
        ],
        "devices": devices,
        "assignments": assignments,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// 24 sweepers, 12 washers, 16 collectors, 240 workers, and who works where.
fn fleet(routes: &[Route], stations: &[(String, String)]) -> (Vec<Value>, Vec<Value>) {
    let mut devices = Vec::new();
    let mut asg = Vec::new();
    let from = "2026-01-01T00:00:00Z";
    let assign = |asg: &mut Vec<Value>, d: &str, area: &str, shift: &str| {
        asg.push(json!({"device": d, "area": area, "shift": shift, "valid_from": from, "valid_to": null}));
    };
    let sweep: Vec<&Route> = routes.iter().filter(|r| !r.wash).collect();
    let wash: Vec<&Route> = routes.iter().filter(|r| r.wash).collect();
    for (kind, prefix, n, label) in [
        ("sweeper", "sw", 24, "Sweeper"),
        ("washer", "wa", 12, "Wash truck"),
        ("collector", "co", 16, "Collector"),
    ] {
        for i in 0..n {
            let id = format!("{prefix}-{:03}", i + 1);
            devices.push(json!({"id": id, "kind": kind, "label": format!("{label} {}", i + 1), "owntracks_id": null}));
            match kind {
                "sweeper" => (i * sweep.len() / n..(i + 1) * sweep.len() / n)
                    .for_each(|k| assign(&mut asg, &id, &sweep[k].id, "day-sweep")),
                "washer" => (i * wash.len() / n..(i + 1) * wash.len() / n)
                    .for_each(|k| assign(&mut asg, &id, &wash[k].id, "night-wash")),
                _ => {
                    for (ts, route) in
                        &stations[i * stations.len() / n..(i + 1) * stations.len() / n]
                    {
                        assign(&mut asg, &id, route, "day-sweep");
                        assign(&mut asg, &id, ts, "day-sweep");
                    }
                }
            }
        }
    }
    for i in 0..240 {
        let id = format!("wk-{:03}", i + 1);
        let beat = format!("beat-{}", grid_id(i % (COLS * ROWS)).to_lowercase());
        devices.push(json!({"id": id, "kind": "worker", "label": format!("Street cleaner {} ({})", i + 1, grid_id(i % 15)),
            "owntracks_id": format!("{id}/uniform")}));
        assign(&mut asg, &id, &beat, "day-sweep");
        assign(&mut asg, &id, &beat, "clean-city-day");
    }
    (devices, asg)
}
