//! Makes `JSON.stringify` interruptible.
//!
//! QuickJS serializes in C without polling its interrupt handler, so `JSON.stringify` of a
//! value sharing one subtree 2^40 times ran for hours past any timeout (running out of memory
//! does not stop the walk either). With a replacer function QuickJS calls back for every value,
//! and every call polls the handler. So the realm's `stringify` is a native wrapper that always
//! passes one: the caller's function, an identity function, or for an array replacer the filter
//! of `js/json_list_filter.js`. Output is unchanged; the cost is one call per value. Native, so
//! that a context does not pay for compiling a script at creation.

use std::rc::Rc;

use rquickjs::function::Opt;
use rquickjs::{object::Property, qjs, Ctx, Function, Object, Persistent, Value as JsValue};

use crate::bridge::Bridge;
use crate::throw::{throw, throw_stack_overflow, ErrorKind};

/// The property-list filter, compiled on first use of an array replacer. It shows each plain
/// object through a proxy listing exactly the listed keys in list order (values read with
/// `Get`, as the specification's `SerializeJSONProperty` does). Sandboxed code that replaced
/// the built-ins it uses by then only changes its own output: QuickJS still calls the replacer
/// for every value, which is what bounds the time.
const JSON_LIST_FILTER: &str = include_str!("js/json_list_filter.js");

/// What the realm's `JSON.stringify` wrapper calls.
pub(crate) struct JsonGuard {
    native: Persistent<Function<'static>>,
    identity: Persistent<Function<'static>>,
    /// `JSON_LIST_FILTER`, once an array replacer was used.
    list_filter: Option<Persistent<Function<'static>>>,
}

pub(crate) fn install<'js>(ctx: &Ctx<'js>, bridge: &Rc<Bridge>) -> rquickjs::Result<()> {
    let json: Object = ctx.globals().get("JSON")?;
    let native: Function = json.get("stringify")?;
    let identity = Function::new(ctx.clone(), |_key: JsValue<'js>, value: JsValue<'js>| value)?;
    let b = bridge.clone();
    let stringify = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              value: JsValue<'js>,
              replacer: Opt<JsValue<'js>>,
              space: Opt<JsValue<'js>>| { stringify(&b, &ctx, value, replacer.0, space.0) },
    )?
    .with_name("stringify")?;
    stringify.set_length(3)?;
    json.prop(
        "stringify",
        Property::from(stringify).writable().configurable(),
    )?;
    bridge.store.borrow_mut().json = Some(JsonGuard {
        native: Persistent::save(ctx, native),
        identity: Persistent::save(ctx, identity),
        list_filter: None,
    });
    Ok(())
}

/// The realm's `JSON.stringify`: QuickJS's, always given a replacer function.
fn stringify<'js>(
    bridge: &Bridge,
    ctx: &Ctx<'js>,
    value: JsValue<'js>,
    replacer: Option<JsValue<'js>>,
    space: Option<JsValue<'js>>,
) -> rquickjs::Result<JsValue<'js>> {
    if crate::stack::exhausted() {
        return Err(throw_stack_overflow(ctx));
    }
    // Taken out of the store before calling: replacers and getters run sandboxed code, which
    // may call back here or into the store.
    let (native, identity, filter) = {
        let store = bridge.store.borrow();
        let Some(g) = store.json.as_ref() else {
            return Err(throw(ctx, ErrorKind::Type, "JSON.stringify is unavailable"));
        };
        (g.native.clone(), g.identity.clone(), g.list_filter.clone())
    };
    let native = native.restore(ctx)?;
    let space = space.unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
    let replacer = match replacer {
        Some(r) if r.is_function() => r,
        // A proxy may stand for an array: the filter decides (`Array.isArray` sees through).
        // SAFETY: reads the class of a live value.
        Some(r) if r.is_array() || unsafe { qjs::JS_IsProxy(r.as_raw()) } => {
            let factory = if let Some(f) = filter {
                f.restore(ctx)?
            } else {
                let f: Function = ctx.eval(JSON_LIST_FILTER)?;
                if let Some(g) = bridge.store.borrow_mut().json.as_mut() {
                    g.list_filter = Some(Persistent::save(ctx, f.clone()));
                }
                f
            };
            factory.call::<_, JsValue>((r,))?
        }
        _ => identity.restore(ctx)?.into_value(),
    };
    native.call((value, replacer, space))
}
