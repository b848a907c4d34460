//! aws-bedrock: the Converse API. Requests (`/model/{id}/converse`, `converse-stream`), SigV4
//! signing at send time (`aws-sigv4`), answers, and the AWS event-stream framing of streams
//! (`aws-smithy-eventstream`), turned into events for the stream accumulator.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_runtime_api::client::identity::Identity;
use baml_ir::types::Media;
use baml_prompt::{ContentPart, MediaSource, MediaValue, Message, Part};
use serde_json::{json, Map, Value as Json};

use crate::client::ResolvedClient;
use crate::http::LlmError;
use crate::request::{HttpRequest, RequestError};
use crate::response::{
    as_object, opt_str, opt_u64, req_arr, req_obj, Checked, Fail, LlmOutput, ResponseError, Usage,
};
use crate::sse::{SseDecoder, SseEvent};

/// Option keys of aws-bedrock that are not body properties.
pub(crate) const OPTION_KEYS: &[&str] = &[
    "model",
    "model_id",
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "profile",
    "endpoint_url",
    "inference_configuration",
    "additional_model_request_fields",
];

/// BAML refuses a Bedrock client with any other body property, `base_url` or `headers` (when
/// the project loads).
pub(crate) fn check_properties(
    rest: &Map<String, Json>,
    base_url: bool,
    headers: &[(String, String)],
) -> Result<(), String> {
    let unsupported = rest
        .keys()
        .map(String::as_str)
        .chain(base_url.then_some("base_url"))
        .chain((!headers.is_empty()).then_some("headers"))
        .next();
    match unsupported {
        Some(k) => Err(format!("Unsupported property: {k}")),
        None => Ok(()),
    }
}

fn opt<'a>(client: &'a ResolvedClient, key: &str) -> Option<&'a str> {
    client
        .options
        .get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

/// The region of the client: `region`, else `AWS_REGION` / `AWS_DEFAULT_REGION` (the runtime
/// copies those into the options, see `baml_runtime`).
pub(crate) fn region(client: &ResolvedClient) -> Option<&str> {
    opt(client, "region")
}

/// Merges consecutive same-role messages; the first system message is hoisted, later ones
/// (and a lone one) are sent as user messages (what BAML does for aws-bedrock and vertex-ai).
pub(crate) fn hoist_roles(messages: &[Message]) -> Vec<Message> {
    let mut messages = baml_prompt::merge_consecutive(messages.to_vec());
    if messages.len() == 1 && messages[0].role == "system" {
        messages[0].role = "user".into();
    } else {
        for m in messages.iter_mut().skip(1) {
            if m.role == "system" {
                m.role = "user".into();
            }
        }
    }
    messages
}

/// Percent-encodes a path segment (everything but unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn format_of(m: &MediaValue) -> String {
    let t = m.media_type.clone().unwrap_or_else(|| match m.kind {
        Media::Image => "image/png".into(),
        Media::Audio => "audio/mpeg".into(),
        Media::Pdf => "application/pdf".into(),
        Media::Video => "video/mp4".into(),
    });
    t.split('/').nth(1).unwrap_or("png").to_string()
}

