//! `TextEncoder` and `TextDecoder` (UTF-8, and UTF-16LE for decoding): the byte work in Rust,
//! the classes in `js/web_text.js`.

use rquickjs::{qjs, Ctx, Value as JsValue};

use super::{array, buffer_bytes, native, surrogate_at, Charge, Utf8};
use crate::throw::{throw, ErrorKind};

pub(super) const SOURCE: &str = include_str!("../js/web_text.js");

/// U+FFFD in UTF-8.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

pub(super) fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Vec<JsValue<'js>>> {
    Ok(vec![
        native(ctx, "encode", encode)?,
        native(ctx, "encodeInto", encode_into)?,
        native(ctx, "decode", decode)?,
        native(ctx, "bufferKind", buffer_kind)?,
    ])
}

/// A new `Uint8Array` holding a copy of `bytes`.
fn uint8_array<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> rquickjs::Result<JsValue<'js>> {
    // SAFETY: QuickJS copies `bytes` (into its own, counted, memory); the result is owned.
    let v = unsafe {
        JsValue::from_raw(
            ctx.clone(),
            qjs::JS_NewUint8ArrayCopy(ctx.as_raw().as_ptr(), bytes.as_ptr(), bytes.len() as _),
        )
    };
    if v.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(v)
}

/// `encode(s)`: the UTF-8 bytes of string `s`, lone surrogates as U+FFFD.
fn encode<'js>(ctx: Ctx<'js>, s: JsValue<'js>) -> rquickjs::Result<JsValue<'js>> {
    let s = Utf8::of(&ctx, &s)?;
    let bytes = s.bytes();
    if !bytes
        .iter()
        .enumerate()
        .any(|(i, _)| surrogate_at(bytes, i))
    {
        return uint8_array(&ctx, bytes);
    }
    let mut charge = Charge::new();
    charge.add(&ctx, bytes.len())?;
    uint8_array(&ctx, super::usv_string(bytes).as_bytes())
}

/// `encodeInto(s, dest)`: writes as many whole characters of `s` as fit into the `Uint8Array`
/// `dest`; returns `[read, written]` (UTF-16 units read, bytes written).
fn encode_into<'js>(
    ctx: Ctx<'js>,
    s: JsValue<'js>,
    dest: JsValue<'js>,
) -> rquickjs::Result<JsValue<'js>> {
    // SAFETY: reads the class of a live value.
    if unsafe { qjs::JS_GetTypedArrayType(dest.as_raw()) }
        != qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_UINT8.cast_signed()
    {
        return Err(throw(
            &ctx,
            ErrorKind::Type,
            "Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.",
        ));
    }
    let s = Utf8::of(&ctx, &s)?;
    let src = s.bytes();
    // SAFETY: `dest` is live; no JavaScript runs until the copy below is done.
    let Some(out) = (unsafe { buffer_bytes(&ctx, &dest)? }) else {
        return Err(throw(&ctx, ErrorKind::Type, "not a Uint8Array"));
    };
    let (mut i, mut read, mut written) = (0usize, 0u64, 0usize);
    while i < src.len() {
        let width = match src[i] {
            b if b < 0x80 => 1,
            b if b >= 0xF0 => 4,
            b if b >= 0xE0 => 3,
            _ => 2,
        };
        let width = width.min(src.len() - i);
        if written + width > out.len() {
            break;
        }
        if width == 3 && surrogate_at(src, i) {
            out[written..written + 3].copy_from_slice(REPLACEMENT);
        } else {
            out[written..written + width].copy_from_slice(&src[i..i + width]);
        }
        written += width;
        read += if width == 4 { 2 } else { 1 };
        i += width;
    }
    array(&ctx, [number(&ctx, read), number(&ctx, written as u64)])
}

/// A count as a JavaScript number (counts of a heap's bytes are far below 2^53).
fn number<'js>(ctx: &Ctx<'js>, n: u64) -> JsValue<'js> {
    #[expect(clippy::cast_precision_loss, reason = "below 2^53")]
    JsValue::new_number(ctx.clone(), n as f64)
}

/// `bufferKind(v)`: 1 for an `ArrayBuffer` or `SharedArrayBuffer`, 2 for a typed array, 3 for a
/// `DataView`, 0 for anything else.
fn buffer_kind(v: JsValue<'_>) -> i32 {
    let raw = v.as_raw();
    // SAFETY: reads the class of a live value.
    let class = unsafe { qjs::JS_GetClassID(raw) };
    let ids = super::clone::class_ids();
    if class == ids.array_buffer || class == ids.shared_array_buffer {
        1
    } else if unsafe { qjs::JS_GetTypedArrayType(raw) } >= 0 {
        2
    } else if class == ids.data_view {
        3
    } else {
        0
    }
}

