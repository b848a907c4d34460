//! Calling a BAML function: arguments checked, prompt rendered for the chosen client, the
//! request sent with the client's strategy (retries, fallback, round-robin), and the answer
//! parsed into the return type.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use baml_ir::ir::{Client, FunctionClient, RetryPolicy, RetryStrategy};
use baml_llm::client::{self as llm_client, ResolvedClient};
use baml_llm::http::{Exchange, LlmError};
use baml_llm::request::{build_request, HttpRequest};
use baml_parser::ast::{ConfigEntry, Value as AstValue};
use baml_prompt::{ClientInfo, PromptError};
use serde_json::{Map, Value as Json};

use crate::{AttemptLog, CallLog, Runtime};

/// Per-call settings.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Values for `env.NAME`, over the runtime's.
    pub env: BTreeMap<String, String>,
    /// Use this client instead of the function's.
    pub client: Option<String>,
    /// Downloading media URLs a provider wants inline.
    pub media: crate::media::MediaPolicy,
}

/// Token counts of one call (summed over attempts that reached the provider).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    pub value: Json,
    pub raw_output: String,
    pub client: String,
    pub usage: Usage,
    /// HTTP requests sent (attempts).
    pub attempts: u32,
}

/// Why a call failed; `code()` gives the stable code of SPEC.md.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{message}")]
    Http {
        message: String,
        status: Option<u16>,
        client: String,
        raw_response: Option<String>,
        timeout: bool,
        /// The provider's `Retry-After`, honoured before the next attempt.
        retry_after: Option<Duration>,
    },
    #[error("{message}")]
    FinishReason {
        message: String,
        client: String,
        finish_reason: String,
        raw_output: String,
    },
    #[error("{message}")]
    Validation {
        message: String,
        raw_output: String,
        prompt: String,
    },
    #[error("the call was aborted")]
    Aborted,
}

impl CallError {
    pub fn code(&self) -> &'static str {
        match self {
            CallError::InvalidArgument(_) => "BAML_INVALID_ARGUMENT",
            CallError::Http { .. } => "BAML_HTTP",
            CallError::FinishReason { .. } => "BAML_FINISH_REASON",
            CallError::Validation { .. } => "BAML_VALIDATION",
            CallError::Aborted => "BAML_ABORTED",
        }
    }

    /// BAML's error class name (what sandboxed code sees as `err.name`).
    pub fn class_name(&self) -> &'static str {
        match self {
            CallError::InvalidArgument(_) => "BamlInvalidArgumentError",
            CallError::Http { timeout: true, .. } => "BamlTimeoutError",
            CallError::Http { .. } => "BamlClientHttpError",
            CallError::FinishReason { .. } => "BamlClientFinishReasonError",
            CallError::Validation { .. } => "BamlValidationError",
            CallError::Aborted => "BamlAbortError",
        }
    }
}

impl From<PromptError> for CallError {
    fn from(e: PromptError) -> Self {
        CallError::InvalidArgument(e.to_string())
    }
}

impl From<LlmError> for CallError {
    fn from(e: LlmError) -> Self {
        let message = e.to_string();
        match e {
            LlmError::Status {
                client,
                status,
                raw_response,
                retry_after,
                ..
            } => CallError::Http {
                message,
                status: Some(status),
                client,
                raw_response: Some(raw_response),
                timeout: false,
                retry_after,
            },
            LlmError::InvalidResponse {
                client,
                status,
                raw_response,
                ..
            } => CallError::Http {
                message,
                status: Some(status),
                client,
                raw_response: Some(raw_response),
                timeout: false,
                retry_after: None,
            },
            LlmError::Network { client, .. } => CallError::Http {
                message,
                status: None,
                client,
                raw_response: None,
                timeout: false,
                retry_after: None,
            },
            LlmError::Timeout { client, .. } => CallError::Http {
                message,
                status: None,
                client,
                raw_response: None,
                timeout: true,
                retry_after: None,
            },
            LlmError::FinishReason {
                client,
                finish_reason,
                raw_output,
            } => CallError::FinishReason {
                message,
                client,
                finish_reason,
                raw_output,
            },
            LlmError::Config(m) => CallError::InvalidArgument(m),
            _ => CallError::Http {
                message,
                status: None,
                client: String::new(),
                raw_response: None,
                timeout: false,
                retry_after: None,
            },
        }
    }
}

