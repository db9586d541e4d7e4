//! `jt808` against an independent implementation, the crates.io `jt808` crate 0.1.1
//! (`jt808_ref`): frames we encode are split, unescaped and parsed by it to the same
//! header and body, and frames it encodes decode here to the same values.
//!
//! Where it is wrong, the test goes around it and says so. Found while writing this:
//! - its splitter restores escapes wrongly (and can panic) once a frame holds three or more
//!   escape sequences: its offsets turn relative after the first two;
//! - it reads BCD times as binary numbers (and panics on most real times);
//! - it reads additional items one byte off (the length byte becomes the first value
//!   byte), so items are not compared;
//! - it writes a body length of `sub_len` for an empty body, no item lengths in 0x0704,
//!   and checks no check code.
//!
//! So frames with up to two escapes go through its splitter; frames with more are
//! unescaped here and handed to its header parser, which is still an independent reading.

use bytes::{Bytes, BytesMut};
use chrono::{Local, TimeZone};
use jt_util::bytes_bcd::BytesBCD;
use jt_util::bytes_gbk::BytesGBK;
use jt808::{
    AdditionalInfo, Authentication, BcdTime, GeneralResponse, Header, LocationReport, Message,
    Package, Phone, Registration, RegistrationResponse, RegistrationResult, ResponseResult,
    Splitter, TerminalIdentity, Version, decode_frame, encode,
};
use jt808_ref::codec::Jt808Codec;
use jt808_ref::models::jt0x0200::Jt0x0200;
use jt808_ref::models::{Jt0x0001, Jt0x0100, Jt0x0102, Jt0x8100, Jt808, Jt808BodyTrans};
use jt808_ref::{JtPackage, bytes::JtBytes};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Every frame the reference's splitter finds in `wire`.
fn ref_split(wire: &[u8]) -> Vec<Jt808> {
    let mut codec = Jt808Codec::new();
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        out.push(frame);
    }
    out
}

fn ref_one(wire: &[u8]) -> Jt808 {
    let mut frames = ref_split(wire);
    assert_eq!(frames.len(), 1, "reference split {wire:02X?}");
    frames.remove(0)
}

/// The reference's reading of one of our frames: through its splitter when it can restore
/// the escapes, else through its header parser on the frame unescaped here.
fn ref_parse(wire: &[u8]) -> Jt808 {
    let inner = jt808::escape::unescape(&wire[1..wire.len() - 1]).unwrap();
    let unescaped = [&[0x7E][..], &inner, &[0x7E]].concat();
    if wire.iter().filter(|b| **b == 0x7D).count() <= 2 {
        let theirs = ref_one(wire);
        assert_eq!(theirs.get_bytes().as_ref(), unescaped);
        theirs
    } else {
        Jt808::from(Bytes::from(unescaped))
    }
}

fn padded_phone(phone: &Phone, version: Version) -> String {
    let width = if version == Version::V2013 { 12 } else { 20 };
    format!("{:0>width$}", phone.as_str())
}

/// The reference's view of a header equals ours.
fn assert_same_header(theirs: &Jt808, ours: &Header, body: &[u8]) {
    assert_eq!(theirs.id, ours.msg_id);
    assert_eq!(theirs.v19, ours.version != Version::V2013);
    if let Version::V2019 { protocol } = ours.version {
        assert_eq!(theirs.ver, protocol);
    }
    assert_eq!(theirs.encrypt, ours.encryption);
    assert_eq!(
        BytesBCD::get_string(theirs.sim.get_bytes()),
        padded_phone(&ours.phone, ours.version)
    );
    assert_eq!(theirs.sn, ours.serial);
    assert_eq!(theirs.package_total, ours.package.map(|p| p.total));
    assert_eq!(theirs.package_index, ours.package.map(|p| p.index));
    assert_eq!(usize::from(theirs.body_length), body.len());
    assert_eq!(theirs.get_body().as_ref(), body);
}

