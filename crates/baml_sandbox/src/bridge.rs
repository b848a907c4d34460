//! What the natives installed in the realm reach: host calls, BAML calls, their replies, and
//! the JS values Rust keeps for them.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rquickjs::{object::Property, Ctx, Exception, Function, Object, Persistent, Value as JsValue};

use crate::convert::{copy_in, copy_out, too_deep_message, CopyError, InError, ValueCount};
use crate::driver::{Driver, TimerKey};
use crate::host::{CallGuard, Host, HostError, Partial, Reply};
use crate::options::MAX_HOST_CALLS;
use crate::outbox::{weight, Outbox, Ticket};
use crate::sandbox::{EvalId, Event, Inner, Signals};
use crate::throw::{is_uncatchable, new_error, throw, throw_interrupted, ErrorKind};
use crate::value::{drop_flat, push_path, Value};

/// How many genuine host errors (see `HostError::origin`) a realm remembers. An older one
/// that escapes later is reported as an ordinary error.
const GENUINE_ERRORS: usize = 256;

/// How many calls in flight at once get an `Error` made at their call site (see `Pending`).
/// Each costs an object and a stack trace in the sandbox's heap; past this many (100,000 host
/// calls may be pending) a failed call's error has an empty stack instead.
const CALL_SITES: usize = 1024;

