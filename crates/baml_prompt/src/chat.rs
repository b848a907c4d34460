//! Turning rendered prompt text into chat messages. `_.role(...)` and media arguments print
//! markers into the text; the markers carry a random per-render nonce so that argument text
//! can never forge a role switch.

use std::cell::RefCell;
use std::fmt;

use serde_json::{Map, Value as Json};

use crate::args::{MediaSource, MediaValue};

/// One part of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Media(MediaValue),
}

/// A part with the metadata of the `_.role(...)` it was written under.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPart {
    pub part: Part,
    /// Keyword arguments of `_.role(...)` other than the role (e.g. `cache_control`).
    pub meta: Map<String, Json>,
}

/// A chat message: a role and its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    pub parts: Vec<ContentPart>,
    /// `_.role(..., __baml_allow_dupe_role__=true)`: never merged with the message before it.
    pub allow_duplicate_role: bool,
}

/// What a prompt rendered to.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderedPrompt {
    /// No role or media markers: the text as rendered (not trimmed).
    Completion(String),
    Chat(Vec<Message>),
}

impl RenderedPrompt {
    /// The messages, a completion becoming one message in `default_role`.
    pub fn into_messages(self, default_role: &str) -> Vec<Message> {
        match self {
            RenderedPrompt::Chat(m) => m,
            RenderedPrompt::Completion(text) => vec![Message {
                role: default_role.to_string(),
                parts: vec![ContentPart {
                    part: Part::Text(text),
                    meta: Map::new(),
                }],
                allow_duplicate_role: false,
            }],
        }
    }
}

thread_local! {
    static DELIMITER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs a fresh delimiter for the render running on this thread.
pub(crate) struct DelimiterGuard;

impl DelimiterGuard {
    pub(crate) fn install() -> (DelimiterGuard, String) {
        use std::hash::{BuildHasher, Hasher};
        // RandomState's keys are random per thread and change with every call; a counter
        // makes the input differ too (the process id cost a system call per render).
        static RENDERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(RENDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let nonce = h.finish();
        let delim = format!("\u{E000}baml{nonce:016x}\u{E001}");
        DELIMITER.with(|d| d.borrow_mut().clone_from(&delim));
        (DelimiterGuard, delim)
    }
}

impl Drop for DelimiterGuard {
    fn drop(&mut self) {
        DELIMITER.with(|d| d.borrow_mut().clear());
    }
}

fn with_delimiter<R>(f: impl FnOnce(&str) -> R) -> R {
    DELIMITER.with(|d| f(&d.borrow()))
}

/// The text `_.role(...)` prints.
pub(crate) fn role_marker(meta: &Map<String, Json>) -> String {
    with_delimiter(|d| format!("{d}r{}{d}", Json::Object(meta.clone())))
}

pub(crate) fn write_media_marker(f: &mut fmt::Formatter<'_>, m: &MediaValue) -> fmt::Result {
    let json = serde_json::json!({
        "kind": m.kind.name(),
        "url": match &m.source { MediaSource::Url(u) => Some(u), MediaSource::Base64(_) => None },
        "base64": match &m.source { MediaSource::Base64(b) => Some(b), MediaSource::Url(_) => None },
        "media_type": m.media_type,
    });
    with_delimiter(|d| {
        if d.is_empty() {
            // Outside a prompt render (e.g. a `format` filter): show the media's JSON.
            write!(f, "{json}")
        } else {
            write!(f, "{d}m{json}{d}")
        }
    })
}

fn media_from_marker(json: &Json) -> Option<MediaValue> {
    let kind = match json.get("kind")?.as_str()? {
        "image" => baml_ir::types::Media::Image,
        "audio" => baml_ir::types::Media::Audio,
        "pdf" => baml_ir::types::Media::Pdf,
        "video" => baml_ir::types::Media::Video,
        _ => return None,
    };
    let source = if let Some(u) = json.get("url").and_then(Json::as_str) {
        MediaSource::Url(u.to_string())
    } else {
        MediaSource::Base64(json.get("base64")?.as_str()?.to_string())
    };
    Some(MediaValue {
        kind,
        source,
        media_type: json
            .get("media_type")
            .and_then(Json::as_str)
            .map(str::to_string),
    })
}

/// Roles as the client allows them.
pub struct RoleRules<'a> {
    pub default_role: &'a str,
    pub allowed_roles: &'a [String],
    pub remap_roles: &'a [(String, String)],
}

/// Splits rendered text into messages (BAML's rules: text parts trimmed, empty parts and
/// empty messages dropped, roles outside `allowed_roles` become the default role, then
/// `remap_roles` applies).
pub(crate) fn split(rendered: String, delim: &str, rules: &RoleRules<'_>) -> RenderedPrompt {
    if !rendered.contains(delim) {
        return RenderedPrompt::Completion(rendered);
    }
    let mut messages = Vec::new();
    let mut role: Option<String> = None;
    let mut meta = Map::new();
    let mut allow_dupe = false;
    let mut parts: Vec<ContentPart> = Vec::new();
    let flush = |role: &Option<String>,
                 allow_dupe: bool,
                 parts: &mut Vec<ContentPart>,
                 messages: &mut Vec<Message>| {
        if parts.is_empty() {
            return;
        }
        let role = match role {
            Some(r) if rules.allowed_roles.iter().any(|a| a == r) => r.clone(),
            _ => rules.default_role.to_string(),
        };
        messages.push(Message {
            role,
            parts: std::mem::take(parts),
            allow_duplicate_role: allow_dupe,
        });
    };
    for (i, piece) in rendered.split(delim).enumerate() {
        if i % 2 == 0 {
            let text = piece.trim();
            if !text.is_empty() {
                parts.push(ContentPart {
                    part: Part::Text(text.to_string()),
                    meta: meta.clone(),
                });
            }
            continue;
        }
        let (kind, json) = piece.split_at(piece.len().min(1));
        let json: Json = serde_json::from_str(json).unwrap_or(Json::Null);
        match kind {
            "r" => {
                flush(&role, allow_dupe, &mut parts, &mut messages);
                let Json::Object(mut m) = json else { continue };
                role = m
                    .remove("role")
                    .and_then(|r| r.as_str().map(str::to_string));
                allow_dupe = m
                    .remove("__baml_allow_dupe_role__")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                meta = m;
            }
            _ => {
                if let Some(media) = media_from_marker(&json) {
                    parts.push(ContentPart {
                        part: Part::Media(media),
                        meta: meta.clone(),
                    });
                }
            }
        }
    }
    flush(&role, allow_dupe, &mut parts, &mut messages);
    for m in &mut messages {
        if let Some((_, to)) = rules.remap_roles.iter().find(|(from, _)| from == &m.role) {
            m.role.clone_from(to);
        }
    }
    RenderedPrompt::Chat(messages)
}

/// Merges consecutive messages with the same role (unless the later one allows duplicates).
pub fn merge_consecutive(messages: Vec<Message>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    for m in messages {
        match out.last_mut() {
            Some(prev) if prev.role == m.role && !m.allow_duplicate_role => {
                prev.parts.extend(m.parts);
            }
            _ => out.push(m),
        }
    }
    out
}
