//! LLM provider clients.