fn ref_package(phone: &Phone, version: Version) -> JtPackage {
    let mut sim = BytesBCD::new();
    let digits = padded_phone(phone, version);
    sim.set_val(&digits, digits.len());
    let (v19, ver) = match version {
        Version::V2013 => (false, 0),
        Version::V2019 { protocol } => (true, protocol),
    };
    JtPackage::new(sim, v19, ver, 1023)
}

fn gbk(text: &str) -> BytesGBK {
    let mut g = BytesGBK::new();
    g.set_val(text);
    g
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V2013),
        any::<u8>().prop_map(|protocol| Version::V2019 { protocol })
    ]
}

fn phone() -> impl Strategy<Value = Phone> {
    prop::string::string_regex("[1-9][0-9]{0,11}")
        .unwrap()
        .prop_map(|s| Phone::new(&s).unwrap())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![2 => Just(0x7Eu8), 2 => Just(0x7D), 1 => Just(0x02), 6 => any::<u8>()];
    prop::collection::vec(byte, 1..300)
}

fn text(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![4 => prop::char::range('!', '~'), 1 => prop::sample::select(vec!['粤', '苏', '京', '环', '卫'])];
    prop::collection::vec(c, 0..=max).prop_map(|c| c.into_iter().collect())
}

proptest! {
    /// Any frame we encode, with flag bytes anywhere, in either edition, split or not:
    /// the reference finds it in the stream and reads the same header and body.
    #[test]
    fn our_frames_parse_the_same_in_the_reference(
        version in version(),
        phone in phone(),
        serial in any::<u16>(),
        msg_id in 0x0900u16..0x0A00,
        encryption in 0u8..8,
        package in prop::option::of((2u16..9, 1u16..9)),
        bodies in prop::collection::vec(body(), 1..4),
    ) {
        let mut header = Header::new(msg_id, version, phone, serial);
        header.encryption = encryption;
        header.package = package.map(|(total, index)| Package { total, index: index.min(total) });
        let mut stream = Vec::new();
        for body in &bodies {
            let frame = jt808::Frame { header: header.clone(), body: body.clone() };
            let wire = frame.encode().unwrap();
            // The reference's header parser, on the frame unescaped, flags kept.
            let inner = jt808::escape::unescape(&wire[1..wire.len() - 1]).unwrap();
            let unescaped = [&[0x7E][..], &inner, &[0x7E]].concat();
            assert_same_header(&Jt808::from(Bytes::from(unescaped)), &header, body);
            if wire.iter().filter(|b| **b == 0x7D).count() <= 2 {
                stream.extend_from_slice(&wire);
                let theirs = ref_parse(&wire);
                assert_same_header(&theirs, &header, body);
            }
        }
        // Several frames in one buffer split the same way.
        let theirs = ref_split(&stream);
        prop_assert_eq!(theirs.len(), stream.iter().filter(|b| **b == 0x7E).count() / 2);
    }

    /// Registrations and authentications: ours decoded by the reference, the reference's
    /// decoded by us (its 2013 encoder pads the manufacturer on the left, which we accept).
    #[test]
    fn registration_and_authentication_both_ways(
        version in version(),
        phone in phone(),
        serial in any::<u16>(),
        province in any::<u16>(),
        city in any::<u16>(),
        color in any::<u8>(),
        texts in (text(2), text(10), text(3), text(8), text(20), text(7), text(9)),
        imei in prop::string::string_regex("[0-9]{15}").unwrap(),
    ) {
        let (manufacturer, model, terminal_id, plate, code, _, software_version) = texts;
        let registration = Registration {
            province, city, manufacturer, model, terminal_id, plate_color: color, plate,
        };
        let header = Header::new(0x0100, version, phone.clone(), serial);
        let wire = encode(&header, &Message::Registration(registration.clone())).unwrap();
        let theirs = ref_parse(&wire);
        let frame = decode_frame(&wire).unwrap();
        assert_same_header(&theirs, &header, &frame.body);
        let r = Jt0x0100::fill_new(&mut JtBytes::from(theirs.get_body()), &theirs);
        prop_assert_eq!((r.province, r.city, r.color), (province, city, color));
        prop_assert_eq!(r.maker.get_val(), registration.manufacturer.clone());
        prop_assert_eq!(r.terminal_model.get_val(), registration.model.clone());
        prop_assert_eq!(r.terminal_id.get_val(), registration.terminal_id.clone());
        prop_assert_eq!(r.name.get_val(), registration.plate.clone());

        let mut theirs_out = Jt0x0100 {
            province, city, color,
            maker: gbk(&registration.manufacturer),
            terminal_model: gbk(&registration.model),
            terminal_id: gbk(&registration.terminal_id),
            name: gbk(&registration.plate),
        };
        let wire = ref_package(&phone, version).serialize(0x0100, 0, &mut theirs_out);
        let frame = decode_frame(&wire).unwrap();
        prop_assert_eq!(&frame.header.phone, &phone);
        prop_assert_eq!(Message::decode(&frame).unwrap(), Message::Registration(registration));

        let identity = (version != Version::V2013).then(|| TerminalIdentity {
            imei: imei.clone(), software_version: software_version.clone(),
        });
        let auth = Authentication { code: code.clone(), identity };
        let header = Header::new(0x0102, version, phone.clone(), serial);
        let wire = encode(&header, &Message::Authentication(auth.clone())).unwrap();
        let theirs = ref_parse(&wire);
        let a = Jt0x0102::fill_new(&mut JtBytes::from(theirs.get_body()), &theirs);
        prop_assert_eq!(a.authority_code.get_val(), code.clone());
        if version != Version::V2013 {
            prop_assert_eq!(a.imei.get_val(), imei.clone());
            prop_assert_eq!(a.soft_version.get_val(), software_version.clone());
        }
        if version == Version::V2013 && code.is_empty() {
            // An empty body, which the reference gives a length of 1023.
            return Ok(());
        }
        let mut theirs_out = Jt0x0102 {
            authority_code: gbk(&code), imei: gbk(&imei), soft_version: gbk(&software_version),
        };
        let wire = ref_package(&phone, version).serialize(0x0102, 0, &mut theirs_out);
        prop_assert_eq!(
            Message::decode(&decode_frame(&wire).unwrap()).unwrap(),
            Message::Authentication(auth)
        );
    }

    /// General responses and the registration response, both ways.
    #[test]
    fn responses_both_ways(
        version in version(),
        phone in phone(),
        answer in (any::<u16>(), any::<u16>(), 0u8..4),
        auth_code in text(20),
    ) {
        let (serial, msg_id, result) = answer;
        let results = [ResponseResult::Ok, ResponseResult::Failure, ResponseResult::BadMessage, ResponseResult::NotSupported];
        let response = GeneralResponse { serial, msg_id, result: results[usize::from(result)] };
        let header = Header::new(0x0001, version, phone.clone(), 1);
        let wire = encode(&header, &Message::TerminalResponse(response.clone())).unwrap();
        let theirs = ref_parse(&wire);
        let t = Jt0x0001::fill_new(&mut JtBytes::from(theirs.get_body()), &theirs);
        prop_assert_eq!((t.answer_sn, t.answer_id, t.result), (serial, msg_id, result));
        let mut theirs_out = Jt0x0001 { answer_sn: serial, answer_id: msg_id, result };
        let wire = ref_package(&phone, version).serialize(0x0001, 0, &mut theirs_out);
        prop_assert_eq!(
            Message::decode(&decode_frame(&wire).unwrap()).unwrap(),
            Message::TerminalResponse(response)
        );

        let registered = RegistrationResponse { serial, result: RegistrationResult::Success, auth_code: auth_code.clone() };
        let header = Header::new(0x8100, version, phone.clone(), 2);
        let wire = encode(&header, &Message::RegistrationResponse(registered.clone())).unwrap();
        let theirs = ref_parse(&wire);
        let t = Jt0x8100::fill_new(&mut JtBytes::from(theirs.get_body()), &theirs);
        prop_assert_eq!((t.answer_sn, t.result), (serial, 0));
        prop_assert_eq!(t.authority_code.get_val(), auth_code.clone());
        let mut theirs_out = Jt0x8100 { answer_sn: serial, result: 0, authority_code: gbk(&auth_code) };
        let wire = ref_package(&phone, version).serialize(0x8100, 0, &mut theirs_out);
        prop_assert_eq!(
            Message::decode(&decode_frame(&wire).unwrap()).unwrap(),
            Message::RegistrationResponse(registered)
        );
    }

    /// Location reports encoded by the reference (basic information and items) decode
    /// here to the same numbers and the same BCD time; ours decode there to the same
    /// basic information. Times are limited to those whose BCD bytes the reference's
    /// binary reading also accepts (months 1-9, days 1-19, hours 0-17, minutes and
    /// seconds 0-39).
    #[test]
    fn location_reports_both_ways(
        version in version(),
        phone in phone(),
        words in any::<[u32; 4]>(),
        halves in any::<[u16; 3]>(),
        time in (0u32..100, 1u32..10, 1u32..20, 0u32..18, 0u32..40, 0u32..40),
        items in prop::collection::btree_map(any::<u8>(), prop::collection::vec(any::<u8>(), 0..12), 0..5),
    ) {
        let (yy, mo, dd, hh, mi, ss) = time;
        let bcd = |v: u32| (((v / 10) << 4) | (v % 10)) as u8;
        let bcd_time = BcdTime([bcd(yy), bcd(mo), bcd(dd), bcd(hh), bcd(mi), bcd(ss)]);
        let report = LocationReport {
            alarm: words[0], status: words[1], lat: words[2], lon: words[3],
            altitude: halves[0], speed: halves[1], direction: halves[2],
            time: bcd_time,
            extras: items.iter().map(|(id, value)| AdditionalInfo { id: *id, value: value.clone() }).collect(),
        };

        // Ours, read by the reference. It reads each time byte as a binary number.
        let header = Header::new(0x0200, version, phone.clone(), 3);
        let wire = encode(&header, &Message::Location(report.clone())).unwrap();
        let theirs = ref_parse(&wire);
        let basic = theirs.get_body().slice(..28);
        let base = Jt0x0200::fill_new(&mut JtBytes::from(basic), &theirs).gps;
        prop_assert_eq!(
            (base.alarm_data, base.state, base.lat, base.lng),
            (report.alarm, report.status, report.lat, report.lon)
        );
        prop_assert_eq!(
            (base.altitude, base.speed, base.direction),
            (report.altitude, report.speed, report.direction)
        );

        // The reference's, read by us. Its basic information type is not exported, so its
        // report is parsed from a blank one, then its fields are set. Items are left out:
        // it cannot read them (see the top of this file).
        let Some(local) = Local
            .with_ymd_and_hms(2000 + yy as i32, mo, dd, hh, mi, ss)
            .single() else { return Ok(()); };
        let mut blank = vec![0u8; 28];
        blank[22..28].copy_from_slice(&[1; 6]);
        let mut theirs_out = Jt0x0200::fill_new(&mut JtBytes::from(Bytes::from(blank)), &theirs);
        let gps = &mut theirs_out.gps;
        (gps.alarm_data, gps.state, gps.lat, gps.lng) = (report.alarm, report.status, report.lat, report.lon);
        (gps.altitude, gps.speed, gps.direction) = (report.altitude, report.speed, report.direction);
        gps.time = local;
        let wire = ref_package(&phone, version).serialize(0x0200, 0, &mut theirs_out);
        let mut splitter = Splitter::new();
        splitter.push(&wire);
        let frame = splitter.next_frame().unwrap().unwrap();
        let Message::Location(decoded) = Message::decode(&frame).unwrap() else {
            panic!("not a location report");
        };
        prop_assert_eq!(decoded, LocationReport { extras: Vec::new(), ..report });
    }
}
