//! Property tests: every message round-trips through the wire in both editions, with flag
//! bytes anywhere; the splitter and the decoders never panic and never lose a valid frame.

use jt808::escape::{escape, unescape};
use jt808::message::is_known;
use jt808::{
    AdditionalInfo, Authentication, BatchKind, BcdTime, Frame, GeneralResponse, Header,
    LocationBatch, LocationReport, Message, Phone, Reassembler, Registration, RegistrationResponse,
    RegistrationResult, ResponseResult, Splitter, TerminalIdentity, Version, decode_frame, encode,
    encode_packages,
};
use proptest::prelude::*;

/// Bytes with the flag and the escape byte far more often than chance would give them.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![2 => Just(0x7E), 2 => Just(0x7D), 1 => Just(0x01), 1 => Just(0x02), 6 => any::<u8>()]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(byte(), 0..=max)
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V2013),
        any::<u8>().prop_map(|protocol| Version::V2019 { protocol })
    ]
}

fn phone(version: Version) -> impl Strategy<Value = Phone> {
    let digits = if version == Version::V2013 { 12 } else { 20 };
    prop::string::string_regex(&format!("[0-9]{{1,{digits}}}"))
        .unwrap()
        .prop_map(|s| Phone::new(&s).unwrap())
}

/// Text GBK can hold, at most `chars` characters (so at most `2 * chars` bytes).
fn text(chars: usize) -> impl Strategy<Value = String> {
    let alphabet = prop_oneof![
        4 => prop::char::range(' ', '~'),
        1 => prop::sample::select(vec!['粤', '苏', '京', '沪', '湘', '环', '卫', '洒', '扫', '·']),
    ];
    prop::collection::vec(alphabet, 0..=chars).prop_map(|c| c.into_iter().collect())
}

fn report() -> impl Strategy<Value = LocationReport> {
    let basic = (any::<[u32; 4]>(), any::<[u16; 3]>(), any::<[u8; 6]>());
    let extra = (any::<u8>(), bytes(24)).prop_map(|(id, value)| AdditionalInfo { id, value });
    (basic, prop::collection::vec(extra, 0..5)).prop_map(|((w, h, t), extras)| LocationReport {
        alarm: w[0],
        status: w[1],
        lat: w[2],
        lon: w[3],
        altitude: h[0],
        speed: h[1],
        direction: h[2],
        time: BcdTime(t),
        extras,
    })
}

fn batch(max: usize) -> impl Strategy<Value = LocationBatch> {
    (any::<bool>(), prop::collection::vec(report(), 0..=max)).prop_map(|(blind, reports)| {
        LocationBatch {
            kind: if blind {
                BatchKind::BlindArea
            } else {
                BatchKind::Normal
            },
            reports,
        }
    })
}

fn response(platform: bool) -> impl Strategy<Value = GeneralResponse> {
    let results: usize = if platform { 5 } else { 4 };
    (any::<u16>(), any::<u16>(), 0..results).prop_map(|(serial, msg_id, r)| GeneralResponse {
        serial,
        msg_id,
        result: [
            ResponseResult::Ok,
            ResponseResult::Failure,
            ResponseResult::BadMessage,
            ResponseResult::NotSupported,
            ResponseResult::AlarmAck,
        ][r],
    })
}

