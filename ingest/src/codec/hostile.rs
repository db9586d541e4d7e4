//! Generators of hostile MQTT messages for property tests: JSON aimed at what
//! PostgreSQL cannot store (the escape `\u0000` in keys and values at any
//! depth, lone surrogates, numbers past f64, i64 and numeric, deep nesting, odd
//! Unicode), on the topics of the contract, and plain random bytes and topics.
//!
//! Test-only, and on its own (proptest, serde_json, chrono): the codec's unit
//! tests and `tests/storable.rs` (by `#[path]`) share it.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

/// The `now` every generated message is decoded at.
pub fn now() -> DateTime<Utc> {
    "2026-11-27T05:00:00Z".parse().unwrap()
}

pub const FIX: &str = "sweepwatch/v1/humen/sw-001/fix";
pub const FIXES: &str = "sweepwatch/v1/humen/sw-001/fixes";
pub const STATUS: &str = "sweepwatch/v1/humen/sw-001/status";
pub const OWNTRACKS: &str = "owntracks/li/phone";

/// A JSON document as a tree, rendered to text by [`Json::render`]. Strings and
/// numbers are kept as written (escapes and all), so they can be invalid.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render_into(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(k);
                    out.push_str("\":");
                    v.render_into(out);
                }
                out.push('}');
            }
        }
    }
}

/// The body of a JSON string, as written between the quotes.
pub fn text() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just(r"\u0000".to_owned()),       // NUL: jsonb refuses it
        Just(r"a\u0000b".to_owned()),     // NUL inside
        Just(r"\\u0000".to_owned()),      // a backslash and "u0000": harmless
        Just(r"\\\u0000".to_owned()),     // a backslash, then NUL
        Just(r"\ud800".to_owned()),       // lone high surrogate
        Just(r"\udc00".to_owned()),       // lone low surrogate
        Just(r"\ud800\u0000".to_owned()), // high surrogate, then not a low one
        Just(r"\ud83d\ude00".to_owned()), // a valid pair (U+1F600)
        Just(r"\udbff\udfff".to_owned()), // U+10FFFF
        Just(r"\ufffe\uffff".to_owned()), // noncharacters
        Just(r"\u0001\u001f\u007f".to_owned()),
        Just("\u{1}".to_owned()), // raw control character: invalid JSON
        Just("\u{2028}\u{feff}\u{202e}".to_owned()),
        Just("online".to_owned()),
        Just(String::new()),
    ];
    prop_oneof![
        3 => special.clone(),
        2 => any::<String>().prop_map(|s| escape(&s)),
        1 => (special, any::<String>()).prop_map(|(a, b)| format!("{}{a}", escape(&b))),
    ]
}

/// `s` as the body of a JSON string (serde_json writes U+0000 as `\u0000`).
fn escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Numbers at and past every limit on the way: f64, i64, u64, float4, numeric.
pub fn number() -> impl Strategy<Value = String> {
    let edges = prop_oneof![
        Just("0"),
        Just("-0"),
        Just("-0.0"),
        Just("1e400"),
        Just("-1e400"),
        Just("1e-400"),
        Just("1e131072"),
        Just("18446744073709551615"),
        Just("18446744073709551616"),
        Just("-9223372036854775808"),
        Just("-9223372036854775809"),
        Just("9223372036854775807"),
        Just("9223372036854775808"),
        Just("123456789012345678901234567890123456789"),
        Just("1.7976931348623157e308"),
        Just("1.8e308"),
        Just("5e-324"),
        Just("3.4028235e38"),
        Just("3.5e38"),
        Just("1e-46"),
        Just("NaN"),
        Just("Infinity"),
        Just("22.8143"),
        Just("113.6721"),
    ]
    .prop_map(str::to_owned);
    prop_oneof![
        3 => edges,
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|x| format!("{x:?}")),
        1 => (-400i32..400).prop_map(|e| format!("1.5e{e}")),
    ]
}

/// A JSON document a few levels deep, of hostile strings and numbers.
pub fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Num),
        text().prop_map(Json::Str),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Arr),
            prop::collection::vec((text(), inner), 0..5).prop_map(Json::Obj),
        ]
    })
}

/// A document nested `depth` levels deep (arrays and objects mixed), around
/// a hostile leaf: across serde_json's limit of 128 levels.
pub fn deep() -> impl Strategy<Value = Json> {
    (prop::collection::vec(any::<bool>(), 100..180), json()).prop_map(|(levels, leaf)| {
        levels.into_iter().fold(leaf, |inner, array| {
            if array {
                Json::Arr(vec![inner])
            } else {
                Json::Obj(vec![("k".to_owned(), inner)])
            }
        })
    })
}

/// A retained status: `online` plus a hostile member (key and value).
pub fn status_payload() -> impl Strategy<Value = String> {
    (any::<bool>(), text(), prop_oneof![3 => json(), 1 => deep()]).prop_map(|(online, k, v)| {
        Json::Obj(vec![("online".to_owned(), Json::Bool(online)), (k, v)]).render()
    })
}

