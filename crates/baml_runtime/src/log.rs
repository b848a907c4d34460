//! What one call did, attempt by attempt: the record behind BAML's `Collector` (a function
//! log with its LLM calls). Kept only when the caller asks for it ([`crate::Runtime::call_logged`]
//! with `record`), since it holds a copy of every request and response body.

use std::time::{Duration, SystemTime};

use baml_llm::http::Exchange;
use baml_llm::request::HttpRequest;

use crate::{CallError, CallOutput, Usage};

/// One attempt: one primitive client asked once (a retry or a fallback step is another).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptLog {
    /// The primitive client's name (`provider/model` for a shorthand).
    pub client: String,
    /// Its provider as written (`openai`, `anthropic`, ...).
    pub provider: String,
    /// Whether the request asked for a stream.
    pub stream: bool,
    pub started: SystemTime,
    pub duration: Duration,
    /// The request as sent; `None` when none could be built (a bad client configuration).
    pub request: Option<HttpRequest>,
    /// What came back; `None` when no response head arrived (unreachable, timed out first).
    pub response: Option<Exchange>,
    /// Token counts the provider reported for this attempt, if it answered.
    pub usage: Option<baml_llm::response::Usage>,
    /// Why this attempt failed; `None` when its answer was parsed into the result.
    pub error: Option<CallError>,
    /// Whether this attempt's answer is the one the call's result (or validation error) came
    /// from: BAML's `selected`.
    pub selected: bool,
}

/// A whole call: its outcome, the tokens every attempt used, and (when recorded) the attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct CallLog {
    pub result: Result<CallOutput, CallError>,
    /// Tokens of every attempt that got an answer, failed ones included (a validation failure
    /// still used tokens).
    pub usage: Usage,
    /// Oldest first; empty unless recording was asked for.
    pub attempts: Vec<AttemptLog>,
}

impl CallLog {
    /// Marks the attempt the outcome came from. A success comes from the last attempt; so does
    /// a validation failure (its answer was read and parsed); other failures come from no
    /// answer at all.
    pub(crate) fn select(&mut self) {
        let chosen = match &self.result {
            Ok(_) | Err(CallError::Validation { .. }) => self.attempts.last_mut(),
            Err(_) => None,
        };
        if let Some(a) = chosen {
            a.selected = a
                .response
                .as_ref()
                .is_some_and(|r| (200..300).contains(&r.status));
        }
    }
}
