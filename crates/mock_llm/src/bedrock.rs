//! The aws-bedrock side of the mock: SigV4 checked by recomputing the signature here (hmac and
//! sha2, independent of the client's signing crate), Converse bodies, and converse-stream's
//! AWS event-stream frames.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::http::{Piece, Request};
use crate::providers::{Answer, Text, Usage};

/// The access key id the mock accepts.
pub const AWS_ACCESS_KEY_ID: &str = "AKIDMOCKLLMEXAMPLE01";
/// Its secret.
pub const AWS_SECRET_ACCESS_KEY: &str = "mock/llm/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of every byte but the unreserved ones (SigV4's `UriEncode`).
fn uri_encode(s: &str) -> String {
    use std::fmt::Write as _;
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

/// Why a request's signature is refused: (`x-amzn-errortype`, message).
pub(crate) type Refusal = (&'static str, String);

/// Checks the request's SigV4 `Authorization` against [`AWS_SECRET_ACCESS_KEY`].
pub(crate) fn verify(request: &Request) -> Result<(), Refusal> {
    let invalid = |m: &str| {
        (
            "InvalidSignatureException",
            format!("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. ({m})"),
        )
    };
    let Some(auth) = request.header("authorization") else {
        return Err((
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".into(),
        ));
    };
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| invalid("not AWS4-HMAC-SHA256"))?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap_or(("", ""));
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(invalid("incomplete Authorization header"));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(invalid("malformed credential scope"));
    };
    if key_id != AWS_ACCESS_KEY_ID {
        return Err((
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".into(),
        ));
    }
    if service != "bedrock" {
        return Err(invalid("credential scope is not for bedrock"));
    }
    let amz_date = request
        .header("x-amz-date")
        .ok_or_else(|| invalid("no x-amz-date"))?;
    if !amz_date.starts_with(date) {
        return Err(invalid("x-amz-date does not match the credential scope"));
    }
    if !fresh(amz_date) {
        return Err(invalid("Signature expired"));
    }
    let names: Vec<&str> = signed.split(';').collect();
    for needed in ["host", "x-amz-date"] {
        if !names.contains(&needed) {
            return Err(invalid(&format!("{needed} is not signed")));
        }
    }
    if request.header("x-amz-security-token").is_some() && !names.contains(&"x-amz-security-token")
    {
        return Err(invalid("x-amz-security-token is not signed"));
    }
    let scope = Scope {
        amz_date,
        date,
        region,
        service,
    };
    let expected = sign(request, signed, &scope, AWS_SECRET_ACCESS_KEY).map_err(|m| invalid(&m))?;
    if expected == signature {
        Ok(())
    } else {
        Err(invalid("signature mismatch"))
    }
}

/// Where and when a request was signed.
struct Scope<'a> {
    amz_date: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

/// The hex SigV4 signature of `request` over the `signed` headers with `secret`.
fn sign(
    request: &Request,
    signed: &str,
    scope: &Scope<'_>,
    secret: &str,
) -> Result<String, String> {
    let names: Vec<&str> = signed.split(';').collect();
    let canonical = canonical_request(request, signed, &names)?;
    let Scope {
        amz_date,
        date,
        region,
        service,
    } = scope;
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    Ok(hex(&hmac(&key, to_sign.as_bytes())))
}

/// SigV4's canonical request: method, URI (each segment encoded again), sorted query, the
/// signed headers with their values, their names, and the body's SHA-256.
fn canonical_request(request: &Request, signed: &str, names: &[&str]) -> Result<String, String> {
    use std::fmt::Write as _;
    let mut canonical_headers = String::new();
    for name in names {
        let value = request
            .header(name)
            .ok_or_else(|| format!("signed header {name} is missing"))?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(canonical_headers, "{name}:{value}");
    }
    let uri: Vec<String> = request.path().split('/').map(uri_encode).collect();
    let mut query: Vec<&str> = request
        .query()
        .split('&')
        .filter(|s| !s.is_empty())
        .collect();
    query.sort_unstable();
    Ok(format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        request.method,
        uri.join("/"),
        query.join("&"),
        hex(&Sha256::digest(&request.body)),
    ))
}

/// Whether `20240101T000000Z` is within 15 minutes of now.
fn fresh(amz_date: &str) -> bool {
    let field = |r: std::ops::Range<usize>| amz_date.get(r).and_then(|s| s.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        field(0..4),
        field(4..6),
        field(6..8),
        field(9..11),
        field(11..13),
        field(13..15),
    ) else {
        return false;
    };
    // Days from civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let then = days * 86_400 + h * 3600 + mi * 60 + s;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    (now - then).abs() <= 15 * 60
}

/// The error body for a refused or failed request.
pub(crate) fn error_body(message: &str) -> Value {
    json!({ "message": message })
}

/// `x-amzn-errortype` for a scripted status.
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

fn stop_reason(answer: &Answer<'_>) -> String {
    answer.finish.anthropic().to_string()
}

