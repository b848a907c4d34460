//! `AbortSignal` listeners: added for an operation in flight, removed once it settles.
//!
//! napi-rs's own `AbortSignal` conversion overwrites the signal's `onabort` (breaking the
//! embedder's own handler) and keeps every callback registered for the signal's lifetime (a
//! long-lived signal passed to every evaluation would grow without bound), so listeners are
//! added and removed with `addEventListener`/`removeEventListener` instead.

use napi::bindgen_prelude::*;

type EventMethod<'env> = Function<'env, FnArgs<(&'static str, Unknown<'env>)>, Unknown<'env>>;

/// A listener added to a signal, removed by `remove` (on Node's thread).
pub(crate) struct Listener {
    signal: ObjectRef<false>,
    listener: FunctionRef<Unknown<'static>, ()>,
}

/// Whether `signal.aborted` is true now.
pub(crate) fn aborted(signal: &Object<'_>) -> bool {
    signal
        .get_named_property::<Unknown>("aborted")
        .and_then(|a| a.coerce_to_bool())
        .unwrap_or(false)
}

/// `signal.addEventListener('abort', listener)`, where the listener runs `on_abort` once.
pub(crate) fn listen(
    env: &Env,
    signal: &Object<'_>,
    on_abort: impl Fn() + 'static,
) -> Result<Listener> {
    let listener = env.create_function_from_closure::<Unknown, (), _>("onabort", move |_| {
        on_abort();
        Ok(())
    })?;
    let add: EventMethod = signal.get_named_property("addEventListener")?;
    add.apply(signal, FnArgs::from(("abort", listener.to_unknown())))?;
    Ok(Listener {
        signal: signal.create_ref::<false>()?,
        listener: listener.create_ref()?,
    })
}

impl Listener {
    /// `signal.removeEventListener('abort', listener)`; errors (a signal whose method was
    /// replaced) are ignored.
    pub(crate) fn remove(self, env: &Env) {
        let removed = (|| -> Result<()> {
            let signal = self.signal.get_value(env)?;
            let listener = self.listener.borrow_back(env)?;
            let remove: EventMethod = signal.get_named_property("removeEventListener")?;
            remove.apply(signal, FnArgs::from(("abort", listener.to_unknown())))?;
            Ok(())
        })();
        drop(removed);
        let _ = self.signal.unref(env);
    }
}
