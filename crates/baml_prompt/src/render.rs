//! The template environment: every function's prompt compiled once per runtime, rendered per
//! call with BAML's globals (`ctx`, `_`, enums) and filters (`format`, `regex_match`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use baml_ir::ir::Function;
use baml_ir::{Ir, Type};
use minijinja::value::{from_args, Kwargs, Object, ObjectRepr, Value};
use minijinja::{Environment, ErrorKind, State};
use serde_json::{Map, Value as Json};

use crate::args::ArgValue;
use crate::chat::{self, DelimiterGuard, RenderedPrompt, RoleRules};
use crate::output_format::{self, OutputFormatOptions};
use crate::values;

/// Why a prompt could not be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The template does not compile (`BAML_SYNTAX`).
    #[error("{file}:{line}: invalid prompt template of `{function}`: {message}")]
    Syntax {
        function: String,
        file: String,
        line: u32,
        message: String,
    },
    /// Rendering failed for these arguments (`BAML_INVALID_ARGUMENT`).
    #[error("{file}:{line}: rendering the prompt of `{function}` failed: {message}")]
    Render {
        function: String,
        file: String,
        line: u32,
        message: String,
    },
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
}

impl PromptError {
    pub fn code(&self) -> &'static str {
        match self {
            PromptError::Syntax { .. } => "BAML_SYNTAX",
            PromptError::Render { .. } | PromptError::UnknownFunction(_) => "BAML_INVALID_ARGUMENT",
        }
    }
}

/// The client a prompt is rendered for (`ctx.client` and the role rules).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub name: String,
    pub provider: String,
    pub default_role: String,
    pub allowed_roles: Vec<String>,
    pub remap_roles: Vec<(String, String)>,
    pub options: Map<String, Json>,
}

/// What the `ctx` global reads while one render runs on this thread.
struct Current {
    ir: Arc<Ir>,
    ret: Type,
    client: Value,
    formats: Arc<FormatCache>,
}

/// Rendered `ctx.output_format` texts by return type and options (they depend on nothing else).
type FormatCache = std::sync::Mutex<HashMap<String, String>>;

/// Entries kept before the cache starts over (a project has few return types and options).
const FORMAT_CACHE_MAX: usize = 4096;

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Compiled prompts of one project.
pub struct Prompts {
    env: Environment<'static>,
    ir: Arc<Ir>,
    /// Per function: lines the template's first line is below the prompt's first line.
    offsets: HashMap<String, Offset>,
    formats: Arc<FormatCache>,
}

#[derive(Debug, Clone)]
struct Offset {
    file: String,
    /// File line of the template's first line.
    first_line: u32,
    /// Lines of injected `template_string` macros before the prompt.
    macro_lines: u32,
}

impl std::fmt::Debug for Prompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompts")
            .field("functions", &self.offsets.len())
            .finish_non_exhaustive()
    }
}

/// BAML's dedent (common leading whitespace of non-blank lines) then trim; also returns how
/// many lines the trim removed at the start.
fn dedent_trim(text: &str) -> (String, u32) {
    let joined = baml_ir::dedent(text);
    let trimmed_start = joined.trim_start();
    let removed = joined[..joined.len() - trimmed_start.len()]
        .matches('\n')
        .count();
    (
        trimmed_start.trim_end().to_string(),
        u32::try_from(removed).unwrap_or(0),
    )
}

/// Template execution is bounded (a runaway loop in a prompt errors instead of hanging).
const FUEL: u64 = 50_000_000;

