//! The HTTP request each provider expects for a list of chat messages: URL, headers and the
//! JSON body BAML sends.

use baml_ir::types::Media;
use baml_prompt::{ContentPart, MediaSource, MediaValue, Message, Part};
use serde_json::{json, Map, Value as Json};

use crate::client::{Provider, ResolvedClient};

/// A request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub url: String,
    pub method: &'static str,
    /// Lower-case names, in the order they are sent.
    pub headers: Vec<(String, String)>,
    pub body: Json,
}

/// Why a request cannot be built for these messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// Builds the request `client` sends for `messages` (after role rules were applied).
#[expect(
    clippy::too_many_lines,
    reason = "one straight-line recipe per provider"
)]
pub fn build_request(
    client: &ResolvedClient,
    messages: &[Message],
    stream: bool,
) -> Result<HttpRequest, RequestError> {
    // aws-bedrock and vertex-ai build their own requests (bedrock.rs, vertex.rs).
    match client.provider {
        Provider::AwsBedrock => return crate::bedrock::build_request(client, messages, stream),
        Provider::VertexAi | Provider::VertexAnthropic => {
            return crate::vertex::build_request(client, messages, stream)
        }
        _ => {}
    }
    let messages = provider_roles(client, messages);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body = Map::new();
    let base = &client.base_url;
    let mut url = match client.provider {
        Provider::OpenAi
        | Provider::OpenAiGeneric
        | Provider::Ollama
        | Provider::AzureOpenAi
        | Provider::OpenRouter => {
            format!("{base}/chat/completions")
        }
        Provider::OpenAiResponses => format!("{base}/responses"),
        Provider::AwsBedrock | Provider::VertexAi | Provider::VertexAnthropic => String::new(),
        Provider::Anthropic => format!("{base}/v1/messages"),
        Provider::GoogleAi => {
            let model = client
                .properties
                .get("model")
                .and_then(Json::as_str)
                .unwrap_or("gemini-1.5-flash");
            if stream {
                format!("{base}/models/{model}:streamGenerateContent?alt=sse")
            } else {
                format!("{base}/models/{model}:generateContent")
            }
        }
    };
    if !client.query.is_empty() {
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for (k, v) in &client.query {
            url.push(sep);
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
            sep = '&';
        }
    }
    for (k, v) in &client.headers {
        headers.push((k.clone(), v.clone()));
    }
    // Headers the provider needs win over custom ones (an `Authorization` header is replaced
    // when `api_key` is set), except that a custom `anthropic-version` is kept.
    let mut set = |k: &str, v: String| {
        if let Some(existing) = headers.iter_mut().find(|(h, _)| h == k) {
            existing.1 = v;
        } else {
            headers.push((k.to_string(), v));
        }
    };
    match client.provider {
        Provider::OpenAi
        | Provider::OpenAiGeneric
        | Provider::Ollama
        | Provider::OpenAiResponses
        | Provider::OpenRouter => {
            if let Some(key) = &client.api_key {
                set("authorization", format!("Bearer {key}"));
            }
        }
        Provider::AzureOpenAi
        | Provider::AwsBedrock
        | Provider::VertexAi
        | Provider::VertexAnthropic => {}
        Provider::Anthropic => {
            if let Some(key) = &client.api_key {
                set("x-api-key", key.clone());
            }
            if !client.headers.iter().any(|(k, _)| k == "anthropic-version") {
                set("anthropic-version", "2023-06-01".into());
            }
        }
        Provider::GoogleAi => {
            if let Some(key) = &client.api_key {
                set("x-goog-api-key", key.clone());
            }
        }
    }
    set("content-type", "application/json".into());

    for (k, v) in &client.properties {
        if client.provider == Provider::GoogleAi && k == "model" {
            continue;
        }
        body.insert(k.clone(), v.clone());
    }
    match client.provider {
        Provider::OpenAi
        | Provider::OpenAiGeneric
        | Provider::Ollama
        | Provider::AzureOpenAi
        | Provider::OpenRouter => {
            let list: Vec<Json> = messages
                .iter()
                .map(|m| chat_completions_message(client, m))
                .collect::<Result<_, _>>()?;
            body.insert("messages".into(), Json::Array(list));
            if stream {
                body.insert("stream".into(), Json::Bool(true));
                if client.provider == Provider::OpenAi {
                    body.insert("stream_options".into(), json!({ "include_usage": true }));
                }
            }
        }
        Provider::OpenAiResponses => {
            let list: Vec<Json> = messages
                .iter()
                .map(|m| responses_message(client, m))
                .collect::<Result<_, _>>()?;
            body.insert("input".into(), Json::Array(list));
            if stream {
                body.insert("stream".into(), Json::Bool(true));
            }
        }
        Provider::Anthropic => {
            let (system, rest) = split_system(&messages);
            if let Some(system) = system {
                let parts: Vec<Json> = system
                    .parts
                    .iter()
                    .map(|p| anthropic_part(client, p))
                    .collect::<Result<_, _>>()?;
                body.insert("system".into(), Json::Array(parts));
            }
            let list: Vec<Json> = rest
                .iter()
                .map(|m| {
                    let content = m
                        .parts
                        .iter()
                        .map(|p| anthropic_part(client, p))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(json!({ "role": m.role, "content": content }))
                })
                .collect::<Result<_, RequestError>>()?;
            body.insert("messages".into(), Json::Array(list));
            if stream {
                body.insert("stream".into(), Json::Bool(true));
            }
        }
        Provider::GoogleAi => {
            let (system, rest) = split_system(&messages);
            if let Some(system) = system {
                let parts: Vec<Json> = system
                    .parts
                    .iter()
                    .map(|p| google_part(client, p))
                    .collect();
                body.insert("system_instruction".into(), json!({ "parts": parts }));
            }
            let list: Vec<Json> = rest
                .iter()
                .map(|m| {
                    let role = if m.role == "assistant" {
                        "model"
                    } else {
                        m.role.as_str()
                    };
                    Ok(json!({
                        "role": role,
                        "parts": m.parts.iter().map(|p| google_part(client, p)).collect::<Vec<_>>(),
                    }))
                })
                .collect::<Result<_, RequestError>>()?;
            body.insert("contents".into(), Json::Array(list));
        }
        Provider::AwsBedrock | Provider::VertexAi | Provider::VertexAnthropic => {}
    }
    Ok(HttpRequest {
        url,
        method: "POST",
        headers,
        body: Json::Object(body),
    })
}

