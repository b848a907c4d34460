//! A client's `options { }` resolved for one call: `env.NAME` looked up, BAML's own keys taken
//! out (URL, key, roles, headers, timeouts, finish-reason filters), the rest kept in order to
//! be passed through into the request body.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::response::Api;

/// The providers we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    OpenAiGeneric,
    Ollama,
    AzureOpenAi,
    Anthropic,
    GoogleAi,
    OpenAiResponses,
    /// OpenAI chat completions at openrouter.ai.
    OpenRouter,
    /// aws-bedrock (Converse API, SigV4).
    AwsBedrock,
    /// vertex-ai with a Gemini model.
    VertexAi,
    /// vertex-ai with an Anthropic model (`claude-…`: rawPredict).
    VertexAnthropic,
}

impl Provider {
    pub fn from_name(name: &str) -> Option<Provider> {
        Some(match name {
            "openai" => Provider::OpenAi,
            "openai-generic" => Provider::OpenAiGeneric,
            "ollama" => Provider::Ollama,
            "azure-openai" => Provider::AzureOpenAi,
            "anthropic" => Provider::Anthropic,
            "google-ai" => Provider::GoogleAi,
            "openai-responses" => Provider::OpenAiResponses,
            "openrouter" => Provider::OpenRouter,
            "aws-bedrock" => Provider::AwsBedrock,
            "vertex-ai" => Provider::VertexAi,
            _ => return None,
        })
    }

    pub fn api(self) -> Api {
        match self {
            Provider::OpenAi
            | Provider::OpenAiGeneric
            | Provider::Ollama
            | Provider::AzureOpenAi
            | Provider::OpenRouter => Api::ChatCompletions,
            Provider::Anthropic | Provider::VertexAnthropic => Api::AnthropicMessages,
            Provider::GoogleAi | Provider::VertexAi => Api::GoogleGenerateContent,
            Provider::AwsBedrock => Api::BedrockConverse,
            Provider::OpenAiResponses => Api::Responses,
        }
    }
}

/// Timeouts of one client (`http { }`), milliseconds; 0 means none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    pub connect_ms: u64,
    pub request_ms: u64,
    pub first_token_ms: Option<u64>,
    pub idle_ms: Option<u64>,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect_ms: 10_000,
            request_ms: 30_000,
            first_token_ms: None,
            idle_ms: None,
        }
    }
}

/// Which finish reasons are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FinishReasonFilter {
    #[default]
    All,
    Allow(Vec<String>),
    Deny(Vec<String>),
}

impl FinishReasonFilter {
    /// Whether `reason` passes (a missing reason always passes).
    pub fn accepts(&self, reason: Option<&str>) -> bool {
        let Some(reason) = reason else { return true };
        match self {
            FinishReasonFilter::All => true,
            FinishReasonFilter::Allow(list) => list.iter().any(|r| r.eq_ignore_ascii_case(reason)),
            FinishReasonFilter::Deny(list) => !list.iter().any(|r| r.eq_ignore_ascii_case(reason)),
        }
    }
}

/// Which `_.role(...)` metadata keys reach the provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowedMetadata {
    #[default]
    None,
    All,
    Only(Vec<String>),
}