/// Default API key variables, as BAML reads them when `api_key` is not given.
fn default_key_var(provider: &str) -> Option<&'static str> {
    Some(match provider {
        "openai" | "openai-responses" => "OPENAI_API_KEY",
        "azure-openai" => "AZURE_OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        "google-ai" => "GOOGLE_API_KEY",
        "openrouter" => "OPENROUTER_API_KEY",
        _ => return None,
    })
}

/// The strategy a client's provider names, legacy spellings included: `fallback` or
/// `round-robin`.
fn strategy_kind(provider: &str) -> Option<&'static str> {
    match provider {
        "fallback" | "baml-fallback" => Some("fallback"),
        "round-robin" | "baml-round-robin" => Some("round-robin"),
        _ => None,
    }
}

/// One node of a client tree, looked up by name (or a function's shorthand).
#[derive(Debug, Clone)]
enum Node<'a> {
    Named(&'a Client),
    Shorthand { provider: String, model: String },
}

impl Node<'_> {
    fn name(&self) -> String {
        match self {
            Node::Named(c) => c.name.clone(),
            Node::Shorthand { provider, model } => format!("{provider}/{model}"),
        }
    }
}

/// Round-robin positions, per client name.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin {
    positions: std::sync::Mutex<BTreeMap<String, std::sync::Arc<AtomicUsize>>>,
}

impl RoundRobin {
    fn next(&self, name: &str, start: Option<usize>, len: usize) -> usize {
        let counter = {
            let Ok(mut map) = self.positions.lock() else {
                return 0;
            };
            std::sync::Arc::clone(map.entry(name.to_string()).or_insert_with(|| {
                let start = start.unwrap_or_else(|| random_below(len));
                std::sync::Arc::new(AtomicUsize::new(start))
            }))
        };
        counter.fetch_add(1, Ordering::Relaxed) % len.max(1)
    }

    fn peek(&self, name: &str, start: Option<usize>, len: usize) -> usize {
        if let Ok(map) = self.positions.lock() {
            if let Some(c) = map.get(name) {
                return c.load(Ordering::Relaxed) % len.max(1);
            }
        }
        start.unwrap_or(0) % len.max(1)
    }
}

fn random_below(n: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(n);
    usize::try_from(h.finish() % (n.max(1) as u64)).unwrap_or(0)
}