/// Merges consecutive same-role messages and applies Anthropic's system-message rules.
fn provider_roles(client: &ResolvedClient, messages: &[Message]) -> Vec<Message> {
    let mut messages = baml_prompt::merge_consecutive(messages.to_vec());
    // Anthropic and Google take one system prompt: a lone system message becomes the user's,
    // and system messages after the first are sent as user messages (not merged again).
    if matches!(client.provider, Provider::Anthropic | Provider::GoogleAi) {
        if messages.len() == 1 && messages[0].role == "system" {
            messages[0].role = "user".into();
        } else {
            for m in messages.iter_mut().skip(1) {
                if m.role == "system" {
                    m.role = "user".into();
                }
            }
        }
    }
    messages
}

/// The leading system message (hoisted by Anthropic and Google) and the rest.
fn split_system(messages: &[Message]) -> (Option<&Message>, &[Message]) {
    match messages.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first), rest),
        _ => (None, messages),
    }
}

fn with_meta(client: &ResolvedClient, mut part: Map<String, Json>, p: &ContentPart) -> Json {
    for (k, v) in &p.meta {
        if client.allowed_metadata.allows(k) {
            part.insert(k.clone(), v.clone());
        }
    }
    Json::Object(part)
}

fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn media_type(m: &MediaValue) -> String {
    m.media_type.clone().unwrap_or_else(|| match m.kind {
        Media::Image => "image/png".into(),
        Media::Audio => "audio/mpeg".into(),
        Media::Pdf => "application/pdf".into(),
        Media::Video => "video/mp4".into(),
    })
}

/// Audio `format` for OpenAI: the media subtype (`mpeg`), which chat completions spells `mp3`.
fn audio_format(m: &MediaValue, mp3: bool) -> String {
    let t = media_type(m);
    let sub = t.split('/').nth(1).unwrap_or("mp3").to_string();
    if mp3 && sub == "mpeg" {
        "mp3".into()
    } else {
        sub
    }
}

fn data_url(m: &MediaValue) -> String {
    match &m.source {
        MediaSource::Url(u) => u.clone(),
        MediaSource::Base64(b) => format!("data:{};base64,{b}", media_type(m)),
    }
}

fn needs_base64(client: &ResolvedClient, kind: &Media) -> RequestError {
    RequestError(format!(
        "client `{}`: {} needs {} given as base64 (media URLs are not downloaded)",
        client.name,
        client.provider_name,
        kind.name()
    ))
}