fn message(version: Version) -> impl Strategy<Value = Message> {
    let v2019 = version != Version::V2013;
    let (maker, model, id) = if v2019 { (5, 15, 15) } else { (2, 10, 3) };
    let registration = (
        any::<(u16, u16, u8)>(),
        text(maker),
        text(model),
        text(id),
        text(12),
    )
        .prop_map(
            |((province, city, plate_color), manufacturer, model, terminal_id, plate)| {
                Message::Registration(Registration {
                    province,
                    city,
                    manufacturer,
                    model,
                    terminal_id,
                    plate_color,
                    plate,
                })
            },
        );
    let identity = (prop::string::string_regex("[0-9]{0,15}").unwrap(), text(10)).prop_map(
        |(imei, software_version)| TerminalIdentity {
            imei,
            software_version,
        },
    );
    let authentication = (text(40), identity).prop_map(move |(code, identity)| {
        Message::Authentication(Authentication {
            code,
            identity: v2019.then_some(identity),
        })
    });
    let registration_response =
        (any::<u16>(), 0..5usize, text(20)).prop_map(|(serial, r, code)| {
            let result = [
                RegistrationResult::Success,
                RegistrationResult::VehicleRegistered,
                RegistrationResult::NoSuchVehicle,
                RegistrationResult::TerminalRegistered,
                RegistrationResult::NoSuchTerminal,
            ][r];
            let auth_code = if r == 0 { code } else { String::new() };
            Message::RegistrationResponse(RegistrationResponse {
                serial,
                result,
                auth_code,
            })
        });
    let unknown = (
        any::<u16>().prop_filter("unknown ids", |id| !is_known(*id)),
        bytes(300),
    )
        .prop_map(|(msg_id, body)| Message::Unknown { msg_id, body });
    prop_oneof![
        response(false).prop_map(Message::TerminalResponse),
        Just(Message::Heartbeat),
        Just(Message::Logout),
        registration,
        authentication,
        report().prop_map(Message::Location),
        batch(3).prop_map(Message::LocationBatch),
        response(true).prop_map(Message::PlatformResponse),
        registration_response,
        unknown,
    ]
}

/// A header and a message for it.
fn envelope() -> impl Strategy<Value = (Header, Message)> {
    version().prop_flat_map(|version| {
        (phone(version), any::<u16>(), message(version)).prop_map(
            move |(phone, serial, message)| {
                (
                    Header::new(message.msg_id(), version, phone, serial),
                    message,
                )
            },
        )
    })
}

/// Pushes `stream` in pieces of the given sizes and collects what comes out.
fn split(stream: &[u8], pieces: &[usize]) -> (Vec<Frame>, usize) {
    let mut splitter = Splitter::new();
    let (mut frames, mut bad) = (Vec::new(), 0);
    let mut rest = stream;
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        splitter.push(&rest[..n]);
        rest = &rest[n..];
        while let Some(item) = splitter.next_frame() {
            match item {
                Ok(frame) => frames.push(frame),
                Err(_) => bad += 1,
            }
        }
        assert!(splitter.buffered() <= jt808::MAX_FRAME_LEN + 2);
    }
    (frames, bad)
}