fn strategy_of(c: &Client) -> Vec<String> {
    c.options
        .iter()
        .find(|e| e.key.name == "strategy")
        .and_then(|e| match &e.value {
            AstValue::Array(items, _) => Some(
                items
                    .iter()
                    .filter_map(|v| match v {
                        AstValue::String(t) => Some(t.value.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

fn start_of(c: &Client) -> Option<usize> {
    c.options
        .iter()
        .find(|e| e.key.name == "start")
        .and_then(|e| match &e.value {
            AstValue::Number(n, _) => n.parse().ok(),
            _ => None,
        })
}

impl Runtime {
    /// Client options BAML rejects when a project loads (missing `base_url`, a `default_role`
    /// outside `allowed_roles`, unknown `http` fields, ...): `(span of the client's first
    /// option, message)`.
    pub(crate) fn client_problems(&self) -> Vec<(baml_parser::Span, String)> {
        let empty = BTreeMap::new();
        let mut out = Vec::new();
        for c in &self.ir.clients {
            if strategy_kind(&c.provider).is_some()
                || llm_client::Provider::from_name(&c.provider).is_none()
            {
                continue;
            }
            if let Err(e) = self.resolve_primitive(&Node::Named(c), &empty) {
                let span = c.options.first().map(|e| e.span).unwrap_or_default();
                out.push((span, e.to_string()));
            }
        }
        out
    }

    fn env_layers<'a>(
        &'a self,
        call_env: &'a BTreeMap<String, String>,
    ) -> [&'a BTreeMap<String, String>; 2] {
        [call_env, &self.env]
    }

    /// A client's options as JSON, with `env.NAME` substituted (for `secrets`).
    pub(crate) fn client_options(
        &self,
        client: &baml_ir::ir::Client,
        call_env: &BTreeMap<String, String>,
    ) -> Map<String, Json> {
        self.options_json(&client.options, call_env)
    }

    /// Converts `options { }` entries to JSON, substituting `env.NAME`.
    fn options_json(
        &self,
        entries: &[ConfigEntry],
        env: &BTreeMap<String, String>,
    ) -> Map<String, Json> {
        entries
            .iter()
            .map(|e| (e.key.name.clone(), self.value_json(&e.value, env)))
            .collect()
    }

    fn value_json(&self, v: &AstValue, env: &BTreeMap<String, String>) -> Json {
        match v {
            AstValue::String(t) => Json::String(t.value.clone()),
            AstValue::Number(n, _) => n
                .parse::<i64>()
                .map(Json::from)
                .ok()
                .or_else(|| {
                    n.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Json::Number)
                })
                .unwrap_or_else(|| Json::String(n.clone())),
            AstValue::Bool(b, _) => Json::Bool(*b),
            AstValue::Null(_) => Json::Null,
            AstValue::Env(name, _) => match llm_client::lookup_env(name, &self.env_layers(env)) {
                Some(v) => Json::String(v.to_string()),
                // BAML sends an unset variable as `$NAME` rather than failing.
                None => Json::String(format!("${name}")),
            },
            AstValue::Array(items, _) => {
                Json::Array(items.iter().map(|x| self.value_json(x, env)).collect())
            }
            AstValue::Map(entries, _) => Json::Object(self.options_json(entries, env)),
            AstValue::Jinja(s, _) => Json::String(s.clone()),
        }
    }

    fn node(&self, name: &str) -> Result<Node<'_>, CallError> {
        if let Some(c) = self.ir.client(name) {
            return Ok(Node::Named(c));
        }
        if let Some((provider, model)) = name.split_once('/') {
            if baml_ir::PROVIDERS.contains(&provider) && !model.is_empty() {
                return Ok(Node::Shorthand {
                    provider: provider.to_string(),
                    model: model.to_string(),
                });
            }
        }
        Err(CallError::InvalidArgument(format!(
            "client `{name}` is not defined"
        )))
    }

    fn function_client_name(f: &baml_ir::ir::Function, opts: &CallOptions) -> String {
        if let Some(c) = &opts.client {
            return c.clone();
        }
        match &f.client {
            FunctionClient::Named(n) => n.clone(),
            FunctionClient::Shorthand { provider, model } => format!("{provider}/{model}"),
        }
    }

    /// The variable of an `env.X` base_url that neither env sets, if the client has one.
    fn unset_env_base_url(
        &self,
        node: &Node<'_>,
        env: &BTreeMap<String, String>,
    ) -> Option<String> {
        let Node::Named(c) = node else { return None };
        let entry = c.options.iter().find(|e| e.key.name == "base_url")?;
        match &entry.value {
            AstValue::Env(var, _)
                if llm_client::lookup_env(var, &self.env_layers(env)).is_none() =>
            {
                Some(var.clone())
            }
            _ => None,
        }
    }

    /// Resolves a primitive client for this call.
    fn resolve_primitive(
        &self,
        node: &Node<'_>,
        env: &BTreeMap<String, String>,
    ) -> Result<ResolvedClient, CallError> {
        let (name, provider, mut options) = match node {
            Node::Named(c) => (
                c.name.clone(),
                c.provider.clone(),
                self.options_json(&c.options, env),
            ),
            Node::Shorthand { provider, model } => {
                let mut o = Map::new();
                o.insert("model".into(), Json::String(model.clone()));
                (node.name(), provider.clone(), o)
            }
        };
        if !options.contains_key("api_key") {
            if let Some(var) = default_key_var(&provider) {
                if let Some(v) = llm_client::lookup_env(var, &self.env_layers(env)) {
                    options.insert("api_key".into(), Json::String(v.to_string()));
                } else {
                    options.insert("api_key".into(), Json::String(format!("${var}")));
                }
            }
        }
        // aws-bedrock and vertex-ai credentials and region from the environment.
        baml_llm::env_defaults(&provider, &mut options, |var| {
            llm_client::lookup_env(var, &self.env_layers(env)).map(str::to_string)
        });
        llm_client::resolve(&name, &provider, options)
            .map_err(|e| CallError::InvalidArgument(e.to_string()))
    }

    /// The primitive client the first attempt uses (fallback: its first; round-robin: the
    /// next in rotation without advancing it).
    fn first_primitive<'a>(&'a self, name: &str, depth: usize) -> Result<Node<'a>, CallError> {
        if depth > 16 {
            return Err(CallError::InvalidArgument(format!(
                "client `{name}` nests strategies too deeply"
            )));
        }
        let node = self.node(name)?;
        if let Node::Named(c) = &node {
            let items = strategy_of(c);
            match strategy_kind(&c.provider) {
                Some("fallback") => {
                    let first = items.first().ok_or_else(|| {
                        CallError::InvalidArgument(format!("client `{name}` has an empty strategy"))
                    })?;
                    return self.first_primitive(first, depth + 1);
                }
                Some("round-robin") => {
                    let i = self.round_robin.peek(&c.name, start_of(c), items.len());
                    let item = items.get(i).ok_or_else(|| {
                        CallError::InvalidArgument(format!("client `{name}` has an empty strategy"))
                    })?;
                    return self.first_primitive(item, depth + 1);
                }
                _ => {}
            }
        }
        Ok(node)
    }

    fn client_info(client: &ResolvedClient) -> ClientInfo {
        ClientInfo {
            name: client.name.clone(),
            provider: client.provider_name.clone(),
            default_role: client.default_role.clone(),
            allowed_roles: client.allowed_roles.clone(),
            remap_roles: client.remap_roles.clone(),
            options: client.properties.clone(),
        }
    }

    fn prepare(
        &self,
        function: &str,
        args: &Map<String, Json>,
    ) -> Result<(&baml_ir::ir::Function, Args), CallError> {
        let f = self.ir.function(function).ok_or_else(|| {
            CallError::InvalidArgument(format!("function `{function}` is not defined"))
        })?;
        let args = baml_prompt::coerce_args(&self.ir, function, &f.params, args)
            .map_err(|e| CallError::InvalidArgument(e.message))?;
        Ok((f, args))
    }

    fn render_for(
        &self,
        f: &baml_ir::ir::Function,
        args: &[(String, baml_prompt::ArgValue)],
        client: &ResolvedClient,
        stream: bool,
    ) -> Result<(HttpRequest, String), CallError> {
        let prompt = self.prompts.render(f, args, &Self::client_info(client))?;
        let messages = prompt.into_messages(&client.default_role);
        let shown = prompt_text(&messages);
        let req = build_request(client, &messages, stream)
            .map_err(|e| CallError::InvalidArgument(e.to_string()))?;
        Ok((req, shown))
    }

    /// The request the function's first attempt would send (BAML's `buildRequest`).
    pub fn render_request(
        &self,
        function: &str,
        args: &Map<String, Json>,
        opts: &CallOptions,
        stream: bool,
    ) -> Result<HttpRequest, CallError> {
        let (f, args) = self.prepare(function, args)?;
        let name = Self::function_client_name(f, opts);
        let node = self.first_primitive(&name, 0)?;
        let client = self.resolve_primitive(&node, &opts.env)?;
        if stream && client.provider == llm_client::Provider::AwsBedrock {
            // As BAML: converse-stream is framed binary, so there is no request to show.
            return Err(CallError::InvalidArgument(
                "AWS Bedrock modular streaming is not supported. Use non-streaming modular requests.".into(),
            ));
        }
        // No URL to show without the base URL (BAML fails to build this request too).
        if let Some(var) = self.unset_env_base_url(&node, &opts.env) {
            return Err(CallError::InvalidArgument(format!(
                "client `{}`: option base_url is env.{var}, and {var} is not set (give it in the runtime's or the call's env)",
                client.name
            )));
        }
        Ok(self.render_for(f, &args, &client, stream)?.0)
    }

    /// [`render_request`](Self::render_request), with media URLs the provider wants inline
    /// downloaded first (as BAML's `buildRequest` does).
    pub async fn render_request_async(
        &self,
        function: &str,
        args: &Map<String, Json>,
        opts: &CallOptions,
        stream: bool,
    ) -> Result<HttpRequest, CallError> {
        let (f, args) = self.prepare(function, args)?;
        let name = Self::function_client_name(f, opts);
        let node = self.first_primitive(&name, 0)?;
        let client = self.resolve_primitive(&node, &opts.env)?;
        if let Some(var) = self.unset_env_base_url(&node, &opts.env) {
            return Err(CallError::InvalidArgument(format!(
                "client `{}`: option base_url is env.{var}, and {var} is not set (give it in the runtime's or the call's env)",
                client.name
            )));
        }
        if stream && client.provider == llm_client::Provider::AwsBedrock {
            // As BAML: converse-stream is framed binary, so there is no request to show.
            return Err(CallError::InvalidArgument(
                "AWS Bedrock modular streaming is not supported. Use non-streaming modular requests.".into(),
            ));
        }
        let args = if crate::media::any_to_inline(&client.provider_name, &args) {
            crate::media::inline(&self.transport, &client.provider_name, &args, &opts.media).await?
        } else {
            args
        };
        Ok(self.render_for(f, &args, &client, stream)?.0)
    }

    /// Calls `function`. With `on_partial`, the call streams and `on_partial` receives each
    /// new partial value (BAML streaming semantics).
    pub async fn call(
        &self,
        function: &str,
        args: &Map<String, Json>,
        opts: &CallOptions,
        on_partial: Option<&mut (dyn FnMut(Json) + Send)>,
    ) -> Result<CallOutput, CallError> {
        self.call_logged(function, args, opts, on_partial, false)
            .await
            .result
    }

    /// [`call`](Self::call), with the tokens every attempt used (failed ones too) and, with
    /// `record`, each attempt's request, response, timing and outcome (see [`CallLog`]).
    pub async fn call_logged(
        &self,
        function: &str,
        args: &Map<String, Json>,
        opts: &CallOptions,
        mut on_partial: Option<&mut (dyn FnMut(Json) + Send)>,
        record: bool,
    ) -> CallLog {
        if self.ir.function(function).is_none() {
            if let Some(f) = self
                .ir
                .expr_functions
                .iter()
                .find(|f| f.name == function && f.class.is_none())
            {
                let mut interp = crate::expr::Interp::new(self, opts);
                let result = interp.call(f, args).await.map(|value| CallOutput {
                    value,
                    raw_output: String::new(),
                    client: String::new(),
                    usage: interp.usage,
                    attempts: 0,
                });
                return CallLog {
                    result,
                    usage: interp.usage,
                    attempts: Vec::new(),
                };
            }
        }
        let mut state = CallState {
            usage: Usage::default(),
            attempts: 0,
            log: record.then(Vec::new),
        };
        let result = match self.prepare(function, args) {
            Ok((f, args)) => {
                let name = Self::function_client_name(f, opts);
                self.run_client(&name, f, &args, opts, &mut state, &mut on_partial, 0)
                    .await
                    .map(|out| CallOutput {
                        value: out.0,
                        raw_output: out.1,
                        client: out.2,
                        usage: state.usage,
                        attempts: state.attempts,
                    })
            }
            Err(e) => Err(e),
        };
        let mut log = CallLog {
            result,
            usage: state.usage,
            attempts: state.log.unwrap_or_default(),
        };
        log.select();
        log
    }

    #[allow(clippy::too_many_arguments)]
    fn run_client<'a>(
        &'a self,
        name: &'a str,
        f: &'a baml_ir::ir::Function,
        args: &'a [(String, baml_prompt::ArgValue)],
        opts: &'a CallOptions,
        state: &'a mut CallState,
        on_partial: &'a mut Option<&mut (dyn FnMut(Json) + Send)>,
        depth: usize,
    ) -> BoxedAttempt<'a> {
        Box::pin(async move {
            if depth > 16 {
                return Err(CallError::InvalidArgument(format!(
                    "client `{name}` nests strategies too deeply"
                )));
            }
            let node = self.node(name)?;
            let policy: Option<&RetryPolicy> = match &node {
                Node::Named(c) => c
                    .retry_policy
                    .as_ref()
                    .and_then(|p| self.ir.retry_policies.iter().find(|r| &r.name == p)),
                Node::Shorthand { .. } => None,
            };
            let attempts = 1 + policy.map_or(0, |p| p.max_retries);
            let mut attempt = 0u32;
            loop {
                let result = match &node {
                    Node::Named(c) if strategy_kind(&c.provider) == Some("fallback") => {
                        let items = strategy_of(c);
                        let mut last = None;
                        for item in &items {
                            match self
                                .run_client(item, f, args, opts, state, on_partial, depth + 1)
                                .await
                            {
                                Ok(v) => {
                                    last = Some(Ok(v));
                                    break;
                                }
                                Err(e) if retryable(&e) => last = Some(Err(e)),
                                Err(e) => {
                                    last = Some(Err(e));
                                    break;
                                }
                            }
                        }
                        last.unwrap_or_else(|| {
                            Err(CallError::InvalidArgument(format!(
                                "client `{name}` has an empty strategy"
                            )))
                        })
                    }
                    Node::Named(c) if strategy_kind(&c.provider) == Some("round-robin") => {
                        let items = strategy_of(c);
                        if items.is_empty() {
                            Err(CallError::InvalidArgument(format!(
                                "client `{name}` has an empty strategy"
                            )))
                        } else {
                            let i = self.round_robin.next(&c.name, start_of(c), items.len());
                            self.run_client(&items[i], f, args, opts, state, on_partial, depth + 1)
                                .await
                        }
                    }
                    _ => self.attempt(&node, f, args, opts, state, on_partial).await,
                };
                match result {
                    Ok(v) => return Ok(v),
                    Err(e) if retryable(&e) && attempt + 1 < attempts => {
                        let delay = policy.map_or(Duration::ZERO, |p| backoff(p, attempt));
                        let delay = match &e {
                            CallError::Http {
                                retry_after: Some(r),
                                ..
                            } => delay.max(*r),
                            _ => delay,
                        };
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    async fn attempt(
        &self,
        node: &Node<'_>,
        f: &baml_ir::ir::Function,
        args: &[(String, baml_prompt::ArgValue)],
        opts: &CallOptions,
        state: &mut CallState,
        on_partial: &mut Option<&mut (dyn FnMut(Json) + Send)>,
    ) -> Result<(Json, String, String), CallError> {
        if state.log.is_none() {
            return self
                .attempt_inner(node, f, args, opts, state, on_partial, None)
                .await;
        }
        let mut log = AttemptLog {
            client: node.name(),
            provider: match node {
                Node::Named(c) => c.provider.clone(),
                Node::Shorthand { provider, .. } => provider.clone(),
            },
            stream: false,
            started: SystemTime::now(),
            duration: Duration::ZERO,
            request: None,
            response: None,
            usage: None,
            error: None,
            selected: false,
        };
        let started = Instant::now();
        let result = self
            .attempt_inner(node, f, args, opts, state, on_partial, Some(&mut log))
            .await;
        log.duration = started.elapsed();
        log.error = result.as_ref().err().cloned();
        if let Some(logs) = &mut state.log {
            logs.push(log);
        }
        result
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the attempt's inputs, its call's state, and where to note what it did"
    )]
    async fn attempt_inner(
        &self,
        node: &Node<'_>,
        f: &baml_ir::ir::Function,
        args: &[(String, baml_prompt::ArgValue)],
        opts: &CallOptions,
        state: &mut CallState,
        on_partial: &mut Option<&mut (dyn FnMut(Json) + Send)>,
        mut log: Option<&mut AttemptLog>,
    ) -> Result<(Json, String, String), CallError> {
        let client = self.resolve_primitive(node, &opts.env)?;
        let stream = on_partial.is_some() && client.supports_streaming != Some(false);
        let inlined;
        let args = if crate::media::any_to_inline(&client.provider_name, args) {
            inlined =
                crate::media::inline(&self.transport, &client.provider_name, args, &opts.media)
                    .await?;
            &inlined[..]
        } else {
            args
        };
        let (req, prompt) = self.render_for(f, args, &client, stream)?;
        if let Some(log) = log.as_deref_mut() {
            log.client.clone_from(&client.name);
            log.stream = stream;
            log.request = Some(req.clone());
        }
        // An unset `env.X` as base_url would otherwise fail inside the HTTP client as a
        // "relative URL without a base", naming neither the client nor the variable.
        if let Some(var) = self.unset_env_base_url(node, &opts.env) {
            return Err(CallError::Http {
                message: format!(
                    "client `{}`: option base_url is env.{var}, and {var} is not set (give it in the runtime's or the call's env)",
                    client.name
                ),
                status: None,
                client: client.name.clone(),
                raw_response: None,
                timeout: false,
                retry_after: None,
            });
        }
        state.attempts += 1;
        // At most `MAX_REQUESTS` requests (and so sockets) in flight in the process; the rest
        // wait here, cancellable, instead of exhausting the process's descriptors.
        let _permit = request_permit().await;
        let mut exchange = log.is_some().then(Exchange::default);
        let out = if stream {
            let mut last: Option<Json> = None;
            let ir = &self.ir;
            let ret = &f.ret;
            let mut sink = on_partial.as_deref_mut();
            // Partial results re-parse the whole text so far: for long outputs the next parse
            // waits 50 ms, or twice as long as the last one took (parsing and handing the value
            // over) if that is longer, so parsing takes at most a third of the stream's time and
            // a multi-megabyte stream stays linear-ish, not quadratic.
            let mut next_parse: Option<std::time::Instant> = None;
            let mut on_delta = |text: &str| {
                let started = std::time::Instant::now();
                if text.len() >= 16 * 1024 && next_parse.is_some_and(|t| started < t) {
                    return;
                }
                if let Ok(v) = baml_sap::parse_checked(ir, ret, &f.ret_checks, text, true) {
                    if last.as_ref() != Some(&v) {
                        last = Some(v.clone());
                        if let Some(s) = sink.as_deref_mut() {
                            s(v);
                        }
                    }
                }
                let took = started.elapsed();
                next_parse =
                    Some(std::time::Instant::now() + (took * 2).max(Duration::from_millis(50)));
            };
            self.transport
                .send_recorded(&client, &req, Some(&mut on_delta), exchange.as_mut())
                .await
        } else {
            self.transport
                .send_recorded(&client, &req, None, exchange.as_mut())
                .await
        };
        if let Some(log) = log {
            log.response = exchange.filter(|e| e.status != 0);
            if let Ok(out) = &out {
                log.usage = Some(out.usage.clone());
            }
        }
        let out = out.map_err(CallError::from)?;
        state.usage.input_tokens += out.usage.input_tokens.unwrap_or(0);
        state.usage.output_tokens += out.usage.output_tokens.unwrap_or(0);
        match baml_sap::parse_checked(&self.ir, &f.ret, &f.ret_checks, &out.content, false) {
            Ok(v) => Ok((v, out.content, client.name.clone())),
            Err(e) => Err(CallError::Validation {
                message: e.to_string(),
                raw_output: out.content,
                prompt,
            }),
        }
    }
}

/// The most HTTP requests in flight at once in the process (each holds a socket). A sandbox
/// firing thousands of calls must not exhaust the descriptors Node itself needs.
pub const MAX_REQUESTS: usize = 512;

async fn request_permit() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static REQUESTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    REQUESTS
        .get_or_init(|| tokio::sync::Semaphore::new(MAX_REQUESTS))
        .acquire()
        .await
        .ok()
}

/// Coerced arguments by parameter name.
type Args = Vec<(String, baml_prompt::ArgValue)>;

/// The value, the raw output and the client that answered.
type Answer = (Json, String, String);

type BoxedAttempt<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Answer, CallError>> + Send + 'a>>;

struct CallState {
    usage: Usage,
    attempts: u32,
    /// The attempts so far, when the call is recorded.
    log: Option<Vec<AttemptLog>>,
}

fn retryable(e: &CallError) -> bool {
    matches!(e, CallError::Http { .. })
}

fn backoff(p: &RetryPolicy, attempt: u32) -> Duration {
    match p.strategy {
        RetryStrategy::ConstantDelay { delay_ms } => Duration::from_millis(delay_ms),
        RetryStrategy::ExponentialBackoff {
            delay_ms,
            multiplier,
            max_delay_ms,
        } => {
            #[expect(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "delays are small positive numbers"
            )]
            let d = (delay_ms as f64 * multiplier.powi(i32::try_from(attempt).unwrap_or(i32::MAX)))
                .min(max_delay_ms as f64) as u64;
            Duration::from_millis(d)
        }
    }
}

/// The text of the messages, for `BAML_VALIDATION`'s `prompt` field.
fn prompt_text(messages: &[baml_prompt::Message]) -> String {
    let mut out = String::new();
    for m in messages {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&m.role);
        out.push_str(": ");
        for p in &m.parts {
            match &p.part {
                baml_prompt::Part::Text(t) => out.push_str(t),
                baml_prompt::Part::Media(media) => {
                    out.push('<');
                    out.push_str(media.kind.name());
                    out.push('>');
                }
            }
        }
    }
    out
}
