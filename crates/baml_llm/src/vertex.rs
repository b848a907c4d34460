//! vertex-ai: Gemini `generateContent` / `streamGenerateContent` and Anthropic `rawPredict` /
//! `streamRawPredict` on Vertex AI, and OAuth2 access tokens for a service account (an RS256
//! JWT assertion exchanged at the account's `token_uri`, cached per runtime until shortly before
//! it expires).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baml_ir::types::Media;
use baml_prompt::{ContentPart, MediaSource, MediaValue, Message, Part};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use crate::bedrock::hoist_roles;
use crate::client::{Provider, ResolvedClient};
use crate::http::{LlmError, Transport};
use crate::request::{HttpRequest, RequestError};

/// Option keys of vertex-ai that are not body properties.
pub(crate) const OPTION_KEYS: &[&str] = &[
    "model",
    "location",
    "project_id",
    "credentials",
    "credentials_content",
    "anthropic_version",
];

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

fn opt<'a>(client: &'a ResolvedClient, key: &str) -> Option<&'a str> {
    client
        .options
        .get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

/// Whether the request authenticates itself: an `authorization` header, or an API key
/// (`query_params { key … }`, Vertex express mode).
fn self_authenticated(client: &ResolvedClient) -> bool {
    client.headers.iter().any(|(k, _)| k == "authorization")
        || client.query.iter().any(|(k, _)| k == "key")
}

/// The service-account JSON: `credentials` (an object, JSON text or a file path), else
/// `credentials_content` (JSON text). The runtime fills these from
/// `GOOGLE_APPLICATION_CREDENTIALS` / `GOOGLE_APPLICATION_CREDENTIALS_CONTENT`.
fn credentials(client: &ResolvedClient) -> Result<Option<Map<String, Json>>, String> {
    let parse = |text: &str, what: &str| -> Result<Map<String, Json>, String> {
        match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(m)) => Ok(m),
            Ok(_) => Err(format!("{what} is not a JSON object")),
            Err(e) => Err(format!("{what} is not valid JSON: {e}")),
        }
    };
    match client.options.get("credentials") {
        Some(Json::Object(m)) => return Ok(Some(m.clone())),
        Some(Json::String(s)) if s.trim_start().starts_with('{') => {
            return parse(s, "`credentials`").map(Some)
        }
        Some(Json::String(path)) if !path.is_empty() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read credentials file {path}: {e}"))?;
            return parse(&text, path).map(Some);
        }
        _ => {}
    }
    match opt(client, "credentials_content") {
        Some(text) => parse(text, "`credentials_content`").map(Some),
        None => Ok(None),
    }
}

fn is_anthropic(client: &ResolvedClient) -> bool {
    client.provider == Provider::VertexAnthropic
}

fn query_encode(s: &str) -> String {
    crate::bedrock::encode_segment(s).replace("%20", "+")
}

fn mime(m: &MediaValue) -> String {
    m.media_type.clone().unwrap_or_else(|| match m.kind {
        Media::Image => "image/png".into(),
        Media::Audio => "audio/mpeg".into(),
        Media::Pdf => "application/pdf".into(),
        Media::Video => "video/mp4".into(),
    })
}

