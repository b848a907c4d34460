//! The BAML runtime shared by every context: loads a project's `.baml` sources once (parsed
//! and validated into the IR) and keeps the environment for `env.NAME` references.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use baml_ir::ir::Param;
pub use baml_ir::{is_declarable, Diagnostic, Extras, Ir, Type, STANDARD_GLOBALS};

/// Why a project could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("{}", summarize(.0))]
    Syntax(Vec<Diagnostic>),
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
}

impl LoadError {
    /// The stable error code of SPEC.md.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Syntax(_) => "BAML_SYNTAX",
            LoadError::Io { .. } => "BAML_IO",
        }
    }
}

fn summarize(diags: &[Diagnostic]) -> String {
    let mut out = format!("{} error(s) in .baml sources", diags.len());
    for d in diags {
        let _ = write!(out, "\n  {}:{}:{}: {}", d.file, d.line, d.column, d.message);
    }
    out
}

mod builders;
mod call;
mod expr;
mod log;
mod media;
mod secrets;

pub use baml_llm::http::Exchange;
pub use baml_llm::request::HttpRequest;
pub use builders::overlay_from;
pub use call::{CallError, CallOptions, CallOutput, Usage, MAX_REQUESTS};
pub use log::{AttemptLog, CallLog};
pub use media::{needs_inline, MediaPolicy};
pub use secrets::{Secrets, REDACTED};

/// A loaded BAML project.
#[derive(Debug)]
pub struct Runtime {
    files: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    ir: Arc<Ir>,
    prompts: baml_prompt::Prompts,
    transport: Arc<baml_llm::http::Transport>,
    round_robin: call::RoundRobin,
    /// Runtimes of this project with a type builder's or client registry's additions, by
    /// those additions' source (most recently used last).
    overlays: std::sync::Mutex<Vec<(Overlay, Arc<Runtime>)>>,
}

/// What a `TypeBuilder` and a `ClientRegistry` add to a project, as BAML source (see
/// [`baml_ir::TYPE_BUILDER_FILE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Overlay {
    /// Classes, enums and `dynamic class` / `dynamic enum` blocks.
    pub types: String,
    /// `client<llm>` and `retry_policy` blocks; clients replace the project's of that name.
    pub clients: String,
}

impl Overlay {
    pub fn is_empty(&self) -> bool {
        self.types.trim().is_empty() && self.clients.trim().is_empty()
    }
}

/// How many overlaid runtimes a runtime keeps (each is a loaded copy of the project).
const OVERLAYS_KEPT: usize = 16;

