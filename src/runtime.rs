//! `BamlRuntime`: a loaded BAML project shared by every context.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{invalid_arg, load_error, throw, validation_error};

/// One BAML function as `functions()` lists it.
#[napi(object)]
pub struct BamlFunctionInfo {
    pub name: String,
    pub params: Vec<BamlParamInfo>,
    pub return_type: String,
}

/// One parameter: its name and its BAML type as written.
#[napi(object)]
pub struct BamlParamInfo {
    pub name: String,
    pub r#type: String,
}

/// Options of `parse()`.
#[napi(object)]
pub struct ParseOptions {
    /// Parse an unfinished stream: values not yet complete are left out or null.
    pub partial: Option<bool>,
}

/// A set of `.baml` sources, parsed and validated once and shared by every `BamlContext`.
/// Immutable and safe to share between contexts and calls.
#[napi]
pub struct BamlRuntime {
    pub(crate) inner: Arc<baml_runtime::Runtime>,
}

fn load(
    env: &Env,
    result: std::result::Result<baml_runtime::Runtime, baml_runtime::LoadError>,
) -> Result<BamlRuntime> {
    match result {
        Ok(rt) => Ok(BamlRuntime {
            inner: Arc::new(rt),
        }),
        Err(e) => Err(unsafe { throw(env.raw(), load_error(env.raw(), &e)) }),
    }
}

#[napi]
impl BamlRuntime {
    /// Loads `.baml` sources given as `{ "relative/path.baml": source }`. Throws an `Error` with
    /// `code: 'BAML_SYNTAX'` and every `diagnostics` entry (`file`, `line`, `column`, `message`).
    /// `env` supplies `env.NAME` references in client options.
    #[napi(factory, catch_unwind)]
    pub fn from_files(
        napi_env: Env,
        files: HashMap<String, String>,
        env: Option<HashMap<String, String>>,
    ) -> Result<BamlRuntime> {
        let mut files: Vec<(String, String)> = files.into_iter().collect();
        files.sort();
        load(
            &napi_env,
            baml_runtime::Runtime::from_files(files, env.unwrap_or_default()),
        )
    }

    /// Loads every `*.baml` file under `dir`, recursively.
    #[napi(factory, catch_unwind)]
    pub fn from_directory(
        napi_env: Env,
        dir: String,
        env: Option<HashMap<String, String>>,
    ) -> Result<BamlRuntime> {
        load(
            &napi_env,
            baml_runtime::Runtime::from_directory(Path::new(&dir), env.unwrap_or_default()),
        )
    }

    /// The BAML functions: name, parameters (name and BAML type text), return type text.
    #[napi(catch_unwind)]
    pub fn functions(&self) -> Vec<BamlFunctionInfo> {
        self.inner
            .ir()
            .functions
            .iter()
            .map(|f| BamlFunctionInfo {
                name: f.name.clone(),
                params: f
                    .params
                    .iter()
                    .map(|p| BamlParamInfo {
                        name: p.name.clone(),
                        r#type: p.ty.to_string(),
                    })
                    .collect(),
                return_type: f.ret.to_string(),
            })
            .collect()
    }

    /// Parses model output text as function `name`'s return type (BAML's `b.parse`; with
    /// `partial: true`, `b.parseStream` for an unfinished stream). Throws `BAML_VALIDATION` with
    /// `rawOutput` when the text cannot be read as that type.
    #[napi(catch_unwind, ts_return_type = "unknown")]
    pub fn parse(
        &self,
        env: Env,
        name: String,
        text: String,
        #[napi(ts_arg_type = "{ partial?: boolean }")] options: Option<ParseOptions>,
    ) -> Result<serde_json::Value> {
        let partial = options.and_then(|o| o.partial).unwrap_or(false);
        let Some(function) = self.inner.ir().function(&name) else {
            let known: Vec<&str> = self
                .inner
                .ir()
                .functions
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            let msg = format!(
                "unknown BAML function `{name}`; the project has: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            return Err(unsafe { throw(env.raw(), invalid_arg(env.raw(), &msg)) });
        };
        baml_sap::parse(self.inner.ir(), &function.ret, &text, partial)
            .map_err(|e| unsafe { throw(env.raw(), validation_error(env.raw(), &e, &text)) })
    }

    /// TypeScript declarations of the `b` object that sandboxed code sees.
    #[napi(catch_unwind)]
    pub fn typescript_declarations(&self) -> String {
        self.inner.typescript_declarations()
    }
}
