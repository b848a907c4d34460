//! The event-stream decoder: WHATWG framing rules, arbitrary chunk boundaries, the size bound.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking")]

use baml_llm::response::ResponseError;
use baml_llm::sse::{SseDecoder, SseEvent};

fn ev(event: Option<&str>, data: &str, id: Option<&str>) -> SseEvent {
    SseEvent {
        event: event.map(str::to_owned),
        data: data.to_owned(),
        id: id.map(str::to_owned),
    }
}

fn data(data: &str) -> SseEvent {
    ev(None, data, None)
}

fn decode_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(decoder.push(chunk).unwrap());
    }
    events.extend(decoder.finish().unwrap());
    events
}

fn decode(stream: &str) -> Vec<SseEvent> {
    decode_chunks(&[stream.as_bytes()])
}

/// A stream exercising every rule at once, with mixed line endings and multi-byte text.
const SAMPLE: &[u8] = b"\xEF\xBB\xBF: keep-alive comment\r\n\
event: message_start\r\n\
data: {\"type\":\"message_start\"}\r\n\
\r\n\
id: 7\n\
data:first line\n\
data:  second line keeps one space\n\
data\n\
\n\
:another comment\r\
event: delta\r\
data: caf\xC3\xA9 \xF0\x9F\x8E\x89 \xE2\x82\xAC\r\
\r\
event: no-data\n\
\n\
retry: 1000\n\
unknown: field\n\
data: [DONE]\n\
\n\
data: trailing event without blank line\n";

fn sample_events() -> Vec<SseEvent> {
    vec![
        ev(Some("message_start"), "{\"type\":\"message_start\"}", None),
        ev(
            None,
            "first line\n second line keeps one space\n",
            Some("7"),
        ),
        ev(Some("delta"), "café 🎉 €", Some("7")),
        ev(None, "[DONE]", Some("7")),
    ]
}

#[test]
fn decodes_the_sample_in_one_chunk() {
    assert_eq!(decode_chunks(&[SAMPLE]), sample_events());
}

#[test]
fn any_single_split_gives_the_same_events() {
    for split in 0..=SAMPLE.len() {
        let (a, b) = SAMPLE.split_at(split);
        assert_eq!(
            decode_chunks(&[a, b]),
            sample_events(),
            "split at byte {split}"
        );
    }
}

#[test]
fn any_two_splits_give_the_same_events() {
    for i in 0..=SAMPLE.len() {
        for j in i..=SAMPLE.len() {
            let chunks = [&SAMPLE[..i], &SAMPLE[i..j], &SAMPLE[j..]];
            assert_eq!(
                decode_chunks(&chunks),
                sample_events(),
                "splits at {i} and {j}"
            );
        }
    }
}

#[test]
fn byte_at_a_time_gives_the_same_events() {
    let chunks: Vec<&[u8]> = SAMPLE.chunks(1).collect();
    assert_eq!(decode_chunks(&chunks), sample_events());
}

#[test]
fn events_arrive_as_soon_as_their_blank_line_does() {
    let mut decoder = SseDecoder::new();
    assert_eq!(decoder.push(b"data: a\n").unwrap(), vec![]);
    assert_eq!(decoder.push(b"\n").unwrap(), vec![data("a")]);
    // A lone CR ends the line at once; it does not wait for a possible LF.
    assert_eq!(decoder.push(b"data: b\r\r").unwrap(), vec![data("b")]);
    // ... and an LF arriving next belongs to that CR, not a new blank line.
    assert_eq!(decoder.push(b"\ndata: c\r").unwrap(), vec![]);
    assert_eq!(decoder.push(b"\n").unwrap(), vec![]);
    assert_eq!(decoder.push(b"\r\n").unwrap(), vec![data("c")]);
}

#[test]
fn crlf_split_between_chunks_is_one_line_end() {
    assert_eq!(
        decode_chunks(&[b"data: x\r", b"\n", b"\r", b"\n"]),
        vec![data("x")]
    );
    // Two CRs are two line ends: a blank line.
    assert_eq!(decode_chunks(&[b"data: x\r", b"\r"]), vec![data("x")]);
}

#[test]
fn field_parsing_follows_the_spec() {
    assert_eq!(decode("data:no space\n\n"), vec![data("no space")]);
    assert_eq!(decode("data:  two spaces\n\n"), vec![data(" two spaces")]);
    assert_eq!(decode("data\n\n"), vec![data("")]);
    assert_eq!(decode("data:\ndata:\n\n"), vec![data("\n")]);
    assert_eq!(decode("data: a:b:c\n\n"), vec![data("a:b:c")]);
    assert_eq!(decode("DATA: upper case is another field\n\n"), vec![]);
    assert_eq!(
        decode("data : space before colon is another field\n\n"),
        vec![]
    );
}

