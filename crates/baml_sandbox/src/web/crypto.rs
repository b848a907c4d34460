//! `crypto.getRandomValues` and `crypto.randomUUID`, from the operating system's generator.

use std::fmt::Write;

use rquickjs::{qjs, Ctx, Value as JsValue};

use super::{buffer_bytes, native};

pub(super) const SOURCE: &str = include_str!("../js/web_crypto.js");

/// The most bytes one `getRandomValues` call fills, as in browsers.
const MAX_RANDOM_BYTES: usize = 65_536;

pub(super) fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Vec<JsValue<'js>>> {
    Ok(vec![native(ctx, "fill", fill)?, native(ctx, "uuid", uuid)?])
}

/// `fill(view)`: fills an integer typed array with random bytes. Returns 0 when done, 1 if
/// `view` is not a typed array, 2 if its elements are floats (or it is a `DataView`), 3 if it is over 65,536 bytes,
/// 4 if the generator failed (the caller throws the matching error).
fn fill<'js>(ctx: Ctx<'js>, view: JsValue<'js>) -> rquickjs::Result<i32> {
    // SAFETY: reads the class of a live value.
    let kind = unsafe { qjs::JS_GetTypedArrayType(view.as_raw()) };
    if kind < 0 {
        // SAFETY: as above.
        let data_view =
            unsafe { qjs::JS_GetClassID(view.as_raw()) } == super::clone::class_ids().data_view;
        return Ok(if data_view { 2 } else { 1 });
    }
    if kind >= qjs::JSTypedArrayEnum_JS_TYPED_ARRAY_FLOAT16.cast_signed() {
        return Ok(2);
    }
    // SAFETY: `view` is live; no JavaScript runs while the bytes are filled.
    let Some(bytes) = (unsafe { buffer_bytes(&ctx, &view)? }) else {
        return Ok(1);
    };
    if bytes.len() > MAX_RANDOM_BYTES {
        return Ok(3);
    }
    Ok(if getrandom::getrandom(bytes).is_ok() {
        0
    } else {
        4
    })
}

/// `uuid()`: a random (version 4) UUID, or null if the generator failed.
fn uuid(ctx: Ctx<'_>) -> rquickjs::Result<JsValue<'_>> {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        return Ok(JsValue::new_null(ctx));
    }
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    Ok(rquickjs::String::from_str(ctx, &s)?.into_value())
}