/// `ts` as epoch milliseconds or text: near `now`, and at every edge.
pub fn ts() -> impl Strategy<Value = Json> {
    let now_ms = now().timestamp_millis();
    prop_oneof![
        6 => (-86_400_000i64..400_000).prop_map(move |d| Json::Num((now_ms + d).to_string())),
        2 => (-86_400_000i64..400_000).prop_map(|d| Json::Str(
            (now() + TimeDelta::milliseconds(d)).to_rfc3339()
        )),
        1 => prop_oneof![
            Just("-210866803200000"), // the earliest timestamptz, 4714-11-24 BC
            Just("-210866803200001"), // a millisecond before it
            Just("-8210298412800000"), // chrono's earliest, year -262143
            Just("8210266876799999"), // chrono's latest
            Just("0"),
        ]
        .prop_map(|s| Json::Num(s.to_owned())),
        1 => number().prop_map(Json::Num),
        1 => text().prop_map(Json::Str),
        1 => prop_oneof![
            Just("0000-01-01T00:00:00Z"),
            Just("9999-12-31T23:59:59.999999999Z"),
            Just("2026-11-27T04:59:00+14:00"),
            Just("2026-11-27T04:59:00\u{0}Z"),
        ]
        .prop_map(|s| Json::Str(escape(s))),
    ]
}

/// A fix: the contract's fields, each mostly fine and sometimes hostile (so a
/// good share is accepted), plus an extra member.
pub fn fix_object() -> impl Strategy<Value = Json> {
    let num = || {
        prop_oneof![
            8 => (0.5f64..90.0).prop_map(|x| Json::Num(x.to_string())),
            1 => number().prop_map(Json::Num),
            1 => text().prop_map(Json::Str),
        ]
    };
    use prop::option::{of as opt, weighted};
    (
        ts(),
        (num(), num()),
        (opt(num()), opt(num()), opt(num()), opt(num())),
        opt(prop_oneof![
            4 => (0..i64::MAX).prop_map(|n| Json::Num(n.to_string())),
            1 => number().prop_map(Json::Num),
        ]),
        weighted(
            0.3,
            prop_oneof![4 => Just(Json::Str("sw-001".into())), 1 => text().prop_map(Json::Str)],
        ),
        weighted(0.3, (text(), json())),
    )
        .prop_map(
            |(ts, (lat, lon), (speed, heading, acc, batt), seq, device, extra)| {
                let mut pairs = vec![
                    ("ts".to_owned(), ts),
                    ("lat".to_owned(), lat),
                    ("lon".to_owned(), lon),
                ];
                for (k, v) in [
                    ("speed", speed),
                    ("heading", heading),
                    ("acc", acc),
                    ("batt", batt),
                    ("seq", seq),
                    ("device", device),
                ] {
                    if let Some(v) = v {
                        pairs.push((k.to_owned(), v));
                    }
                }
                pairs.extend(extra);
                Json::Obj(pairs)
            },
        )
}

/// An OwnTracks location (or not quite), with hostile values.
pub fn owntracks_payload() -> impl Strategy<Value = String> {
    let secs = now().timestamp();
    (
        prop_oneof![3 => Just("location".to_owned()), 1 => text()],
        (-90.0f64..90.0, -180.0f64..180.0),
        prop_oneof![
            3 => (-80_000i64..300).prop_map(move |d| (secs + d).to_string()),
            1 => number(),
        ],
        prop::option::of(number()),
        prop::option::of((text(), json())),
    )
        .prop_map(|(kind, (lat, lon), tst, vel, extra)| {
            let mut pairs = vec![
                ("_type".to_owned(), Json::Str(kind)),
                ("lat".to_owned(), Json::Num(lat.to_string())),
                ("lon".to_owned(), Json::Num(lon.to_string())),
                ("tst".to_owned(), Json::Num(tst)),
            ];
            pairs.extend(vel.map(|v| ("vel".to_owned(), Json::Num(v))));
            pairs.extend(extra);
            Json::Obj(pairs).render()
        })
}

/// A topic: the contract's, almost the contract's, or anything at all.
/// `nul` says whether it may hold U+0000.
pub fn topic(nul: bool) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop_oneof![Just(FIX), Just(FIXES), Just(STATUS), Just(OWNTRACKS)].prop_map(str::to_owned),
        1 => r"sweepwatch/v1/[a-z\x00é-]{0,4}/[A-Za-z0-9_.\x00\x{1F600}-]{0,4}/(fix|fixes|status|x)",
        1 => any::<String>(),
    ]
    .prop_map(move |t| if nul { t } else { t.replace('\0', "?") })
}

/// A message as the broker hands it over: a topic, and a payload made for it
/// (a hostile fix for `.../fix`, and so on) or random bytes.
pub fn message(nul_topics: bool) -> impl Strategy<Value = (String, Vec<u8>)> {
    topic(nul_topics).prop_flat_map(|t| {
        let made_for: BoxedStrategy<String> = match t.as_str() {
            FIX => fix_object().prop_map(|f| f.render()).boxed(),
            FIXES => prop::collection::vec(fix_object(), 0..6)
                .prop_map(|fs| Json::Arr(fs).render())
                .boxed(),
            STATUS => status_payload().boxed(),
            OWNTRACKS => owntracks_payload().boxed(),
            _ => json().prop_map(|j| j.render()).boxed(),
        };
        let payload = prop_oneof![
            6 => made_for.prop_map(String::into_bytes),
            1 => any::<String>().prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..256),
        ];
        (Just(t), payload)
    })
}
