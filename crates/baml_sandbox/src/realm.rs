//! Setting up a fresh realm: `console`, timers (`setTimeout`, `setInterval`), the `JSON.stringify` guard, guarded built-ins,
//! `globals`, host functions and the BAML prelude (`b`, `b.stream`, global function names).

use std::rc::Rc;

use rquickjs::function::{Opt, Rest};
use rquickjs::{object::Property, Ctx, Function, Object, Value as JsValue};

use crate::bridge::Bridge;
use crate::convert::{copy_in, too_deep_message, InError};
use crate::format::format_console;
use crate::host::ConsoleLevel;
use crate::options::SandboxOptions;
use crate::outbox::ConsoleLine;
use crate::throw::{throw, throw_interrupted, throw_stack_overflow, ErrorKind};
use crate::value::{push_path, Value};

/// Builds `b`, `b.stream` and the global function names (see the file's comment).
const BAML_PRELUDE: &str = include_str!("js/prelude.js");
/// The prelude's name in stack traces; its frames are not where an error happened.
pub(crate) const PRELUDE_FILE: &str = "<baml>";

pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    bridge: &Rc<Bridge>,
    options: &SandboxOptions,
) -> rquickjs::Result<()> {
    let global = ctx.globals();
    install_console(ctx, bridge)?;
    install_timers(ctx, bridge)?;
    crate::json_guard::install(ctx, bridge)?;
    crate::compile::install(ctx)?;

    // The BAML prelude takes the built-ins it uses now, before a global can shadow them (an
    // embedder may well name one `Object` or `globalThis`); it runs after the globals, which
    // decide which function names are free.
    let prelude: Option<Function> = if options.baml_functions.is_empty() {
        None
    } else {
        let mut eval = rquickjs::context::EvalOptions::default();
        eval.filename = Some(PRELUDE_FILE.into());
        Some(ctx.eval_with_options(BAML_PRELUDE, eval)?)
    };
    install_globals(ctx, &options.globals)?;
    if let Some(prelude) = prelude {
        let b = bridge.clone();
        let call = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| {
                if crate::stack::exhausted() {
                    return Err(throw_stack_overflow(&ctx));
                }
                if b.signals.should_interrupt() {
                    return Err(throw_interrupted(&ctx));
                }
                b.baml_call(&ctx, &args.0)
            },
        )?;
        let names = rquickjs::Array::new(ctx.clone())?;
        for (i, n) in options.baml_functions.iter().enumerate() {
            names.set(i, n.as_str())?;
        }
        prelude.call::<_, ()>((call, names))?;
    }
    for (index, name) in options.host_functions.iter().enumerate() {
        let b = bridge.clone();
        let fname = name.clone();
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| {
                if crate::stack::exhausted() {
                    return Err(throw_stack_overflow(&ctx));
                }
                if b.signals.should_interrupt() {
                    return Err(throw_interrupted(&ctx));
                }
                b.host_call(&ctx, index, &fname, &args.0)
            },
        )?
        .with_name(name.as_str())?;
        global.prop(name.as_str(), Property::from(f).writable().configurable())?;
    }
    Ok(())
}

fn install_console<'js>(ctx: &Ctx<'js>, bridge: &Rc<Bridge>) -> rquickjs::Result<()> {
    let console = Object::new(ctx.clone())?;
    for level in ConsoleLevel::ALL {
        let b = bridge.clone();
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| -> rquickjs::Result<()> {
                if !b.console {
                    return Ok(());
                }
                if crate::stack::exhausted() {
                    return Err(throw_stack_overflow(&ctx));
                }
                // A loop that only logs runs few bytecodes per line: check the deadline here.
                if b.signals.should_interrupt() {
                    return Err(throw_interrupted(&ctx));
                }
                let (text, interrupted) = format_console(&args.0);
                if let Some(stop) = interrupted {
                    return Err(ctx.throw(stop));
                }
                let ticket = b.reserve(&ctx, text.len(), "console output")?;
                b.host.console(level, ConsoleLine::new(text, ticket));
                Ok(())
            },
        )?
        .with_name(level.as_str())?;
        console.set(level.as_str(), f)?;
    }
    ctx.globals()
        .prop("console", Property::from(console).writable().configurable())
}

fn install_timers<'js>(ctx: &Ctx<'js>, bridge: &Rc<Bridge>) -> rquickjs::Result<()> {
    let global = ctx.globals();
    for (name, repeat) in [("setTimeout", false), ("setInterval", true)] {
        let b = bridge.clone();
        let set = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  callback: JsValue<'js>,
                  delay: Opt<JsValue<'js>>,
                  args: Rest<JsValue<'js>>| {
                b.set_timeout(&ctx, callback, delay.0, args.0, repeat)
            },
        )?
        .with_name(name)?;
        global.prop(name, Property::from(set).writable().configurable())?;
    }
    // One id space: either clears either kind, as in browsers.
    for name in ["clearTimeout", "clearInterval"] {
        let b = bridge.clone();
        let clear = Function::new(ctx.clone(), move |id: Opt<JsValue<'js>>| {
            b.clear_timeout(id.0);
        })?
        .with_name(name)?;
        global.prop(name, Property::from(clear).writable().configurable())?;
    }
    Ok(())
}

/// Copies `globals` in as properties of the global object.
fn install_globals(ctx: &Ctx<'_>, globals: &[(String, Value)]) -> rquickjs::Result<()> {
    let global = ctx.globals();
    for (key, value) in globals {
        // Depth was checked by `SandboxOptions::validate`; what is left is running out of memory.
        let value = match copy_in(ctx, value, 0) {
            Ok(v) => v,
            Err(InError::Js(e)) => return Err(e),
            Err(InError::TooDeep(path)) => {
                let message = too_deep_message(&push_path("globals", key), &path);
                return Err(throw(ctx, ErrorKind::Type, &message));
            }
        };
        global.prop(
            key.as_str(),
            Property::from(value).writable().enumerable().configurable(),
        )?;
    }
    Ok(())
}