fn with_meta(client: &ResolvedClient, mut part: Json, p: &ContentPart) -> Json {
    if let Json::Object(obj) = &mut part {
        for (k, v) in &p.meta {
            if client.allowed_metadata.allows(k) {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    part
}

fn gemini_part(client: &ResolvedClient, p: &ContentPart) -> Json {
    let part = match &p.part {
        Part::Text(t) => json!({ "text": t }),
        Part::Media(m) => match &m.source {
            MediaSource::Base64(b) => json!({ "inlineData": { "data": b, "mimeType": mime(m) } }),
            MediaSource::Url(u) => json!({ "fileData": { "fileUri": u, "mimeType": mime(m) } }),
        },
    };
    with_meta(client, part, p)
}

fn anthropic_part(client: &ResolvedClient, p: &ContentPart) -> Json {
    let part = match &p.part {
        Part::Text(t) => json!({ "type": "text", "text": t }),
        Part::Media(m) => {
            let kind = if m.kind == Media::Pdf {
                "document"
            } else {
                "image"
            };
            let source = match &m.source {
                MediaSource::Url(u) => json!({ "type": "url", "url": u }),
                MediaSource::Base64(b) => {
                    json!({ "type": "base64", "media_type": mime(m), "data": b })
                }
            };
            json!({ "type": kind, "source": source })
        }
    };
    with_meta(client, part, p)
}

/// The request for `messages`.
pub(crate) fn build_request(
    client: &ResolvedClient,
    messages: &[Message],
    stream: bool,
) -> Result<HttpRequest, RequestError> {
    let err = |m: String| RequestError(format!("client `{}`: {m}", client.name));
    let model = opt(client, "model").ok_or_else(|| err("`model` is required".into()))?;
    let creds = credentials(client).map_err(&err)?;
    if creds.is_none() && !self_authenticated(client) {
        return Err(err(
            "Failed to auth: no credentials (set `credentials`, GOOGLE_APPLICATION_CREDENTIALS, an API key in `query_params { key }` or an `Authorization` header)".into(),
        ));
    }
    let (publisher, method) = match (is_anthropic(client), stream) {
        (true, false) => ("anthropic", "rawPredict"),
        (true, true) => ("anthropic", "streamRawPredict"),
        (false, false) => ("google", "generateContent"),
        (false, true) => ("google", "streamGenerateContent?alt=sse"),
    };
    // `base_url` replaces everything before the model: `{base_url}/{model}:{method}`.
    let base = if client.base_url.is_empty() {
        let location =
            opt(client, "location").ok_or_else(|| err("`location` is required".into()))?;
        let project = opt(client, "project_id")
            .map(str::to_string)
            .or_else(|| {
                creds
                    .as_ref()
                    .and_then(|c| c.get("project_id"))
                    .and_then(Json::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| err("`project_id` is required".into()))?;
        let host = if location == "global" {
            "aiplatform.googleapis.com".to_string()
        } else {
            format!("{location}-aiplatform.googleapis.com")
        };
        format!("https://{host}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models")
    } else {
        client.base_url.clone()
    };
    let mut url = format!("{base}/{model}:{method}");
    for (k, v) in &client.query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query_encode(k));
        url.push('=');
        url.push_str(&query_encode(v));
    }
    let messages = hoist_roles(messages);
    let (system, rest) = match messages.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first), rest),
        _ => (None, &messages[..]),
    };
    let mut body = Map::new();
    if is_anthropic(client) {
        anthropic_body(client, &mut body, system, rest, stream);
    } else {
        for (k, v) in &client.properties {
            body.insert(k.clone(), v.clone());
        }
        if let Some(system) = system {
            let parts: Vec<Json> = system
                .parts
                .iter()
                .map(|p| gemini_part(client, p))
                .collect();
            body.insert("system_instruction".into(), json!({ "parts": parts }));
        }
        let list: Vec<Json> = rest
            .iter()
            .map(|m| json!({ "role": m.role, "parts": m.parts.iter().map(|p| gemini_part(client, p)).collect::<Vec<_>>() }))
            .collect();
        body.insert("contents".into(), Json::Array(list));
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

/// The body of Anthropic's Messages API on Vertex (`anthropic_version` instead of a model).
fn anthropic_body(
    client: &ResolvedClient,
    body: &mut Map<String, Json>,
    system: Option<&Message>,
    rest: &[Message],
    stream: bool,
) {
    let version = opt(client, "anthropic_version").unwrap_or("2023-06-01");
    body.insert("anthropic_version".into(), json!(version));
    if !client.properties.contains_key("max_tokens") {
        body.insert("max_tokens".into(), json!(4096));
    }
    for (k, v) in &client.properties {
        body.insert(k.clone(), v.clone());
    }
    if let Some(system) = system {
        let parts: Vec<Json> = system
            .parts
            .iter()
            .map(|p| anthropic_part(client, p))
            .collect();
        body.insert("system".into(), Json::Array(parts));
    }
    let list: Vec<Json> = rest
        .iter()
        .map(|m| json!({ "role": m.role, "content": m.parts.iter().map(|p| anthropic_part(client, p)).collect::<Vec<_>>() }))
        .collect();
    body.insert("messages".into(), Json::Array(list));
    if stream {
        body.insert("stream".into(), Json::Bool(true));
    }
}

/// Access tokens of one runtime, per service account and token URI. Held across a fetch, so
/// concurrent calls wait for one token request instead of each making their own.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    tokens: tokio::sync::Mutex<HashMap<(String, String), (String, Instant)>>,
}

/// Adds `authorization: Bearer …` unless the request authenticates itself.
pub(crate) async fn authorize(
    transport: &Transport,
    client: &ResolvedClient,
    req: &mut HttpRequest,
) -> Result<(), LlmError> {
    if self_authenticated(client) {
        return Ok(());
    }
    let config = |m: String| LlmError::Config(format!("client `{}`: {m}", client.name));
    let creds = credentials(client)
        .map_err(config)?
        .ok_or_else(|| config("vertex-ai: no credentials".into()))?;
    let field = |k: &str| {
        creds
            .get(k)
            .and_then(Json::as_str)
            .ok_or_else(|| config(format!("the credentials lack `{k}`")))
    };
    let (user, token_uri, who) = identity(&creds).map_err(config)?;
    let key = (who.to_string(), token_uri.to_string());
    let mut cache = transport.tokens.tokens.lock().await;
    let token = match cache.get(&key) {
        Some((token, until)) if Instant::now() < *until => token.clone(),
        _ => {
            let form = if user {
                let enc = crate::bedrock::encode_segment;
                format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    enc(who),
                    enc(field("client_secret")?),
                    enc(field("refresh_token")?)
                )
            } else {
                let assertion = jwt(
                    who,
                    token_uri,
                    field("private_key")?,
                    creds.get("private_key_id"),
                )
                .map_err(config)?;
                format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}")
            };
            let (token, lifetime) = fetch_token(transport, client, token_uri, form).await?;
            // Renewed a minute before it expires (halfway through for short-lived tokens).
            let margin = Duration::from_mins(1).min(lifetime / 2);
            let until = (Instant::now() + lifetime)
                .checked_sub(margin)
                .unwrap_or_else(Instant::now);
            cache.insert(key, (token.clone(), until));
            token
        }
    };
    drop(cache);
    req.headers.retain(|(k, _)| k != "authorization");
    req.headers
        .push(("authorization".into(), format!("Bearer {token}")));
    Ok(())
}

