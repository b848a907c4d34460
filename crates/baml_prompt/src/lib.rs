//! Prompt rendering with BAML's semantics: the minijinja environment a function's prompt runs
//! in, `ctx.output_format` (the schema text shown to the model) and chat roles.

pub mod args;
pub mod chat;
pub mod output_format;
pub mod render;
mod toon;
mod values;
mod yaml;

pub use args::{coerce_args, ArgError, ArgValue, MediaSource, MediaValue};
pub use chat::{merge_consecutive, ContentPart, Message, Part, RenderedPrompt};
pub use render::{ClientInfo, PromptError, Prompts};
