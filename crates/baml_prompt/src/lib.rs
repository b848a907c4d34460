//! Prompt rendering with BAML's semantics: the minijinja environment a function's prompt runs
//! in, `ctx.output_format` (the schema text shown to the model) and chat roles.

pub mod output_format;