/// Whose credentials these are: (gcloud user credentials?, token URI, client id or email).
/// gcloud's user credentials (`authorized_user`) refresh a token; a service account signs a
/// JWT assertion.
fn identity(creds: &Map<String, Json>) -> Result<(bool, &str, &str), String> {
    let field = |k: &str| {
        creds
            .get(k)
            .and_then(Json::as_str)
            .ok_or_else(|| format!("the credentials lack `{k}`"))
    };
    let user = creds.get("type").and_then(Json::as_str) == Some("authorized_user");
    let token_uri = match creds.get("token_uri").and_then(Json::as_str) {
        Some(uri) => uri,
        None if user => "https://oauth2.googleapis.com/token",
        None => field("token_uri")?,
    };
    let who = field(if user { "client_id" } else { "client_email" })?;
    Ok((user, token_uri, who))
}

/// Drops the cached token of `client`'s credentials.
pub(crate) async fn forget(transport: &Transport, client: &ResolvedClient) {
    if let Ok(Some(creds)) = credentials(client) {
        if let Ok((_, token_uri, who)) = identity(&creds) {
            let key = (who.to_string(), token_uri.to_string());
            transport.tokens.tokens.lock().await.remove(&key);
        }
    }
}

/// The RS256-signed JWT assertion for the jwt-bearer grant.
fn jwt(email: &str, aud: &str, pem: &str, kid: Option<&Json>) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut header = json!({ "alg": "RS256", "typ": "JWT" });
    if let (Some(kid), Json::Object(h)) = (kid, &mut header) {
        h.insert("kid".into(), kid.clone());
    }
    let claims = json!({ "iss": email, "scope": SCOPE, "aud": aud, "iat": now, "exp": now + 3600 });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("the credentials' private_key is not PEM: {e}"))?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|e| format!("the credentials' private_key is not a PKCS#8 RSA key: {e}"))?;
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "cannot sign the token request".to_string())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

async fn fetch_token(
    transport: &Transport,
    client: &ResolvedClient,
    token_uri: &str,
    body: String,
) -> Result<(String, Duration), LlmError> {
    let http = transport.client_for(&client.timeouts)?;
    let network = |e: reqwest::Error| LlmError::Network {
        client: client.name.clone(),
        message: format!("vertex-ai token request to {token_uri} failed: {e}"),
    };
    let resp = http
        .post(token_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(network)?;
    let status = resp.status().as_u16();
    let raw = resp.text().await.map_err(network)?;
    let parsed: Option<Json> = serde_json::from_str(&raw).ok();
    if !(200..300).contains(&status) {
        let detail = parsed
            .as_ref()
            .and_then(|v| v.get("error_description").or_else(|| v.get("error")))
            .and_then(Json::as_str)
            .unwrap_or(raw.as_str())
            .to_string();
        return Err(LlmError::Status {
            client: client.name.clone(),
            status,
            message: format!("vertex-ai could not get an access token from {token_uri}: {detail}"),
            raw_response: raw,
            retry_after: None,
        });
    }
    let token = parsed
        .as_ref()
        .and_then(|v| v.get("access_token"))
        .and_then(Json::as_str)
        .ok_or_else(|| LlmError::InvalidResponse {
            client: client.name.clone(),
            status,
            message: "the token response has no access_token".into(),
            raw_response: raw.clone(),
        })?;
    let lifetime = parsed
        .as_ref()
        .and_then(|v| v.get("expires_in"))
        .and_then(Json::as_u64)
        .unwrap_or(3600);
    Ok((token.to_string(), Duration::from_secs(lifetime)))
}
