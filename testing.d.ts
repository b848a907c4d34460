// Types of `baml-quickjs/testing`: the mock LLM server for testing sandboxed code.

/** One scripted answer; every field is optional. */
export interface MockReply {
  /** The model's text (the message content, or the streamed deltas). */
  text?: string
  /** An HTTP error status instead of an answer (with the provider's error body). */
  status?: number
  /** `Retry-After` seconds on an error answer. */
  retry_after?: number
  /** Wait this long before answering. */
  latency_ms?: number
  finish_reason?: string
  usage?: { input_tokens?: number; output_tokens?: number }
  /** For streams: the delay between chunks, and how many characters each carries. */
  chunk_delay_ms?: number
  chunk_chars?: number
  /** A fault instead of (or in the middle of) a normal answer. */
  fault?: 'reset' | 'malformed_json' | 'truncated_stream' | 'slow_loris' | 'hang' | 'huge_body'
  huge_bytes?: number
  /** This exact body instead of the provider's format. */
  raw_body?: string | object
  content_type?: string
  headers?: Record<string, string>
}

/** Replies for the requests a rule matches, used in turn (the last one repeats). */
export interface MockRule {
  model?: string
  /** Matches requests whose body contains this text (the prompt, say). */
  contains?: string
  path_contains?: string
  replies: MockReply[]
}

export interface MockScript {
  rules?: MockRule[]
  /** The reply for requests no rule matches. */
  default?: MockReply
}

export interface MockLlm {
  /** `http://127.0.0.1:<port>`: point a client's `base_url` at `${url}/v1` (OpenAI-style). */
  readonly url: string
  readonly port: number
  readonly pid: number
  /** Replaces the script. */
  script(script: MockScript): Promise<object>
  /** The provider requests received, oldest first. */
  requests(): Promise<Array<{ method: string; path: string; headers: Record<string, string>; body: any; [key: string]: unknown }>>
  stats(): Promise<{ requests: number; in_flight: number; max_in_flight: number; [key: string]: number }>
  /** Clears rules, records and counters. */
  reset(): Promise<object>
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>
}

export interface MockLlmOptions {
  /** The mock_llm executable (default: `MOCK_LLM_BIN`, else the one this package ships). */
  binary?: string
  /** Port to bind on 127.0.0.1 (default: any free port). */
  port?: number
  /** The server exits after this many seconds (default 1800; 0: never). */
  lifetimeSecs?: number
  /** One line per request on stderr. */
  verbose?: boolean
}

/** Starts a mock LLM server on 127.0.0.1; it stops when this process exits. */
export function startMockLlm(options?: MockLlmOptions): Promise<MockLlm>