/// `decode(input, utf16, fatal, stream, pending)`: `[text, pending]`, where `pending` (a string
/// of byte values, at most 3) holds the bytes of an unfinished character at the end of a
/// streamed chunk, put back in front of the next one. `input` is undefined (no bytes), a
/// buffer or a typed array (`DataView`s are made views by the caller).
fn decode<'js>(
    ctx: Ctx<'js>,
    input: JsValue<'js>,
    utf16: bool,
    fatal: bool,
    stream: bool,
    pending: JsValue<'js>,
) -> rquickjs::Result<JsValue<'js>> {
    let mut charge = Charge::new();
    let pending: Vec<u8> = {
        let p = Utf8::of(&ctx, &pending)?;
        super::usv_string(p.bytes())
            .chars()
            .take(4)
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(0))
            .collect()
    };
    let empty: &mut [u8] = &mut [];
    let bytes: &[u8] = if input.is_undefined() {
        empty
    } else {
        // SAFETY: `input` is live; no JavaScript runs until the text is built below.
        match unsafe { buffer_bytes(&ctx, &input)? } {
            Some(b) => b,
            None => {
                return Err(throw(
                    &ctx,
                    ErrorKind::Type,
                    "Failed to execute 'decode' on 'TextDecoder': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
                ))
            }
        }
    };
    let joined: Vec<u8>;
    let bytes = if pending.is_empty() {
        bytes
    } else {
        charge.add(&ctx, bytes.len() + pending.len())?;
        joined = [pending.as_slice(), bytes].concat();
        &joined
    };
    let (text, rest) = if utf16 {
        decode_utf16(&ctx, bytes, fatal, stream, &mut charge)?
    } else {
        decode_utf8(&ctx, bytes, fatal, stream, &mut charge)?
    };
    // Byte values as code points: a Latin-1 string.
    let rest: String = rest.iter().map(|b| char::from(*b)).collect();
    let text = string_from_utf8(&ctx, &text)?;
    array(
        &ctx,
        [
            text,
            rquickjs::String::from_str(ctx.clone(), &rest)?.into_value(),
        ],
    )
}

/// A JavaScript string from valid UTF-8.
fn string_from_utf8<'js>(ctx: &Ctx<'js>, text: &[u8]) -> rquickjs::Result<JsValue<'js>> {
    // SAFETY: QuickJS copies the bytes; the result is owned.
    let v = unsafe {
        JsValue::from_raw(
            ctx.clone(),
            qjs::JS_NewStringLen(ctx.as_raw().as_ptr(), text.as_ptr().cast(), text.len() as _),
        )
    };
    if v.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(v)
}

fn not_valid(ctx: &Ctx<'_>, encoding: &str) -> rquickjs::Error {
    throw(
        ctx,
        ErrorKind::Type,
        &format!("The encoded data was not valid for encoding {encoding}"),
    )
}

/// UTF-8 text of `bytes` (malformed sequences as U+FFFD, or an error if `fatal`) and, when
/// streaming, the unfinished character at the end.
fn decode_utf8<'b>(
    ctx: &Ctx<'_>,
    bytes: &'b [u8],
    fatal: bool,
    stream: bool,
    charge: &mut Charge,
) -> rquickjs::Result<(std::borrow::Cow<'b, [u8]>, &'b [u8])> {
    let mut end = bytes.len();
    if stream {
        // An unfinished but so far valid sequence at the end waits for the next chunk.
        for back in 1..=3.min(bytes.len()) {
            let start = bytes.len() - back;
            if bytes[start] & 0xC0 != 0x80 {
                if let Err(e) = std::str::from_utf8(&bytes[start..]) {
                    if e.error_len().is_none() && e.valid_up_to() == 0 {
                        end = start;
                    }
                }
                break;
            }
        }
    }
    let (body, rest) = bytes.split_at(end);
    match std::str::from_utf8(body) {
        Ok(_) => Ok((std::borrow::Cow::Borrowed(body), rest)),
        Err(_) if fatal => Err(not_valid(ctx, "utf-8")),
        Err(_) => {
            charge.add(ctx, body.len().saturating_mul(3))?;
            let text = String::from_utf8_lossy(body).into_owned().into_bytes();
            Ok((std::borrow::Cow::Owned(text), rest))
        }
    }
}

/// UTF-16LE text of `bytes` (lone surrogates and an odd last byte as U+FFFD, or an error if
/// `fatal`) and, when streaming, the unfinished unit or surrogate pair at the end.
fn decode_utf16<'b>(
    ctx: &Ctx<'_>,
    bytes: &'b [u8],
    fatal: bool,
    stream: bool,
    charge: &mut Charge,
) -> rquickjs::Result<(std::borrow::Cow<'b, [u8]>, &'b [u8])> {
    let mut end = bytes.len();
    if stream {
        end -= end % 2;
        // A high surrogate last waits for its low half.
        if end >= 2 && (0xD8..=0xDB).contains(&bytes[end - 1]) {
            end -= 2;
        }
    }
    let (body, rest) = bytes.split_at(end);
    charge.add(ctx, body.len().saturating_mul(2) + 3)?;
    let units = body
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]));
    let mut text = String::with_capacity(body.len());
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => text.push(c),
            Err(_) if fatal => return Err(not_valid(ctx, "utf-16le")),
            Err(_) => text.push('\u{FFFD}'),
        }
    }
    if body.len() % 2 == 1 {
        if fatal {
            return Err(not_valid(ctx, "utf-16le"));
        }
        text.push('\u{FFFD}');
    }
    Ok((std::borrow::Cow::Owned(text.into_bytes()), rest))
}
