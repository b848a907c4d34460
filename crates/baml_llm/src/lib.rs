//! LLM provider clients: the HTTP request each provider expects, decoding its answers (whole or
//! streamed as server-sent events), and the strategies around them (retries, fallback,
//! round-robin).

mod bedrock;
pub mod client;
mod deadline;
mod h1;
pub mod http;
pub mod request;
pub mod response;
pub mod sse;
mod vertex;

pub use bedrock::env_defaults;