/// JS values Rust holds on to. Touched only inside turns (and creation and destruction), and
/// emptied before the runtime is freed: a value alive at `JS_FreeRuntime` aborts the process.
#[derive(Default)]
pub(crate) struct JsStore {
    /// The promise an evaluation awaits; `true` while it is the script's own promise, which
    /// resolves to `{ value }` (the completion value) rather than to the value.
    pub(crate) evals: HashMap<EvalId, (Persistent<JsValue<'static>>, bool)>,
    /// Resolve and reject functions of host and BAML calls in flight.
    pub(crate) calls: HashMap<u64, Pending>,
    /// BAML calls in flight: the guard that cancels each, and its partial-result callback.
    pub(crate) baml: HashMap<u64, (Option<CallGuard>, Option<Persistent<Function<'static>>>)>,
    pub(crate) timers: HashMap<u64, TimerEntry>,
    pub(crate) next_id: u64,
    pub(crate) json: Option<crate::json_guard::JsonGuard>,
    /// Error objects built from host errors with an origin, newest last.
    pub(crate) genuine: VecDeque<(Persistent<Object<'static>>, u64)>,
    /// Calls in `calls` that hold a call-site error.
    pub(crate) sites: usize,
}

impl JsStore {
    /// Forgets every call in flight and every timer, returning the timers' keys to cancel.
    /// BAML calls are cancelled (their HTTP requests dropped); a host function still runs in
    /// the host, and its result is ignored when it arrives.
    pub(crate) fn abandon(&mut self) -> Vec<TimerKey> {
        self.baml.clear();
        self.calls.clear();
        self.sites = 0;
        self.timers.drain().map(|(_, t)| t.key).collect()
    }

    /// Releases every JS value (the runtime is about to be freed).
    pub(crate) fn clear(&mut self) {
        self.evals.clear();
        self.calls.clear();
        self.sites = 0;
        self.baml.clear();
        self.timers.clear();
        self.json = None;
        self.genuine.clear();
    }
}

/// A host or BAML call in flight: how to settle its promise, and the `Error` it rejects with
/// if it fails, made when it was called so that its stack shows the sandboxed code that made
/// the call (an error made when the answer arrives would have no sandbox frame at all).
pub(crate) struct Pending {
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
    site: Option<Persistent<Object<'static>>>,
}

pub(crate) struct TimerEntry {
    pub(crate) callback: Persistent<Function<'static>>,
    pub(crate) args: Vec<Persistent<JsValue<'static>>>,
    pub(crate) key: TimerKey,
    /// An interval's period (`None` for a timeout).
    pub(crate) period: Option<Duration>,
    /// How often an interval fired.
    pub(crate) fired: u32,
}

pub(crate) struct Bridge {
    pub(crate) inner: Weak<Inner>,
    pub(crate) host: Arc<dyn Host>,
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) store: RefCell<JsStore>,
    pub(crate) console: bool,
    /// Bytes one copied value (a host-function or BAML argument) may take.
    pub(crate) copy_budget: usize,
    pub(crate) signals: Arc<Signals>,
    /// Bytes handed to the host and not consumed yet (arguments of calls in flight, console
    /// lines not yet delivered).
    pub(crate) outbox: Arc<Outbox>,
    /// BAML calls' arguments are rendered into prompts and request bodies by the embedder,
    /// about three copies: one call's arguments may take a third of the memory limit
    /// (`baml_budget`), and those of all calls in flight the memory limit (`baml_outbox`).
    pub(crate) baml_budget: usize,
    pub(crate) baml_outbox: Arc<Outbox>,
}

impl Bridge {
    /// Reserves outbox room for `bytes` handed to the host, or throws a `RangeError`.
    pub(crate) fn reserve(
        &self,
        ctx: &Ctx<'_>,
        bytes: usize,
        what: &str,
    ) -> rquickjs::Result<Ticket> {
        self.outbox.reserve(bytes).ok_or_else(|| {
            throw(
                ctx,
                ErrorKind::Range,
                &format!(
                    "{what}: more than {} bytes would be waiting for the host",
                    self.outbox.limit()
                ),
            )
        })
    }

    /// `call(index, args, onPartial?)` of the BAML prelude: starts BAML function `index`.
    pub(crate) fn baml_call<'js>(
        &self,
        ctx: &Ctx<'js>,
        args: &[JsValue<'js>],
    ) -> rquickjs::Result<JsValue<'js>> {
        let index = args.first().and_then(JsValue::as_number).unwrap_or(-1.0);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked to be a small non-negative integer"
        )]
        let index = if index >= 0.0 && index.fract() == 0.0 && index < 1e9 {
            index as usize
        } else {
            return Err(throw(ctx, ErrorKind::Type, "bad BAML call"));
        };
        let list: Vec<JsValue<'js>> = match args.get(1).and_then(|a| a.as_array()) {
            Some(a) => a.iter::<JsValue>().collect::<rquickjs::Result<_>>()?,
            None => Vec::new(),
        };
        let on_partial = args.get(2).and_then(|f| f.clone().into_function());
        let (copied, ticket) = self.copy_args(
            ctx,
            &list,
            "argument",
            "a BAML function",
            "BAML function arguments",
            self.baml_budget,
            &self.baml_outbox,
        )?;
        let (promise, id) = self.pending_call(ctx, "calls")?;
        self.store.borrow_mut().baml.insert(
            id,
            (
                None,
                on_partial
                    .as_ref()
                    .map(|f| Persistent::save(ctx, f.clone())),
            ),
        );
        let partial: Option<Partial> = on_partial.map(|_| {
            let weak = self.inner.clone();
            Box::new(move |value: Value| {
                if let Some(inner) = weak.upgrade() {
                    if !inner.signals.disposed.load(Ordering::Acquire) {
                        inner.push_partial(id, value);
                        return;
                    }
                }
                drop_flat(value);
            }) as Partial
        });
        let guard = self
            .host
            .baml_call(index, copied, partial, self.reply_for(id, ticket));
        if let Some(entry) = self.store.borrow_mut().baml.get_mut(&id) {
            entry.0 = guard;
        }
        Ok(promise)
    }

    pub(crate) fn host_call<'js>(
        &self,
        ctx: &Ctx<'js>,
        index: usize,
        name: &str,
        args: &[JsValue<'js>],
    ) -> rquickjs::Result<JsValue<'js>> {
        let (copied, ticket) = self.copy_args(
            ctx,
            args,
            &format!("{name} argument"),
            "the host",
            &format!("{name} arguments"),
            self.copy_budget,
            &self.outbox,
        )?;
        let (promise, id) = self.pending_call(ctx, "host calls")?;
        self.host.call(index, copied, self.reply_for(id, ticket));
        Ok(promise)
    }

    /// Copies a call's arguments out (`{label} {i}` names each in errors), each at most
    /// `budget` bytes, and reserves room for them in `outbox`; a value that cannot cross is a
    /// `TypeError` naming it and `target` (a `RangeError` when only its size is the problem).
    #[expect(
        clippy::too_many_arguments,
        reason = "host and BAML calls differ in each"
    )]
    fn copy_args(
        &self,
        ctx: &Ctx<'_>,
        args: &[JsValue<'_>],
        label: &str,
        target: &str,
        what: &str,
        budget: usize,
        outbox: &Arc<Outbox>,
    ) -> rquickjs::Result<(Vec<Value>, Ticket)> {
        let mut copied = Vec::with_capacity(args.len());
        let mut values = ValueCount::new("the arguments together");
        for (i, a) in args.iter().enumerate() {
            match copy_out(
                a,
                &format!("{label} {i}"),
                budget,
                &self.signals,
                &mut values,
            ) {
                Ok(v) => copied.push(v),
                Err(CopyError::Shape { path, reason }) => {
                    return Err(throw(
                        ctx,
                        ErrorKind::Type,
                        &format!("{path} cannot be passed to {target}: {reason}"),
                    ))
                }
                Err(CopyError::Size { path, reason }) => {
                    return Err(throw(
                        ctx,
                        ErrorKind::Range,
                        &format!("{path} cannot be passed to {target}: {reason}"),
                    ))
                }
                Err(CopyError::Thrown) => return Err(rquickjs::Error::Exception),
                Err(CopyError::Interrupted) => return Err(throw_interrupted(ctx)),
                Err(CopyError::Stack) => return Err(crate::throw::throw_stack_overflow(ctx)),
            }
        }
        let bytes = copied.iter().map(weight).sum();
        let ticket = outbox.reserve(bytes).ok_or_else(|| {
            throw(
                ctx,
                ErrorKind::Range,
                &format!(
                    "{what}: more than {} bytes would be waiting for the host",
                    outbox.limit()
                ),
            )
        })?;
        Ok((copied, ticket))
    }

    /// A new call in flight (host or BAML): its promise and id, or a `RangeError` past
    /// `MAX_HOST_CALLS` (`kind` names them in the message).
    fn pending_call<'js>(
        &self,
        ctx: &Ctx<'js>,
        kind: &str,
    ) -> rquickjs::Result<(JsValue<'js>, u64)> {
        if self.store.borrow().calls.len() >= MAX_HOST_CALLS {
            return Err(throw(
                ctx,
                ErrorKind::Range,
                &format!("more than {MAX_HOST_CALLS} {kind} in flight"),
            ));
        }
        // Made before the store is borrowed: building a stack trace may run sandboxed code
        // (`Error.prepareStackTrace`), which may make calls of its own.
        let site = if self.store.borrow().sites < CALL_SITES {
            call_site(ctx)?
        } else {
            None
        };
        let (promise, resolve, reject) = ctx.promise()?;
        let mut store = self.store.borrow_mut();
        store.next_id += 1;
        let id = store.next_id;
        store.sites += usize::from(site.is_some());
        store.calls.insert(
            id,
            Pending {
                resolve: Persistent::save(ctx, resolve),
                reject: Persistent::save(ctx, reject),
                site: site.map(|s| Persistent::save(ctx, s)),
            },
        );
        Ok((promise.into_value(), id))
    }

    /// The reply that hands call `id`'s result to the next turn and frees its arguments' room.
    fn reply_for(&self, id: u64, ticket: Ticket) -> Reply {
        let weak = self.inner.clone();
        Box::new(move |result| {
            drop(ticket);
            // An event from the start, so that a result nobody waits for any more is
            // dropped as flat as one that is applied.
            let event = Event::HostDone { id, result };
            if let Some(inner) = weak.upgrade() {
                if !inner.signals.disposed.load(Ordering::Acquire) {
                    inner.push(event);
                }
            }
        })
    }

    /// Settles call `id`'s promise with the host's answer. Returns false when the promise
    /// could not be settled at all, not even rejected (the heap is full, and stays full after
    /// a collection): whatever awaits it would wait for its deadline, so the caller fails the
    /// live evaluations for memory instead.
    pub(crate) fn finish_call(
        &self,
        ctx: &Ctx<'_>,
        id: u64,
        result: &Result<Value, HostError>,
    ) -> bool {
        let (entry, baml) = {
            let mut store = self.store.borrow_mut();
            let baml = store.baml.remove(&id).is_some();
            let entry = store.calls.remove(&id);
            if entry.as_ref().is_some_and(|p| p.site.is_some()) {
                store.sites = store.sites.saturating_sub(1);
            }
            (entry, baml)
        };
        let Some(Pending {
            resolve,
            reject,
            site,
        }) = entry
        else {
            return true;
        };
        let (Ok(resolve), Ok(reject)) = (resolve.restore(ctx), reject.restore(ctx)) else {
            return true;
        };
        let site = site.and_then(|s| s.restore(ctx).ok());
        let who = if baml {
            "BAML function"
        } else {
            "host function"
        };
        let copied = match result {
            Ok(v) => copy_in(ctx, v, 0).map_err(|e| (e, format!("{who} result"))),
            Err(e) => self
                .host_error(ctx, e, site)
                .map_err(|(e, field)| (e, push_path(&format!("{who} error"), &field))),
        };
        let outcome = match copied {
            Ok(v) if result.is_ok() => resolve.call::<_, ()>((v,)),
            Ok(e) => reject.call::<_, ()>((e,)),
            // The call rejects instead, as it does for an argument too deep to leave.
            Err((InError::TooDeep(path), root)) => {
                new_error(ctx, ErrorKind::Type, &too_deep_message(&root, &path))
                    .and_then(|e| reject.call::<_, ()>((e,)))
            }
            Err((InError::Js(e), _)) => Err(e),
        };
        if outcome.is_err() {
            let exc = ctx.catch();
            if is_uncatchable(&exc) {
                return true;
            }
            // Copying the result in ran out of memory: reject with that instead, after a
            // collection if even that fails.
            if reject.call::<_, ()>((exc.clone(),)).is_err() {
                drop(ctx.catch());
                // SAFETY: between jobs, on the thread holding the runtime.
                unsafe {
                    let rt = rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
                    rquickjs::qjs::JS_RunGC(rt);
                }
                if reject.call::<_, ()>((exc,)).is_err() {
                    drop(ctx.catch());
                    return false;
                }
            }
        }
        true
    }

    pub(crate) fn deliver_partial(&self, ctx: &Ctx<'_>, id: u64, value: &Value) {
        let callback = {
            let store = self.store.borrow();
            match store.baml.get(&id) {
                Some((_, Some(f))) => f.clone(),
                _ => return,
            }
        };
        let Ok(callback) = callback.restore(ctx) else {
            return;
        };
        let outcome = match copy_in(ctx, value, 0) {
            Ok(v) => callback.call::<_, ()>((v,)),
            // Nothing to reject: the stream goes on without this partial (a final result as
            // deep rejects the call).
            Err(InError::TooDeep(_)) => Ok(()),
            Err(InError::Js(e)) => Err(e),
        };
        if outcome.is_err() {
            let _ = ctx.catch();
        }
    }

    /// The `Error` a failed host call rejects with. Its fields are defined as own data
    /// properties (as `copy_in` defines keys), so a `__proto__` field stays a field and a setter
    /// sandboxed code put on `Error.prototype` never runs. A field that cannot be copied in is
    /// returned with its name; fields sit one level below the error, as they do when it is
    /// copied out. An error with an origin is remembered as genuine (see `HostError::origin`).
    fn host_error<'js>(
        &self,
        ctx: &Ctx<'js>,
        e: &HostError,
        site: Option<Object<'js>>,
    ) -> Result<JsValue<'js>, (InError, String)> {
        let js = |e: rquickjs::Error| (InError::Js(e), String::new());
        // The error made when the call was made (its stack is the caller's), else a new one.
        let err = if let Some(site) = site {
            // Its stack, kept by the engine since the call, as the own data property that
            // errors made by `new Error` have.
            let stack: JsValue = site.get("stack").map_err(js)?;
            site.prop("stack", Property::from(stack).writable().configurable())
                .map_err(js)?;
            site.prop(
                "message",
                Property::from(e.message.as_str()).writable().configurable(),
            )
            .map_err(js)?;
            site
        } else {
            let err = Exception::from_message(ctx.clone(), &e.message)
                .map_err(js)?
                .into_object();
            // Not enumerable, as on errors sandboxed code makes (and on the call-site ones).
            err.prop(
                "message",
                Property::from(e.message.as_str()).writable().configurable(),
            )
            .map_err(js)?;
            // Errors made by `new Error` have an own `stack`; this one was made outside any
            // sandbox frame, so its stack is empty (code reading `e.stack` still gets a string).
            err.prop("stack", Property::from("").writable().configurable())
                .map_err(js)?;
            err
        };
        if e.name != "Error" {
            err.prop(
                "name",
                Property::from(e.name.as_str())
                    .writable()
                    .enumerable()
                    .configurable(),
            )
            .map_err(js)?;
        }
        for (k, v) in &e.fields {
            let v = copy_in(ctx, v, 1).map_err(|e| (e, k.clone()))?;
            err.prop(
                k.as_str(),
                Property::from(v).writable().enumerable().configurable(),
            )
            .map_err(js)?;
        }
        if let Some(origin) = e.origin {
            let mut store = self.store.borrow_mut();
            if store.genuine.len() >= GENUINE_ERRORS {
                store.genuine.pop_front();
            }
            store
                .genuine
                .push_back((Persistent::save(ctx, err.clone()), origin));
        }
        Ok(err.into_value())
    }

    /// The origin of `value` if it is a genuine host error this realm built.
    pub(crate) fn origin_of<'js>(&self, ctx: &Ctx<'js>, value: &JsValue<'js>) -> Option<u64> {
        let obj = value.as_object()?;
        let store = self.store.borrow();
        store.genuine.iter().rev().find_map(|(p, origin)| {
            let known = p.clone().restore(ctx).ok()?;
            (known == *obj).then_some(*origin)
        })
    }
}

/// A fresh `Error` whose stack is where sandboxed code is now (the frames of the call being
/// made). `None` when it is not an object (sandboxed code's `Error.prepareStackTrace` cannot
/// change that, but be safe).
fn call_site<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Option<Object<'js>>> {
    // SAFETY: a plain constructor call on the context's own thread; the value is owned here.
    let raw = unsafe { rquickjs::qjs::JS_NewError(ctx.as_raw().as_ptr()) };
    let value = unsafe { JsValue::from_raw(ctx.clone(), raw) };
    if value.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(value.into_object())
}