impl Runtime {
    /// Loads sources given as `(relative path, text)`.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Runtime, LoadError> {
        let files: BTreeMap<String, String> = files.into_iter().collect();
        let list: Vec<(String, String)> =
            files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let ir = Arc::new(baml_ir::load(&list).map_err(LoadError::Syntax)?);
        let prompts = baml_prompt::Prompts::new(Arc::clone(&ir)).map_err(|errors| {
            LoadError::Syntax(
                errors
                    .into_iter()
                    .map(|e| match e {
                        baml_prompt::PromptError::Syntax {
                            file,
                            line,
                            message,
                            function,
                        } => Diagnostic {
                            file,
                            line,
                            column: 1,
                            message: format!("invalid prompt template of `{function}`: {message}"),
                        },
                        other => Diagnostic {
                            file: String::new(),
                            line: 0,
                            column: 0,
                            message: other.to_string(),
                        },
                    })
                    .collect(),
            )
        })?;
        let rt = Runtime {
            files,
            env: env.into_iter().collect(),
            ir,
            prompts,
            transport: Arc::default(),
            round_robin: call::RoundRobin::default(),
            overlays: std::sync::Mutex::default(),
        };
        let problems = rt.client_problems();
        if !problems.is_empty() {
            let diags = problems
                .into_iter()
                .map(|(span, message)| {
                    let (file, src) = list
                        .get(span.file as usize)
                        .map_or(("", ""), |(p, s)| (p.as_str(), s.as_str()));
                    let (line, column) = baml_parser::line_col(src, span.start);
                    Diagnostic {
                        file: file.to_string(),
                        line,
                        column,
                        message,
                    }
                })
                .collect();
            return Err(LoadError::Syntax(diags));
        }
        Ok(rt)
    }

    /// Loads every `*.baml` file under `dir`, recursively; paths are kept relative to `dir`.
    pub fn from_directory(
        dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Runtime, LoadError> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        Runtime::from_files(files, env)
    }

    /// This project with `overlay`'s types and clients (validated as the project is), sharing
    /// this runtime's environment and connection pools. The last few are kept, so the same
    /// type builder costs a load once. An empty overlay is this runtime.
    pub fn with_overlay(self: &Arc<Self>, overlay: &Overlay) -> Result<Arc<Runtime>, LoadError> {
        if overlay.is_empty() {
            return Ok(Arc::clone(self));
        }
        let mut kept = self
            .overlays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = kept.iter().position(|(o, _)| o == overlay) {
            let entry = kept.remove(i);
            let rt = Arc::clone(&entry.1);
            kept.push(entry);
            return Ok(rt);
        }
        drop(kept);
        let mut files: Vec<(String, String)> = self
            .files
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        files.push((baml_ir::TYPE_BUILDER_FILE.into(), overlay.types.clone()));
        files.push((
            baml_ir::CLIENT_REGISTRY_FILE.into(),
            overlay.clients.clone(),
        ));
        let mut rt = Runtime::from_files(files, self.env.clone())?;
        rt.transport = Arc::clone(&self.transport);
        let rt = Arc::new(rt);
        let mut kept = self
            .overlays
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= OVERLAYS_KEPT {
            kept.remove(0);
        }
        kept.push((overlay.clone(), Arc::clone(&rt)));
        Ok(rt)
    }

    /// The project's files, by relative path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The validated project.
    pub fn ir(&self) -> &Ir {
        &self.ir
    }

    /// TypeScript declarations of the `b` object sandboxed code sees.
    pub fn typescript_declarations(&self) -> String {
        baml_ir::typescript_declarations(&self.ir)
    }

    /// The same, with an embedder's host functions and globals (see [`baml_ir::Extras`]).
    pub fn typescript_declarations_with(&self, extras: baml_ir::Extras<'_>) -> String {
        baml_ir::typescript_declarations_with(&self.ir, extras)
    }

    /// The runtime-level environment for `env.NAME` references.
    /// Everything calls made with `call_env` (over the runtime's `env`) could leak: see
    /// [`Secrets`].
    pub fn secrets(&self, call_env: &BTreeMap<String, String>) -> Secrets {
        let mut s = Secrets::new();
        s.add_env(&self.env);
        s.add_env(call_env);
        for client in &self.ir.clients {
            s.add_options(&self.client_options(client, call_env));
        }
        s.finish()
    }

    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }
}

fn io_err(path: &Path, e: &std::io::Error) -> LoadError {
    LoadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), LoadError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, &e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = std::fs::metadata(&path).map_err(|e| io_err(&path, &e))?;
        if meta.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "baml") {
            let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, &e))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_and_comment_only_projects_load() {
        let rt = Runtime::from_files(
            [
                ("a.baml".into(), "// hello\n\n  \n".into()),
                ("b.baml".into(), "{// block\n comment //}\n".into()),
            ],
            [("K".into(), "v".into())],
        )
        .unwrap();
        assert_eq!(rt.files().count(), 2);
        assert_eq!(rt.env().get("K").map(String::as_str), Some("v"));
    }

    #[test]
    fn errors_carry_their_position() {
        let err = Runtime::from_files(
            [("x.baml".into(), "// c\n  class Foo { a Bar }".into())],
            [],
        )
        .unwrap_err();
        let LoadError::Syntax(d) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (d[0].file.as_str(), d[0].line, d[0].column),
            ("x.baml", 2, 17)
        );
        assert!(
            d[0].message.contains("`Bar` is not defined"),
            "{}",
            d[0].message
        );
        assert_eq!(err.code(), "BAML_SYNTAX");
    }

    #[test]
    fn directory_loading_is_recursive_and_baml_only() {
        let dir = std::env::temp_dir().join(format!("baml_rt_test_{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.baml"), "// a").unwrap();
        std::fs::write(dir.join("notes.txt"), "class X {}").unwrap();
        let rt = Runtime::from_directory(&dir, []).unwrap();
        assert_eq!(
            rt.files().map(|(p, _)| p.to_string()).collect::<Vec<_>>(),
            vec!["sub/a.baml"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            Runtime::from_directory(&dir, []),
            Err(LoadError::Io { .. })
        ));
    }
}