proptest! {
    #[test]
    fn escaping_round_trips_and_hides_every_flag(raw in bytes(200)) {
        let escaped = escape(&raw);
        prop_assert!(!escaped.contains(&0x7E));
        prop_assert_eq!(unescape(&escaped).unwrap(), raw);
    }

    #[test]
    fn every_message_round_trips_through_the_wire((header, message) in envelope()) {
        let wire = encode(&header, &message).unwrap();
        prop_assert_eq!(wire.iter().filter(|b| **b == 0x7E).count(), 2);
        let frame = decode_frame(&wire).unwrap();
        prop_assert_eq!(&frame.header, &header);
        prop_assert_eq!(Message::decode(&frame).unwrap(), message);
    }

    #[test]
    fn frames_with_garbage_between_them_split_back_in_order(
        envelopes in prop::collection::vec(envelope(), 1..6),
        garbage in prop::collection::vec(bytes(40), 6),
        pieces in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut stream = Vec::new();
        for ((header, message), junk) in envelopes.iter().zip(&garbage) {
            stream.extend_from_slice(junk);
            stream.extend_from_slice(&encode(header, message).unwrap());
        }
        let (frames, _) = split(&stream, &pieces);
        // Garbage can itself look like a frame only by chance (a matching check code and
        // length); what matters is that every real frame is there, in order.
        let mut expected = envelopes.iter().map(|(h, _)| h.clone()).peekable();
        for frame in &frames {
            if expected.peek() == Some(&frame.header) {
                expected.next();
            }
        }
        prop_assert!(expected.peek().is_none(), "lost a frame: {:?}", expected.peek());
    }

    #[test]
    fn a_valid_frame_after_any_garbage_is_never_lost(
        garbage in prop::collection::vec(any::<u8>(), 0..3000),
        (header, message) in envelope(),
        pieces in prop::collection::vec(1usize..512, 1..4),
    ) {
        let wire = encode(&header, &message).unwrap();
        let stream = [garbage, wire].concat();
        let (frames, _) = split(&stream, &pieces);
        let last = frames.last().expect("the valid frame came out");
        prop_assert_eq!(&last.header, &header);
        prop_assert_eq!(Message::decode(last).unwrap(), message);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_splitter_or_decoders(
        stream in prop::collection::vec(byte(), 0..4000),
        pieces in prop::collection::vec(1usize..300, 1..4),
    ) {
        let (frames, _) = split(&stream, &pieces);
        let mut reassembler = Reassembler::new(2, 4096);
        for frame in frames {
            let _ = Message::decode(&frame);
            if let Ok(Some(joined)) = reassembler.push(frame) {
                let _ = Message::decode(&joined);
            }
        }
        let _ = decode_frame(&stream);
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_never_yield_nul(
        msg_id in prop::sample::select(vec![0x0001u16, 0x0002, 0x0003, 0x0100, 0x0102, 0x0200, 0x0704, 0x8001, 0x8100, 0x0900]),
        version in version(),
        body in prop::collection::vec(prop_oneof![1 => Just(0u8), 3 => any::<u8>()], 0..400),
    ) {
        let Ok(message) = Message::decode_body(msg_id, version, &body) else {
            return Ok(());
        };
        let shown = format!("{message:?}");
        prop_assert!(!shown.contains("\\0"), "NUL in {}", shown);
        // What decodes re-encodes to something that decodes the same, unless it holds
        // text GBK cannot carry back (bytes that were not GBK became U+FFFD).
        if let Ok(again) = message.encode_body(version) {
            prop_assert_eq!(Message::decode_body(msg_id, version, &again).unwrap(), message);
        }
    }

    #[test]
    fn split_messages_reassemble_in_any_order(
        version in version(),
        serial in any::<u16>(),
        batch in batch(40),
        package_len in 1usize..200,
        order in any::<prop::sample::Index>(),
    ) {
        let message = Message::LocationBatch(batch);
        let header = Header::new(0x0704, version, Phone::new("13800138000").unwrap(), serial);
        let packages = encode_packages(&header, &message, package_len).unwrap();
        let mut frames: Vec<Frame> = packages.iter().map(|p| decode_frame(p).unwrap()).collect();
        prop_assert!(frames.iter().all(|f| f.body.len() <= package_len));
        let last = order.index(frames.len());
        let moved = frames.remove(last);
        frames.insert(0, moved);
        let mut reassembler = Reassembler::default();
        let mut joined = None;
        for frame in frames {
            if let Some(done) = reassembler.push(frame).unwrap() {
                prop_assert!(joined.is_none());
                joined = Some(done);
            }
        }
        let joined = joined.expect("all packages arrived");
        prop_assert_eq!(&joined.header, &header);
        prop_assert_eq!(Message::decode(&joined).unwrap(), message);
        prop_assert_eq!(reassembler.pending(), 0);
    }

    #[test]
    fn fixes_are_in_range_or_refused(report in report(), work_bit in 0u8..32) {
        let work = Some(jt808::WorkBit::Status { bit: work_bit });
        if let Ok(fix) = report.to_fix(work) {
            prop_assert!(fix.lat.abs() <= 90.0 && fix.lon.abs() <= 180.0);
            prop_assert!((0.0..360.0).contains(&fix.heading));
            prop_assert_eq!(BcdTime::from_utc(fix.ts), Some(report.time));
            prop_assert_eq!(fix.work, Some(report.status & (1 << work_bit) != 0));
        }
    }

    #[test]
    fn valid_bcd_times_round_trip(secs in 946_656_000i64..4_102_415_999) {
        // 2000-01-01 to 2099-12-31 in Beijing time.
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let bcd = BcdTime::from_utc(at).unwrap();
        prop_assert_eq!(bcd.to_utc().unwrap(), at);
    }
}