fn usage_json(u: Usage) -> Value {
    json!({ "inputTokens": u.input, "outputTokens": u.output, "totalTokens": u.input + u.output })
}

/// The Converse answer.
pub(crate) fn body(text: &str, answer: &Answer<'_>) -> Value {
    json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": text }] } },
        "stopReason": stop_reason(answer),
        "usage": usage_json(answer.usage),
        "metrics": { "latencyMs": 1 }
    })
}

fn text_of(t: Text<'_>) -> String {
    match t {
        Text::Literal(s) => s.to_string(),
        Text::Filler(n) => "x".repeat(usize::try_from(n).unwrap_or(0)),
    }
}

/// One event-stream message: prelude (total and header lengths, CRC), string headers, the
/// payload, and the message CRC.
pub(crate) fn frame(event_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&u16::try_from(value.len()).unwrap_or(0).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&u32::try_from(headers.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(&out).to_be_bytes());
    out
}

fn event(event_type: &str, payload: &Value) -> Vec<Piece> {
    vec![Piece::Bytes(frame(
        event_type,
        payload.to_string().as_bytes(),
    ))]
}

/// The converse-stream events of an answer.
pub(crate) fn stream(answer: &Answer<'_>, deltas: &[Text<'_>]) -> Vec<Vec<Piece>> {
    let mut events = vec![event("messageStart", &json!({ "role": "assistant" }))];
    for delta in deltas {
        events.push(event(
            "contentBlockDelta",
            &json!({ "contentBlockIndex": 0, "delta": { "text": text_of(*delta) } }),
        ));
    }
    events.push(event(
        "contentBlockStop",
        &json!({ "contentBlockIndex": 0 }),
    ));
    events.push(event(
        "messageStop",
        &json!({ "stopReason": stop_reason(answer) }),
    ));
    events.push(event(
        "metadata",
        &json!({ "usage": usage_json(answer.usage), "metrics": { "latencyMs": 1 } }),
    ));
    events
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            keep_alive: true,
        }
    }

    #[test]
    fn signs_like_the_aws_test_suite() {
        // `get-vanilla` of AWS's SigV4 test suite.
        let r = request(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            b"",
        );
        let scope = Scope {
            amz_date: "20150830T123600Z",
            date: "20150830",
            region: "us-east-1",
            service: "service",
        };
        assert_eq!(
            sign(
                &r,
                "host;x-amz-date",
                &scope,
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
            )
            .unwrap(),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn refuses_missing_and_stale_signatures() {
        assert_eq!(
            verify(&request("POST", "/model/m/converse", &[], b"{}"))
                .unwrap_err()
                .0,
            "MissingAuthenticationTokenException"
        );
        let stale = format!(
            "AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
        );
        let r = request(
            "POST",
            "/model/m/converse",
            &[
                ("host", "127.0.0.1:1"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &stale),
            ],
            b"{}",
        );
        assert!(verify(&r).unwrap_err().1.contains("expired"));
    }

    /// Now as `YYYYMMDDTHHMMSSZ`.
    fn amz_now() -> String {
        let secs = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap();
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    #[test]
    fn accepts_a_fresh_signature_and_refuses_a_tampered_body() {
        let now = amz_now();
        let scope = Scope {
            amz_date: &now,
            date: &now[..8],
            region: "us-east-1",
            service: "bedrock",
        };
        let headers = [
            ("content-type", "application/json"),
            ("host", "127.0.0.1:9"),
            ("x-amz-date", now.as_str()),
        ];
        let signed = "content-type;host;x-amz-date";
        let mut r = request(
            "POST",
            "/model/a%3A0/converse",
            &headers,
            b"{\"messages\":[]}",
        );
        let sig = sign(&r, signed, &scope, AWS_SECRET_ACCESS_KEY).unwrap();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/{}/us-east-1/bedrock/aws4_request, SignedHeaders={signed}, Signature={sig}",
            &now[..8]
        );
        r.headers.push(("authorization".into(), auth));
        assert_eq!(verify(&r), Ok(()));
        r.body = b"{\"messages\":[1]}".to_vec();
        assert_eq!(verify(&r).unwrap_err().0, "InvalidSignatureException");
    }

    #[test]
    fn frames_carry_lengths_and_crcs() {
        let f = frame("messageStop", b"{}");
        let total = u32::from_be_bytes(f[0..4].try_into().unwrap()) as usize;
        assert_eq!(total, f.len());
        let prelude_crc = u32::from_be_bytes(f[8..12].try_into().unwrap());
        assert_eq!(prelude_crc, crc32fast::hash(&f[..8]));
        let crc = u32::from_be_bytes(f[total - 4..].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&f[..total - 4]));
        assert!(f.ends_with(&[
            b'{',
            b'}',
            f[total - 4],
            f[total - 3],
            f[total - 2],
            f[total - 1]
        ]));
    }

    #[test]
    fn freshness_window() {
        assert!(!fresh("20150830T123600Z"));
        assert!(!fresh("garbage"));
    }
}
