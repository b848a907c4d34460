//! Server-sent events: decoding the byte stream and accumulating a streamed answer.