fn part(client: &ResolvedClient, p: &ContentPart) -> Result<Json, RequestError> {
    let mut out = match &p.part {
        Part::Text(t) => json!({ "text": t }),
        Part::Media(m) => {
            let MediaSource::Base64(b) = &m.source else {
                return Err(RequestError(format!(
                    "client `{}`: aws-bedrock needs {} given as base64 (media URLs are not downloaded)",
                    client.name,
                    m.kind.name()
                )));
            };
            let source = json!({ "bytes": b });
            match m.kind {
                Media::Image => json!({ "image": { "format": format_of(m), "source": source } }),
                Media::Pdf => {
                    json!({ "document": { "format": "pdf", "name": "document", "source": source } })
                }
                Media::Video => json!({ "video": { "format": format_of(m), "source": source } }),
                Media::Audio => {
                    return Err(RequestError(format!(
                        "client `{}`: aws-bedrock does not take audio",
                        client.name
                    )))
                }
            }
        }
    };
    if let Json::Object(obj) = &mut out {
        for (k, v) in &p.meta {
            if client.allowed_metadata.allows(k) {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

/// `inference_configuration { max_tokens temperature top_p stop_sequences }` in Converse's
/// spelling.
fn inference_config(v: &Json) -> Json {
    let Json::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let key = match k.as_str() {
            "max_tokens" => "maxTokens",
            "top_p" => "topP",
            "stop_sequences" => "stopSequences",
            other => other,
        };
        // Converse takes these as 32-bit floats (BAML sends 0.9 as 0.8999999761581421).
        let value = match (key, v.as_f64()) {
            #[expect(clippy::cast_possible_truncation, reason = "the API's own precision")]
            ("temperature" | "topP", Some(f)) => Json::from(f64::from(f as f32)),
            _ => v.clone(),
        };
        out.insert(key.to_string(), value);
    }
    Json::Object(out)
}

/// The Converse request for `messages`.
pub(crate) fn build_request(
    client: &ResolvedClient,
    messages: &[Message],
    stream: bool,
) -> Result<HttpRequest, RequestError> {
    let model = opt(client, "model")
        .or_else(|| opt(client, "model_id"))
        .ok_or_else(|| RequestError(format!("client `{}`: `model` is required", client.name)))?;
    let base = if client.base_url.is_empty() {
        let region = region(client).ok_or_else(|| {
            RequestError(format!(
                "client `{}`: AWS region is required. Set it in the client options or via AWS_REGION.",
                client.name
            ))
        })?;
        format!("https://bedrock-runtime.{region}.amazonaws.com")
    } else {
        client.base_url.clone()
    };
    let op = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    let url = format!("{base}/model/{}/{op}", encode_segment(model));
    let messages = hoist_roles(messages);
    let (system, rest) = match messages.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first), rest),
        _ => (None, &messages[..]),
    };
    let mut body = Map::new();
    let list: Vec<Json> = rest
        .iter()
        .map(|m| {
            let parts = m
                .parts
                .iter()
                .map(|p| part(client, p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({ "role": m.role, "content": parts }))
        })
        .collect::<Result<_, RequestError>>()?;
    body.insert("messages".into(), Json::Array(list));
    if let Some(system) = system {
        let parts = system
            .parts
            .iter()
            .map(|p| part(client, p))
            .collect::<Result<Vec<_>, _>>()?;
        body.insert("system".into(), Json::Array(parts));
    }
    if let Some(v) = client.options.get("inference_configuration") {
        body.insert("inferenceConfig".into(), inference_config(v));
    }
    if let Some(v) = client.options.get("additional_model_request_fields") {
        body.insert("additionalModelRequestFields".into(), v.clone());
    }
    let mut headers = client.headers.clone();
    headers.retain(|(k, _)| k != "content-type");
    headers.push(("content-type".into(), "application/json".into()));
    Ok(HttpRequest {
        url,
        method: "POST",
        headers,
        body: Json::Object(body),
    })
}

/// Adds SigV4 headers (`x-amz-date`, `x-amz-security-token`, `authorization`) for `body`.
pub(crate) fn sign_request(
    client: &ResolvedClient,
    req: &mut HttpRequest,
    body: &[u8],
) -> Result<(), LlmError> {
    let config = |m: &str| LlmError::Config(format!("client `{}`: {m}", client.name));
    let region = region(client).ok_or_else(|| {
        config("AWS region is required. Set it in the client options or via AWS_REGION.")
    })?;
    let (Some(key), Some(secret)) = (
        opt(client, "access_key_id"),
        opt(client, "secret_access_key"),
    ) else {
        let profile = if opt(client, "profile").is_some() {
            " (AWS profiles and ~/.aws are not read)"
        } else {
            ""
        };
        return Err(config(&format!(
            "AWS credentials are required: set access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY){profile}"
        )));
    };
    let token = opt(client, "session_token").map(str::to_string);
    let identity: Identity =
        Credentials::new(key, secret, token, None, "baml-client-options").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| config(&format!("cannot sign the request: {e}")))?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| config(&format!("cannot sign the request: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| config(&format!("cannot sign the request: {e}")))?
        .into_parts();
    for (name, value) in instructions.headers() {
        let name = name.to_ascii_lowercase();
        req.headers.retain(|(k, _)| *k != name);
        req.headers.push((name, value.to_string()));
    }
    Ok(())
}

/// Decodes a Converse answer.
pub(crate) fn parse(value: &Json) -> Checked<LlmOutput> {
    let obj = as_object(value, "the body")?;
    let output = req_obj(obj, "", "output")?;
    let message = req_obj(output, "output", "message")?;
    let content = req_arr(message, "output.message", "content")?;
    let mut text = String::new();
    for block in content {
        if let Some(t) = block.get("text").and_then(Json::as_str) {
            text.push_str(t);
        }
    }
    if text.is_empty() {
        return Err(Fail::NoContent(
            "has no text in `output.message.content`".into(),
        ));
    }
    let usage = match obj.get("usage") {
        Some(Json::Object(u)) => Usage {
            input_tokens: opt_u64(u, "usage", "inputTokens")?,
            output_tokens: opt_u64(u, "usage", "outputTokens")?,
        },
        _ => Usage::default(),
    };
    Ok(LlmOutput {
        content: text,
        finish_reason: opt_str(obj, "", "stopReason")?.map(str::to_owned),
        model: None,
        usage,
    })
}

/// A stream decoder: server-sent events, or (aws-bedrock) AWS event-stream frames, each
/// turned into an event named by its `:event-type` (exceptions become `error` events).
pub(crate) enum StreamDecoder {
    Sse(SseDecoder),
    EventStream {
        frames: MessageFrameDecoder,
        buf: bytes::BytesMut,
    },
}

impl StreamDecoder {
    pub(crate) fn for_client(client: &ResolvedClient) -> Self {
        if client.provider == crate::client::Provider::AwsBedrock {
            StreamDecoder::EventStream {
                frames: MessageFrameDecoder::new(),
                buf: bytes::BytesMut::new(),
            }
        } else {
            StreamDecoder::Sse(SseDecoder::new())
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, ResponseError> {
        match self {
            StreamDecoder::Sse(d) => d.push(chunk),
            StreamDecoder::EventStream { frames, buf } => {
                buf.extend_from_slice(chunk);
                let mut out = Vec::new();
                loop {
                    let frame =
                        frames
                            .decode_frame(&mut *buf)
                            .map_err(|e| ResponseError::Provider {
                                api: crate::response::Api::BedrockConverse,
                                message: format!("invalid event-stream frame: {e}"),
                                excerpt: String::new(),
                            })?;
                    let DecodedFrame::Complete(message) = frame else {
                        break;
                    };
                    let header = |name: &str| {
                        message
                            .headers()
                            .iter()
                            .find(|h| h.name().as_str() == name)
                            .and_then(|h| h.value().as_string().ok())
                            .map(|s| s.as_str().to_string())
                    };
                    let data = String::from_utf8_lossy(message.payload()).into_owned();
                    let event = if header(":message-type").as_deref() == Some("event") {
                        header(":event-type")
                    } else {
                        Some("error".to_string())
                    };
                    out.push(SseEvent {
                        event,
                        data,
                        id: None,
                    });
                }
                Ok(out)
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Result<Vec<SseEvent>, ResponseError> {
        match self {
            StreamDecoder::Sse(d) => d.finish(),
            StreamDecoder::EventStream { .. } => Ok(Vec::new()),
        }
    }
}

/// Fills aws-bedrock and vertex-ai options the client leaves out from the environment, the
/// way BAML reads it: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION` (else `AWS_DEFAULT_REGION`); `GOOGLE_APPLICATION_CREDENTIALS` (a path) and
/// `GOOGLE_APPLICATION_CREDENTIALS_CONTENT` (JSON). Other providers are left alone.
pub fn env_defaults(
    provider: &str,
    options: &mut Map<String, Json>,
    lookup: impl Fn(&str) -> Option<String>,
) {
    let vars: &[(&str, &[&str])] = match provider {
        "aws-bedrock" => &[
            ("access_key_id", &["AWS_ACCESS_KEY_ID"]),
            ("secret_access_key", &["AWS_SECRET_ACCESS_KEY"]),
            ("session_token", &["AWS_SESSION_TOKEN"]),
            ("region", &["AWS_REGION", "AWS_DEFAULT_REGION"]),
        ],
        "vertex-ai" => &[
            ("credentials", &["GOOGLE_APPLICATION_CREDENTIALS"]),
            (
                "credentials_content",
                &["GOOGLE_APPLICATION_CREDENTIALS_CONTENT"],
            ),
        ],
        _ => return,
    };
    for (key, names) in vars {
        if options.contains_key(*key) {
            continue;
        }
        // Explicit credentials in the client win over the environment's other form.
        if *key == "credentials_content" && options.contains_key("credentials") {
            continue;
        }
        if let Some(v) = names
            .iter()
            .find_map(|n| lookup(n).filter(|v| !v.is_empty()))
        {
            options.insert((*key).to_string(), Json::String(v));
        }
    }
}