impl Prompts {
    /// Compiles every function's prompt; all template syntax errors at once.
    pub fn new(ir: Arc<Ir>) -> Result<Prompts, Vec<PromptError>> {
        let mut env = Environment::new();
        env.set_debug(true);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                out.write_str("null")?;
                Ok(())
            } else if value.kind() == minijinja::value::ValueKind::Bool {
                out.write_str(if value.is_true() { "true" } else { "false" })?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("format", format_filter);
        env.add_filter("regex_match", regex_match);
        env.add_global("ctx", Value::from_object(Ctx));
        let role = Value::from_function(role_fn);
        env.add_global(
            "_",
            minijinja::context! { role => role.clone(), chat => role },
        );
        for e in &ir.enums {
            env.add_global(
                e.name.clone(),
                Value::from_object(values::EnumType {
                    values: e
                        .values
                        .iter()
                        .map(|v| (v.name.clone(), v.alias.clone()))
                        .collect(),
                }),
            );
        }
        let mut macros = String::new();
        for t in &ir.templates {
            let params: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
            let _ = writeln!(
                macros,
                "{{% macro {}({}) %}}{}{{% endmacro %}}",
                t.name,
                params.join(", "),
                dedent_trim(&t.body).0
            );
        }
        let macro_lines = u32::try_from(macros.matches('\n').count()).unwrap_or(0);
        let mut errors = Vec::new();
        let mut offsets = HashMap::new();
        for f in &ir.functions {
            let (text, removed) = dedent_trim(&f.prompt);
            let offset = Offset {
                file: f.prompt_at.file.clone(),
                first_line: f.prompt_at.line + removed,
                macro_lines,
            };
            let source = format!("{macros}{text}");
            if let Err(e) = env.add_template_owned(f.name.clone(), source) {
                errors.push(PromptError::Syntax {
                    function: f.name.clone(),
                    file: offset.file.clone(),
                    line: offset.line_of(&e),
                    message: describe(&e),
                });
            }
            offsets.insert(f.name.clone(), offset);
        }
        if errors.is_empty() {
            Ok(Prompts {
                env,
                ir,
                offsets,
                formats: Arc::default(),
            })
        } else {
            Err(errors)
        }
    }

    /// Renders `function`'s prompt with coerced arguments for `client`.
    pub fn render(
        &self,
        function: &Function,
        args: &[(String, ArgValue)],
        client: &ClientInfo,
    ) -> Result<RenderedPrompt, PromptError> {
        let template = self
            .env
            .get_template(&function.name)
            .map_err(|_| PromptError::UnknownFunction(function.name.clone()))?;
        let offset = self.offsets.get(&function.name).cloned().unwrap_or(Offset {
            file: String::new(),
            first_line: 0,
            macro_lines: 0,
        });
        let ctx_args: Vec<(String, Value)> = args
            .iter()
            .map(|(k, v)| (k.clone(), values::to_value(&self.ir, v)))
            .collect();
        let client_value = Value::from_serialize(serde_json::json!({
            "name": client.name,
            "provider": client.provider,
            "default_role": client.default_role,
            "allowed_roles": client.allowed_roles,
            "remap_role": client.remap_roles.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect::<Map<String, Json>>(),
            "options": client.options,
        }));
        let (_guard, delim) = DelimiterGuard::install();
        CURRENT.with(|c| {
            *c.borrow_mut() = Some(Current {
                ir: Arc::clone(&self.ir),
                ret: function.ret.clone(),
                client: client_value,
                formats: Arc::clone(&self.formats),
            });
        });
        let result = template.render(Value::from_iter(ctx_args));
        CURRENT.with(|c| c.borrow_mut().take());
        let rendered = result.map_err(|e| PromptError::Render {
            function: function.name.clone(),
            file: offset.file.clone(),
            line: offset.line_of(&e),
            message: describe(&e),
        })?;
        let rules = RoleRules {
            default_role: &client.default_role,
            allowed_roles: &client.allowed_roles,
            remap_roles: &client.remap_roles,
        };
        Ok(chat::split(rendered, &delim, &rules))
    }
}

impl Offset {
    fn line_of(&self, e: &minijinja::Error) -> u32 {
        let line = u32::try_from(e.line().unwrap_or(1)).unwrap_or(1);
        if line <= self.macro_lines {
            // Inside a template_string: the message names it.
            return self.first_line;
        }
        self.first_line + (line - self.macro_lines - 1)
    }
}

