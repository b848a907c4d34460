//! Decoding a provider's non-streaming answer.
