//! `.baml` source to a syntax tree with spans, and every diagnostic at once.
//!
//! [`parse`] never panics and always terminates: on an error it records a [`Diagnostic`] and
//! resumes at the next line or declaration, so a user sees every problem of a file in one go.

pub mod ast;
mod parser;
mod span;

pub use parser::parse;
pub use span::{line_col, Diagnostic, LineIndex, Span};