#[test]
fn events_without_data_are_not_dispatched_and_their_type_does_not_leak() {
    assert_eq!(decode(": only a comment\n\n"), vec![]);
    assert_eq!(decode("\n\n\n"), vec![]);
    assert_eq!(decode("event: ping\n\ndata: x\n\n"), vec![data("x")]);
    assert_eq!(
        decode("event: a\ndata: 1\n\ndata: 2\n\n"),
        vec![ev(Some("a"), "1", None), data("2")]
    );
    assert_eq!(decode("event:\ndata: x\n\n"), vec![data("x")]);
}

#[test]
fn the_last_event_id_carries_over() {
    assert_eq!(
        decode("id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: bad\0id\ndata: d\n\n"),
        vec![
            ev(None, "a", Some("1")),
            ev(None, "b", Some("1")),
            ev(None, "c", Some("")),
            ev(None, "d", Some("")),
        ]
    );
}

#[test]
fn only_a_leading_byte_order_mark_is_skipped() {
    assert_eq!(
        decode_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]),
        vec![data("x")]
    );
    assert_eq!(
        decode_chunks(&[b"\xEF\xBB", b"\xBF\xEF\xBB\xBFdata: x\n\n"]),
        vec![]
    );
    assert_eq!(decode("data: \u{feff}x\n\n"), vec![data("\u{feff}x")]);
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    assert_eq!(
        decode_chunks(&[b"data: a\xFFb\xC3\n\n"]),
        vec![data("a\u{fffd}b\u{fffd}")]
    );
}

#[test]
fn multibyte_characters_split_at_every_position_survive() {
    let stream = "data: héllo wörld 🎉 日本語\n\n".as_bytes();
    for split in 0..=stream.len() {
        let (a, b) = stream.split_at(split);
        assert_eq!(
            decode_chunks(&[a, b]),
            vec![data("héllo wörld 🎉 日本語")],
            "split at {split}"
        );
    }
}

#[test]
fn an_unfinished_event_at_the_end_is_dropped() {
    assert_eq!(decode("data: a\n\ndata: b\n"), vec![data("a")]);
    assert_eq!(decode("data: a\n\ndata: b"), vec![data("a")]);
    let mut decoder = SseDecoder::new();
    assert_eq!(decoder.push(b"data: partial\n").unwrap(), vec![]);
    assert_eq!(decoder.finish().unwrap(), vec![]);
    // finish() resets the decoder: nothing of the dropped event leaks into a new stream.
    assert_eq!(decoder.push(b"data: new\n\n").unwrap(), vec![data("new")]);
}

#[test]
fn an_event_over_the_limit_is_an_error_not_unbounded_growth() {
    // Many data lines, each short.
    let mut decoder = SseDecoder::with_limit(64);
    let mut failed = None;
    for _ in 0..100 {
        match decoder.push(b"data: 0123456789\n") {
            Ok(events) => assert!(events.is_empty()),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    assert_eq!(failed, Some(ResponseError::EventTooLarge { limit: 64 }));
    // The decoder stays failed.
    assert!(matches!(
        decoder.push(b"\n"),
        Err(ResponseError::EventTooLarge { .. })
    ));
    assert!(decoder.finish().is_err());

    // One line that never ends.
    let mut decoder = SseDecoder::with_limit(1024);
    let chunk = [b'x'; 100];
    let pushes = (0..100)
        .take_while(|_| decoder.push(&chunk).is_ok())
        .count();
    assert_eq!(pushes, 10);

    // Events under the limit are fine however many there are.
    let mut decoder = SseDecoder::with_limit(64);
    for _ in 0..1000 {
        assert_eq!(
            decoder.push(b"data: 0123456789\n\n").unwrap(),
            vec![data("0123456789")]
        );
    }
    let message = ResponseError::EventTooLarge { limit: 64 }.to_string();
    assert!(message.contains("64 bytes"), "{message}");
}

#[test]
fn the_default_limit_is_16_mib() {
    let mut decoder = SseDecoder::new();
    let big = vec![b'a'; 8 << 20];
    decoder.push(b"data: ").unwrap();
    decoder.push(&big).unwrap();
    assert_eq!(decoder.push(b"\n\n").unwrap()[0].data.len(), 8 << 20);
    decoder.push(b"data: ").unwrap();
    decoder.push(&big).unwrap();
    assert!(decoder.push(&big).is_err());
}