fn chat_completions_message(client: &ResolvedClient, m: &Message) -> Result<Json, RequestError> {
    // openai-generic sends plain text content as a string (what most compatible servers expect).
    let plain = client.provider == Provider::OpenAiGeneric
        && m.parts.iter().all(|p| {
            matches!(p.part, Part::Text(_))
                && !p.meta.keys().any(|k| client.allowed_metadata.allows(k))
        });
    if plain {
        let text: Vec<&str> = m
            .parts
            .iter()
            .filter_map(|p| match &p.part {
                Part::Text(t) => Some(t.as_str()),
                Part::Media(_) => None,
            })
            .collect();
        // Parts of merged same-role messages are joined by a space, as BAML joins them.
        return Ok(json!({ "role": m.role, "content": text.join(" ") }));
    }
    let mut parts = Vec::with_capacity(m.parts.len());
    for p in &m.parts {
        let part = match &p.part {
            Part::Text(t) => json!({ "type": "text", "text": t }),
            Part::Media(media) => match (&media.kind, &media.source) {
                (Media::Image, _) => {
                    json!({ "type": "image_url", "image_url": { "url": data_url(media) } })
                }
                (Media::Audio, MediaSource::Base64(b)) => json!({
                    "type": "input_audio",
                    "input_audio": { "data": b, "format": audio_format(media, true) }
                }),
                (Media::Pdf, MediaSource::Base64(_)) => json!({
                    "type": "file",
                    "file": { "filename": "document.pdf", "file_data": data_url(media) }
                }),
                (Media::Pdf, MediaSource::Url(u)) => json!({
                    "type": "file",
                    "file": { "type": "input_file", "file_url": u, "filename": "document.pdf" }
                }),
                (kind, _) => return Err(needs_base64(client, kind)),
            },
        };
        parts.push(with_meta(client, obj(part), p));
    }
    Ok(json!({ "role": m.role, "content": parts }))
}

fn responses_message(client: &ResolvedClient, m: &Message) -> Result<Json, RequestError> {
    let text_type = if m.role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    let mut parts = Vec::with_capacity(m.parts.len());
    for p in &m.parts {
        let part = match &p.part {
            Part::Text(t) => json!({ "type": text_type, "text": t }),
            Part::Media(media) => match (&media.kind, &media.source) {
                (Media::Image, _) => {
                    json!({ "type": "input_image", "image_url": data_url(media), "detail": "auto" })
                }
                (Media::Audio, MediaSource::Base64(b)) => json!({
                    "type": "input_audio",
                    "input_audio": { "data": b, "format": audio_format(media, false) }
                }),
                (Media::Pdf, MediaSource::Base64(_)) => {
                    json!({ "type": "input_file", "file_data": data_url(media), "filename": "document.pdf" })
                }
                (Media::Pdf, MediaSource::Url(u)) => {
                    json!({ "type": "input_file", "file_url": u, "filename": "document.pdf" })
                }
                (kind, _) => return Err(needs_base64(client, kind)),
            },
        };
        parts.push(with_meta(client, obj(part), p));
    }
    Ok(json!({ "role": m.role, "content": parts }))
}

fn anthropic_part(client: &ResolvedClient, p: &ContentPart) -> Result<Json, RequestError> {
    let part = match &p.part {
        Part::Text(t) => json!({ "type": "text", "text": t }),
        Part::Media(media) => {
            let kind = match media.kind {
                Media::Image => "image",
                Media::Pdf => "document",
                Media::Audio => "audio",
                Media::Video => {
                    return Err(RequestError(
                        "Video input is not yet supported by Anthropic Claude models. Consider extracting frames from the video as images instead. See: https://docs.anthropic.com/en/docs/vision".into(),
                    ))
                }
            };
            let source = match &media.source {
                MediaSource::Url(u) => json!({ "type": "url", "url": u }),
                MediaSource::Base64(b) => {
                    json!({ "type": "base64", "media_type": media_type(media), "data": b })
                }
            };
            json!({ "type": kind, "source": source })
        }
    };
    Ok(with_meta(client, obj(part), p))
}

fn google_part(client: &ResolvedClient, p: &ContentPart) -> Json {
    let part = match &p.part {
        Part::Text(t) => json!({ "text": t }),
        Part::Media(media) => match &media.source {
            // The media type goes along only when the argument gave one.
            MediaSource::Url(u) => match &media.media_type {
                Some(t) => json!({ "file_data": { "file_uri": u, "mime_type": t } }),
                None => json!({ "file_data": { "file_uri": u } }),
            },
            MediaSource::Base64(b) => {
                json!({ "inline_data": { "mime_type": media_type(media), "data": b } })
            }
        },
    };
    with_meta(client, obj(part), p)
}

/// Form-encodes a query component (`+` for spaces, as BAML's URLs have them).
fn encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
