//! Media arguments given by URL that a provider only takes inline: downloaded before the
//! request is built, as BAML does, within a size and time bound, and only when allowed (a
//! sandbox's URLs are not fetched by Node unless its context says so).
//!
//! Which ones BAML downloads (recorded from @boundaryml/baml 0.226.2's requests): images for
//! google-ai, vertex-ai and aws-bedrock; audio for vertex-ai and the OpenAI chat and responses
//! APIs; PDFs for anthropic. The others keep the URL.

use std::collections::HashMap;
use std::time::Duration;

use baml_ir::types::Media;
use baml_prompt::args::{MediaSource, MediaValue};
use baml_prompt::ArgValue;
use base64::Engine as _;

use crate::CallError;

/// Whether and how media URLs may be downloaded for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Downloads allowed at all (off for URLs from sandboxed code unless the context allows).
    pub download: bool,
    /// The most one download may take.
    pub max_bytes: usize,
    /// The longest one download may take.
    pub timeout: Duration,
}

impl Default for MediaPolicy {
    fn default() -> Self {
        MediaPolicy {
            download: true,
            max_bytes: 20 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Whether `provider` (a BAML provider name) wants `kind` inline rather than by URL.
pub fn needs_inline(provider: &str, kind: &Media) -> bool {
    match provider {
        "google-ai" | "aws-bedrock" => matches!(kind, Media::Image),
        "vertex-ai" => matches!(kind, Media::Image | Media::Audio),
        "openai" | "openai-generic" | "ollama" | "azure-openai" | "openai-responses" => {
            matches!(kind, Media::Audio)
        }
        "anthropic" => matches!(kind, Media::Pdf),
        _ => false,
    }
}

fn kind_name(kind: &Media) -> &'static str {
    match kind {
        Media::Image => "image",
        Media::Audio => "audio",
        Media::Pdf => "pdf",
        Media::Video => "video",
    }
}

/// Whether any argument is a URL that `provider` wants inline.
pub(crate) fn any_to_inline(provider: &str, args: &[(String, ArgValue)]) -> bool {
    fn walk(provider: &str, v: &ArgValue) -> bool {
        match v {
            ArgValue::Media(m) => {
                matches!(m.source, MediaSource::Url(_)) && needs_inline(provider, &m.kind)
            }
            ArgValue::List(items) => items.iter().any(|v| walk(provider, v)),
            ArgValue::Map(entries)
            | ArgValue::Class {
                fields: entries, ..
            } => entries.iter().any(|(_, v)| walk(provider, v)),
            _ => false,
        }
    }
    args.iter().any(|(_, v)| walk(provider, v))
}

/// The URLs of `args` that `provider` wants inline, downloaded (each once).
pub(crate) async fn inline(
    transport: &baml_llm::http::Transport,
    provider: &str,
    args: &[(String, ArgValue)],
    policy: &MediaPolicy,
) -> Result<Vec<(String, ArgValue)>, CallError> {
    let mut urls: Vec<(String, Media)> = Vec::new();
    for (_, v) in args {
        collect(provider, v, &mut urls);
    }
    let mut fetched: HashMap<String, (String, Option<String>)> = HashMap::new();
    for (url, kind) in urls {
        if fetched.contains_key(&url) {
            continue;
        }
        if !policy.download {
            return Err(CallError::InvalidArgument(format!(
                "{provider} takes {} arguments inline, so {url} would be downloaded by Node; downloading URLs given by sandboxed code is off for this context (BamlContext option downloadMedia: true allows it), or pass {{ base64, media_type }}",
                kind_name(&kind)
            )));
        }
        let (bytes, mime) = transport
            .download(&url, policy.max_bytes, policy.timeout)
            .await
            .map_err(CallError::InvalidArgument)?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        fetched.insert(url, (b64, mime));
    }
    Ok(args
        .iter()
        .map(|(k, v)| (k.clone(), replace(provider, v, &fetched)))
        .collect())
}

fn collect(provider: &str, v: &ArgValue, out: &mut Vec<(String, Media)>) {
    match v {
        ArgValue::Media(MediaValue {
            kind,
            source: MediaSource::Url(url),
            ..
        }) if needs_inline(provider, kind) => out.push((url.clone(), kind.clone())),
        ArgValue::List(items) => {
            for v in items {
                collect(provider, v, out);
            }
        }
        ArgValue::Map(entries)
        | ArgValue::Class {
            fields: entries, ..
        } => {
            for (_, v) in entries {
                collect(provider, v, out);
            }
        }
        _ => {}
    }
}

fn replace(
    provider: &str,
    v: &ArgValue,
    fetched: &HashMap<String, (String, Option<String>)>,
) -> ArgValue {
    match v {
        ArgValue::Media(m) => match &m.source {
            MediaSource::Url(url) if needs_inline(provider, &m.kind) => match fetched.get(url) {
                Some((b64, mime)) => ArgValue::Media(MediaValue {
                    kind: m.kind.clone(),
                    source: MediaSource::Base64(b64.clone()),
                    // What the server said it is, else what the caller said.
                    media_type: mime.clone().or_else(|| m.media_type.clone()),
                }),
                None => v.clone(),
            },
            _ => v.clone(),
        },
        ArgValue::List(items) => ArgValue::List(
            items
                .iter()
                .map(|v| replace(provider, v, fetched))
                .collect(),
        ),
        ArgValue::Map(entries) => ArgValue::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), replace(provider, v, fetched)))
                .collect(),
        ),
        ArgValue::Class { name, fields } => ArgValue::Class {
            name: name.clone(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.clone(), replace(provider, v, fetched)))
                .collect(),
        },
        other => other.clone(),
    }
}