/// An error's message with its causes, without minijinja's source excerpt.
fn describe(e: &minijinja::Error) -> String {
    let mut out = e
        .detail()
        .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `_.role("user", cache_control={...})` / `_.chat(role="user")`.
#[expect(
    clippy::needless_pass_by_value,
    reason = "minijinja hands arguments over by value"
)]
fn role_fn(role: Option<String>, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let named: Option<String> = kwargs.get("role")?;
    let role = match (role, named) {
        (Some(a), Some(b)) => {
            return Err(minijinja::Error::new(
                ErrorKind::TooManyArguments,
                format!("role() called with two roles: '{b}' and '{a}'"),
            ))
        }
        (Some(r), None) | (None, Some(r)) => r,
        (None, None) => {
            return Err(minijinja::Error::new(
                ErrorKind::MissingArgument,
                "role() called without role. Try role('role') or role(role='role').",
            ))
        }
    };
    let mut meta = Map::new();
    for key in kwargs.args() {
        if key == "role" {
            continue;
        }
        let v: Value = kwargs.get(key)?;
        meta.insert(key.to_string(), values::to_json(&v));
    }
    meta.insert("role".into(), Json::String(role));
    Ok(chat::role_marker(&meta))
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "minijinja hands arguments over by value"
)]
fn format_filter(value: Value, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let kind: Option<String> = kwargs.get("type")?;
    let kind = match kind {
        Some(k) => k,
        None => kwargs.get::<Option<String>>("format")?.ok_or_else(|| {
            minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "format filter requires 'type' keyword argument",
            )
        })?,
    };
    let json = values::to_json(&value);
    match kind.to_ascii_lowercase().as_str() {
        "json" => Ok(json.to_string()),
        "yaml" => Ok(crate::yaml::to_yaml(&json)),
        "toon" => Ok(crate::toon::to_toon(&json)),
        other => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("Unsupported format type '{other}'. Supported types: 'yaml', 'json', 'toon'"),
        )),
    }
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "minijinja hands arguments over by value"
)]
fn regex_match(value: String, pattern: String) -> Result<bool, minijinja::Error> {
    let re = regex::Regex::new(&pattern).map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid regex {pattern:?}: {e}"),
        )
    })?;
    Ok(re.is_match(&value))
}

/// The `ctx` global: `ctx.output_format`, `ctx.client`, `ctx.tags`.
#[derive(Debug)]
struct Ctx;

impl Object for Ctx {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["client", "tags", "output_format"])
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "output_format" => Some(Value::from_object(OutputFormat)),
            "client" => CURRENT.with(|c| c.borrow().as_ref().map(|c| c.client.clone())),
            "tags" => Some(Value::from_serialize(serde_json::json!({
                "baml.language": "typescript",
                "baml.runtime": concat!("baml-quickjs ", env!("CARGO_PKG_VERSION")),
            }))),
            _ => None,
        }
    }
}

/// `ctx.output_format`, printable as is or callable with options.
#[derive(Debug)]
struct OutputFormat;

impl OutputFormat {
    fn text(options: &OutputFormatOptions) -> Result<String, minijinja::Error> {
        CURRENT.with(|c| {
            let c = c.borrow();
            let Some(c) = c.as_ref() else {
                return Ok(String::new());
            };
            let key = format!("{}\u{0}{options:?}", c.ret);
            if let Some(hit) = c.formats.lock().ok().and_then(|m| m.get(&key).cloned()) {
                return Ok(hit);
            }
            let text =
                output_format::render(&c.ir, &c.ret, options).map_err(minijinja::Error::from)?;
            if let Ok(mut m) = c.formats.lock() {
                if m.len() >= FORMAT_CACHE_MAX {
                    m.clear();
                }
                m.insert(key, text.clone());
            }
            Ok(text)
        })
    }
}

impl Object for OutputFormat {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match OutputFormat::text(&OutputFormatOptions::default()) {
            Ok(t) => f.write_str(&t),
            Err(_) => Err(std::fmt::Error),
        }
    }
    fn call(
        self: &Arc<Self>,
        _state: &State<'_, '_>,
        args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        let (kwargs,): (Kwargs,) = from_args(args).map_err(|_| {
            minijinja::Error::new(
                ErrorKind::TooManyArguments,
                "output_format() may only be called with named arguments",
            )
        })?;
        let mut map = Map::new();
        for key in kwargs.args() {
            let v: Value = kwargs.get(key)?;
            map.insert(key.to_string(), values::to_json(&v));
        }
        let options = OutputFormatOptions::from_kwargs(&map).map_err(minijinja::Error::from)?;
        Ok(Value::from(OutputFormat::text(&options)?))
    }
}