impl AllowedMetadata {
    pub fn allows(&self, key: &str) -> bool {
        match self {
            AllowedMetadata::None => false,
            AllowedMetadata::All => true,
            AllowedMetadata::Only(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// A primitive client ready to build requests.
#[derive(Debug, Clone)]
pub struct ResolvedClient {
    pub name: String,
    pub provider: Provider,
    /// The provider name as written (`ctx.client.provider`).
    pub provider_name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    /// Options passed through into the body, in source order (`model` included).
    pub properties: Map<String, Json>,
    pub default_role: String,
    pub allowed_roles: Vec<String>,
    pub remap_roles: Vec<(String, String)>,
    pub allowed_metadata: AllowedMetadata,
    pub supports_streaming: Option<bool>,
    pub finish_reasons: FinishReasonFilter,
    pub timeouts: HttpTimeouts,
    /// Every option as resolved (`ctx.client.options`).
    pub options: Map<String, Json>,
}

/// A problem in a client's options, found when the client is first used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("client `{client}`: {message}")]
pub struct ClientConfigError {
    pub client: String,
    pub message: String,
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn string_list(v: &Json) -> Option<Vec<String>> {
    v.as_array()?.iter().map(text).collect()
}

/// Resolves `options` (already converted to JSON with env values substituted) for `provider`.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over BAML's option keys, in BAML's order"
)]
pub fn resolve(
    name: &str,
    provider_name: &str,
    mut options: Map<String, Json>,
) -> Result<ResolvedClient, ClientConfigError> {
    let err = |message: String| ClientConfigError {
        client: name.to_string(),
        message,
    };
    let mut provider = Provider::from_name(provider_name).ok_or_else(|| {
        err(format!(
            "provider `{provider_name}` is not supported (supported: openai, openai-generic, ollama, azure-openai, anthropic, google-ai, vertex-ai, aws-bedrock, openai-responses, openrouter, fallback, round-robin)"
        ))
    })?;
    let all_options = options.clone();
    let mut take = |k: &str| options.shift_remove(k);

    let base_url_opt = take("base_url")
        .map(|v| text(&v).ok_or_else(|| err("`base_url` must be a string".into())))
        .transpose()?;
    let api_key = take("api_key").and_then(|v| text(&v));
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(h) = take("headers") {
        let Json::Object(h) = h else {
            return Err(err("`headers` must be a map of strings".into()));
        };
        for (k, v) in h {
            let v =
                text(&v).ok_or_else(|| err(format!("header `{k}` must have a string value")))?;
            headers.push((k.to_ascii_lowercase(), v));
        }
    }
    let mut query: Vec<(String, String)> = Vec::new();
    let explicit_query = take("query_params");
    let allowed_roles_opt = take("allowed_roles")
        .map(|v| {
            string_list(&v).ok_or_else(|| err("`allowed_roles` must be a list of strings".into()))
        })
        .transpose()?;
    let default_role_opt = take("default_role")
        .map(|v| text(&v).ok_or_else(|| err("`default_role` must be a string".into())))
        .transpose()?;
    let remap_roles = match take("remap_roles") {
        Some(Json::Object(m)) => m
            .into_iter()
            .map(|(k, v)| {
                text(&v)
                    .map(|v| (k.clone(), v))
                    .ok_or_else(|| err(format!("remap_roles `{k}` must map to a string")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(err("`remap_roles` must be a map of strings".into())),
        None => Vec::new(),
    };
    let allowed_metadata = match take("allowed_role_metadata") {
        Some(Json::String(s)) if s == "all" => AllowedMetadata::All,
        Some(Json::String(s)) if s == "none" => AllowedMetadata::None,
        Some(v) => AllowedMetadata::Only(string_list(&v).ok_or_else(|| {
            err("`allowed_role_metadata` must be a list of keys or \"all\" or \"none\"".into())
        })?),
        None => AllowedMetadata::None,
    };
    let supports_streaming = match take("supports_streaming") {
        Some(Json::Bool(b)) => Some(b),
        Some(_) => return Err(err("`supports_streaming` must be true or false".into())),
        None => None,
    };
    let allow = take("finish_reason_allow_list");
    let deny = take("finish_reason_deny_list");
    let finish_reasons = match (allow, deny) {
        (Some(_), Some(_)) => {
            return Err(err(
                "finish_reason_allow_list and finish_reason_deny_list cannot be used together"
                    .into(),
            ))
        }
        (Some(a), None) => FinishReasonFilter::Allow(
            string_list(&a)
                .ok_or_else(|| err("values in finish_reason_allow_list must be strings".into()))?,
        ),
        (None, Some(d)) => FinishReasonFilter::Deny(
            string_list(&d)
                .ok_or_else(|| err("values in finish_reason_deny_list must be strings".into()))?,
        ),
        (None, None) => FinishReasonFilter::All,
    };
    let mut timeouts = HttpTimeouts::default();
    if let Some(http) = take("http") {
        let Json::Object(http) = http else {
            return Err(err("`http` must be a block of timeout settings".into()));
        };
        for (k, v) in http {
            let ms = v.as_u64().ok_or_else(|| {
                err(format!(
                    "http `{k}` must be a non-negative integer (milliseconds)"
                ))
            })?;
            match k.as_str() {
                "connect_timeout_ms" => timeouts.connect_ms = ms,
                "request_timeout_ms" => timeouts.request_ms = ms,
                "time_to_first_token_timeout_ms" => timeouts.first_token_ms = Some(ms),
                "idle_timeout_ms" => timeouts.idle_ms = Some(ms),
                other => {
                    return Err(err(format!(
                        "unrecognized field `{other}` in http block (supported: connect_timeout_ms, request_timeout_ms, time_to_first_token_timeout_ms, idle_timeout_ms)"
                    )))
                }
            }
        }
    }
    let _ = take("client_response_type");
    let _ = take("proxy");

    let (base_url, api_key) = match provider {
        Provider::OpenAi | Provider::OpenAiResponses => (
            base_url_opt.unwrap_or_else(|| "https://api.openai.com/v1".into()),
            api_key,
        ),
        Provider::OpenAiGeneric => (
            base_url_opt.ok_or_else(|| err("Missing required property: base_url".into()))?,
            api_key,
        ),
        Provider::Ollama => (
            base_url_opt.unwrap_or_else(|| "http://localhost:11434/v1".into()),
            api_key,
        ),
        Provider::OpenRouter => (
            base_url_opt.unwrap_or_else(|| "https://openrouter.ai/api/v1".into()),
            api_key,
        ),
        Provider::AzureOpenAi => {
            let resource = take("resource_name").and_then(|v| text(&v));
            let deployment = take("deployment_id").and_then(|v| text(&v));
            let version = take("api_version").and_then(|v| text(&v));
            let url = match (base_url_opt, resource, deployment) {
                (Some(u), None, None) => u,
                (None, Some(r), Some(d)) => {
                    format!("https://{r}.openai.azure.com/openai/deployments/{d}")
                }
                (None, None, None) => {
                    return Err(err(
                        "Missing either base_url or both (resource_name, deployment_id)".into(),
                    ))
                }
                _ => {
                    return Err(err(
                        "give either base_url or both resource_name and deployment_id".into(),
                    ))
                }
            };
            if explicit_query.is_none() {
                if let Some(v) = version {
                    query.push(("api-version".into(), v));
                }
            }
            if !headers.iter().any(|(k, _)| k == "api-key") {
                if let Some(k) = &api_key {
                    headers.push(("api-key".into(), k.clone()));
                }
            }
            match options.get("max_tokens") {
                None if !options.contains_key("max_completion_tokens") => {
                    options.insert("max_tokens".into(), Json::from(4096));
                }
                Some(Json::Null) => {
                    options.shift_remove("max_tokens");
                }
                _ => {}
            }
            (url, None)
        }
        Provider::Anthropic => {
            if !options.contains_key("max_tokens") {
                options.insert("max_tokens".into(), Json::from(4096));
            }
            (
                base_url_opt.unwrap_or_else(|| "https://api.anthropic.com".into()),
                api_key,
            )
        }
        Provider::GoogleAi => (
            base_url_opt
                .unwrap_or_else(|| "https://generativelanguage.googleapis.com/v1beta".into()),
            api_key,
        ),
        // aws-bedrock and vertex-ai (bedrock.rs, vertex.rs): their own option keys are not body
        // properties; an empty base URL means the region's or location's endpoint.
        Provider::AwsBedrock | Provider::VertexAi | Provider::VertexAnthropic => {
            let (keys, endpoint) = if provider == Provider::AwsBedrock {
                (
                    crate::bedrock::OPTION_KEYS,
                    options.get("endpoint_url").and_then(text),
                )
            } else {
                let model = options.get("model").and_then(Json::as_str).unwrap_or("");
                if model.starts_with("claude") {
                    provider = Provider::VertexAnthropic;
                }
                (crate::vertex::OPTION_KEYS, None)
            };
            options.retain(|k, _| !keys.contains(&k.as_str()));
            if provider == Provider::AwsBedrock {
                crate::bedrock::check_properties(&options, base_url_opt.is_some(), &headers)
                    .map_err(err)?;
            }
            (endpoint.or(base_url_opt).unwrap_or_default(), None)
        }
    };
    if let Some(Json::Object(q)) = explicit_query {
        for (k, v) in q {
            query.push((k, text(&v).unwrap_or_else(|| v.to_string())));
        }
    }
    let base_url = base_url
        .strip_suffix('/')
        .map_or(base_url.clone(), str::to_string);

    let provider_default_roles: &[&str] = &["system", "user", "assistant"];
    let explicit_roles = allowed_roles_opt.is_some();
    let mut allowed_roles = allowed_roles_opt.unwrap_or_else(|| {
        provider_default_roles
            .iter()
            .map(|s| (*s).to_string())
            .collect()
    });
    if let Some(r) = &default_role_opt {
        if !allowed_roles.contains(r) {
            return Err(err(format!(
                "default_role must be one of {}. Got: {r}",
                allowed_roles.join(", ")
            )));
        }
    }
    // o1 models take no system messages: without `allowed_roles`, BAML allows only user and
    // assistant (and an explicit `default_role`), so the default role is user.
    let o1 = !matches!(provider, Provider::Anthropic | Provider::GoogleAi)
        && options
            .get("model")
            .and_then(Json::as_str)
            .is_some_and(|m| m == "o1" || m.starts_with("o1-"));
    if o1 && !explicit_roles {
        allowed_roles.retain(|r| r != "system" || default_role_opt.as_ref() == Some(r));
    }
    let default_role = match default_role_opt {
        Some(r) => r,
        None => match provider {
            Provider::Anthropic
            | Provider::GoogleAi
            | Provider::Ollama
            | Provider::AwsBedrock
            | Provider::VertexAi
            | Provider::VertexAnthropic => "user".into(),
            _ => allowed_roles
                .first()
                .cloned()
                .unwrap_or_else(|| "user".into()),
        },
    };
    Ok(ResolvedClient {
        name: name.to_string(),
        provider,
        provider_name: provider_name.to_string(),
        base_url,
        api_key,
        headers,
        query,
        properties: options,
        default_role,
        allowed_roles,
        remap_roles,
        allowed_metadata,
        supports_streaming,
        finish_reasons,
        timeouts,
        options: all_options,
    })
}

/// Environment lookups for `env.NAME`: the call's env over the runtime's.
pub fn lookup_env<'a>(name: &str, layers: &[&'a BTreeMap<String, String>]) -> Option<&'a str> {
    layers.iter().find_map(|m| m.get(name).map(String::as_str))
}
