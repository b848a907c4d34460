//! `structuredClone` (within the realm): the walk in `js/web_clone.js`, where it polls the
//! interrupt, counts against the memory limit and overflows the stack catchably like any other
//! code; Rust only tells what an object really is, by its QuickJS class (neither
//! `Symbol.toStringTag` nor a swapped prototype changes that).

use std::sync::OnceLock;

use rquickjs::{qjs, Context, Ctx, Runtime, Value as JsValue};

use super::native;

pub(super) const SOURCE: &str = include_str!("../js/web_clone.js");

/// QuickJS's class ids of the built-ins `structuredClone` and the buffer natives tell apart
/// (`u32::MAX` for any not found).
pub(crate) struct ClassIds {
    pub(crate) object: u32,
    pub(crate) array: u32,
    pub(crate) error: u32,
    pub(crate) number: u32,
    pub(crate) string: u32,
    pub(crate) boolean: u32,
    pub(crate) bigint: u32,
    pub(crate) date: u32,
    pub(crate) regexp: u32,
    pub(crate) map: u32,
    pub(crate) set: u32,
    pub(crate) array_buffer: u32,
    pub(crate) shared_array_buffer: u32,
    pub(crate) data_view: u32,
    pub(crate) arguments: u32,
    pub(crate) mapped_arguments: u32,
}

/// One sample of each class, in `ClassIds` field order.
const SAMPLES: &str = "[{}, [], new Error(), new Number(0), new String(''), new Boolean(false), \
    Object(0n), new Date(0), /a/, new Map(), new Set(), new ArrayBuffer(1), \
    new SharedArrayBuffer(1), new DataView(new ArrayBuffer(1)), \
    (function () { 'use strict'; return arguments })(), (function () { return arguments })()]";

/// The class ids, found once per process in a scratch realm (they are constants of the
/// bundled quickjs-ng, the same in every runtime).
pub(crate) fn class_ids() -> &'static ClassIds {
    static IDS: OnceLock<ClassIds> = OnceLock::new();
    IDS.get_or_init(|| {
        let found = discover().unwrap_or_default();
        let id = |i: usize| found.get(i).copied().unwrap_or(u32::MAX);
        ClassIds {
            object: id(0),
            array: id(1),
            error: id(2),
            number: id(3),
            string: id(4),
            boolean: id(5),
            bigint: id(6),
            date: id(7),
            regexp: id(8),
            map: id(9),
            set: id(10),
            array_buffer: id(11),
            shared_array_buffer: id(12),
            data_view: id(13),
            arguments: id(14),
            mapped_arguments: id(15),
        }
    })
}

fn discover() -> Option<Vec<u32>> {
    let rt = Runtime::new().ok()?;
    let ctx = Context::full(&rt).ok()?;
    ctx.with(|ctx| {
        let samples: Vec<JsValue> = ctx.eval(SAMPLES).ok()?;
        // SAFETY: reads the class of live values.
        Some(
            samples
                .iter()
                .map(|v| unsafe { qjs::JS_GetClassID(v.as_raw()) })
                .collect(),
        )
    })
}

pub(super) fn natives<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Vec<JsValue<'js>>> {
    Ok(vec![native(ctx, "classOf", class_of)?])
}

/// `classOf(v)`: 0 for a primitive, 1 plain object (or arguments), 2 array, 3 `Date`,
/// 4 `RegExp`, 5 `Map`, 6 `Set`, 7 `ArrayBuffer`, 9 `DataView`, 10 error, 11 `Boolean`,
/// 12 `Number`, 13 `String`, 14 `BigInt` object, 100 plus the typed array type for a typed
/// array, -1 for anything that cannot be cloned (functions, proxies, symbols, weak
/// collections, promises, shared buffers, ...).
fn class_of(v: JsValue<'_>) -> i32 {
    let raw = v.as_raw();
    // SAFETY: reads the tag and class of a live value.
    unsafe {
        if !qjs::JS_IsObject(raw) {
            return 0;
        }
        let typed = qjs::JS_GetTypedArrayType(raw);
        if typed >= 0 {
            return 100 + typed;
        }
        let class = qjs::JS_GetClassID(raw);
        let ids = class_ids();
        let table = [
            (ids.object, 1),
            (ids.arguments, 1),
            (ids.mapped_arguments, 1),
            (ids.array, 2),
            (ids.date, 3),
            (ids.regexp, 4),
            (ids.map, 5),
            (ids.set, 6),
            (ids.array_buffer, 7),
            (ids.data_view, 9),
            (ids.error, 10),
            (ids.boolean, 11),
            (ids.number, 12),
            (ids.string, 13),
            (ids.bigint, 14),
        ];
        table
            .iter()
            .find(|(id, _)| *id == class && *id != u32::MAX)
            .map_or(-1, |(_, code)| *code)
    }
}
