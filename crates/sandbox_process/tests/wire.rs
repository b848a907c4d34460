//! The worker protocol's encoding of the structured-clone kinds: round trips, and frames a
//! compromised worker could send.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use baml_sandbox::{ErrorValue, RegExp, TypedArrayKind, Value, MAX_DEPTH};
use sandbox_process::wire::{decode_from_worker, decode_to_worker, Encoder, FromWorker, ToWorker};

fn kinds() -> Value {
    let mut typed: Vec<Value> = TypedArrayKind::ALL
        .iter()
        .map(|k| Value::TypedArray {
            kind: *k,
            bytes: vec![7; k.element_size() * 2],
        })
        .collect();
    typed.push(Value::ArrayBuffer(vec![]));
    Value::Object(vec![
        (
            "m".into(),
            Value::Map(vec![
                (Value::String("k".into()), Value::Number(1.0)),
                (Value::Set(vec![Value::Null]), Value::Map(vec![])),
            ]),
        ),
        (
            "s".into(),
            Value::Set(vec![Value::Date(3.0), Value::Set(vec![])]),
        ),
        ("b".into(), Value::ArrayBuffer(vec![0, 1, 255])),
        ("t".into(), Value::Array(typed)),
        (
            "r".into(),
            Value::RegExp(Box::new(RegExp {
                source: "a\\/b".into(),
                flags: "dgimsuy".into(),
            })),
        ),
        (
            "e".into(),
            Value::Error(Box::new(ErrorValue {
                name: "TypeError".into(),
                message: "m".into(),
                stack: Some("at x".into()),
                cause: Some(Value::Error(Box::new(ErrorValue {
                    name: "E".into(),
                    message: String::new(),
                    stack: None,
                    cause: Some(Value::Map(vec![(Value::Undefined, Value::Undefined)])),
                }))),
            })),
        ),
        (
            "plain".into(),
            Value::Error(Box::new(ErrorValue {
                name: "Error".into(),
                message: "no cause".into(),
                stack: None,
                cause: None,
            })),
        ),
    ])
}

fn done(v: Value) -> FromWorker {
    FromWorker::Done {
        id: 1,
        result: Ok(v),
    }
}

/// The payload of the one frame `m` encodes to.
fn payload(m: &FromWorker) -> Vec<u8> {
    let mut e = Encoder::new();
    e.from_worker(m);
    e.bytes()[4..].to_vec()
}

#[test]
fn every_kind_round_trips_both_ways() {
    let m = done(kinds());
    assert_eq!(decode_from_worker(&payload(&m)).unwrap(), m);
    let m = FromWorker::HostCall {
        call: 2,
        index: 0,
        args: vec![kinds(), kinds()],
    };
    assert_eq!(decode_from_worker(&payload(&m)).unwrap(), m);
    let reply = ToWorker::Reply {
        call: 3,
        result: Ok(kinds()),
    };
    let mut e = Encoder::new();
    e.to_worker(&reply);
    assert_eq!(decode_to_worker(&e.bytes()[4..]).unwrap(), reply);
}

#[test]
fn nesting_through_maps_sets_and_causes_is_bounded() {
    let mut deep = Value::Null;
    for i in 0..MAX_DEPTH + 5 {
        deep = match i % 3 {
            0 => Value::Map(vec![(Value::Null, deep)]),
            1 => Value::Set(vec![deep]),
            _ => Value::Error(Box::new(ErrorValue {
                name: "Error".into(),
                message: String::new(),
                stack: None,
                cause: Some(deep),
            })),
        };
    }
    let bytes = payload(&done(deep));
    assert!(decode_from_worker(&bytes).is_err());
    let mut ok = Value::Null;
    for _ in 0..MAX_DEPTH - 1 {
        ok = Value::Map(vec![(Value::Null, ok)]);
    }
    let m = done(ok);
    assert_eq!(decode_from_worker(&payload(&m)).unwrap(), m);
}

#[test]
fn hostile_frames_are_refused_before_allocating() {
    // Done, id 1, Ok, then a value.
    let frame = |value: &[u8]| {
        let mut b = vec![1, 1, 0];
        b.extend_from_slice(value);
        b
    };
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    for tag in [9u8, 10, 11] {
        let mut v = vec![tag];
        v.extend_from_slice(&huge);
        assert!(decode_from_worker(&frame(&v)).is_err(), "tag {tag}");
    }
    // A map that claims more entries than two bytes each could hold.
    assert!(decode_from_worker(&frame(&[9, 2, 0, 0, 0])).is_err());
    // A typed array: unknown kind, bytes that are not whole elements, a length past the end.
    assert!(decode_from_worker(&frame(&[12, 13, 0])).is_err());
    assert!(decode_from_worker(&frame(&[12, 3, 3, 1, 2, 3])).is_err());
    let mut v = vec![12, 1];
    v.extend_from_slice(&huge);
    assert!(decode_from_worker(&frame(&v)).is_err());
    // An error that promises a cause and ends; a bad boolean for it.
    assert!(decode_from_worker(&frame(&[14, 0, 0, 0, 1])).is_err());
    assert!(decode_from_worker(&frame(&[14, 0, 0, 0, 2])).is_err());
    // A regular expression whose flags are not UTF-8.
    assert!(decode_from_worker(&frame(&[13, 0, 1, 0xff])).is_err());
    // Truncations of a valid frame are all refused, never a panic.
    let good = payload(&done(kinds()));
    for n in 0..good.len() {
        assert!(decode_from_worker(&good[..n]).is_err(), "cut at {n}");
    }
}
