//! The vertex-ai side of the mock: an OAuth2 token endpoint (`POST …/token`, jwt-bearer grant)
//! that checks the assertion's RS256 signature against the test service account's public key
//! and issues access tokens, and the Bearer check of Vertex requests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::http::Request;

/// The test service account (its `token_uri` is a placeholder: see
/// [`MockServer::vertex_service_account`](crate::MockServer::vertex_service_account)).
/// Its RSA key was generated for these tests only and protects nothing.
pub const VERTEX_SERVICE_ACCOUNT: &str = include_str!("../testdata/vertex-service-account.json");

/// The gcloud user credentials (`authorized_user`) the token endpoint accepts, without
/// `token_uri` (see [`MockServer::vertex_user_credentials`](crate::MockServer::vertex_user_credentials)).
pub const VERTEX_USER_CREDENTIALS: &str = r#"{
  "type": "authorized_user",
  "client_id": "mock-client.apps.googleusercontent.com",
  "client_secret": "mock-client-secret",
  "refresh_token": "1//mock-refresh-token"
}"#;

/// The account's public key (PKCS#1 DER).
const PUBLIC_KEY: &[u8] = include_bytes!("../testdata/vertex-test-key.pub.der");

/// Access tokens issued so far (they stay valid for the server's lifetime, across resets).
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashSet<String>>,
    next: AtomicU64,
    pub requests: AtomicU64,
}

impl Tokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answers a token request: (status, JSON body).
    pub(crate) fn grant(&self, request: &Request) -> (u16, Value) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match check_assertion(request) {
            Ok(()) => {
                let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
                let token = format!("ya29.mock-{n}");
                self.lock().insert(token.clone());
                (
                    200,
                    json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }),
                )
            }
            Err(why) => (
                400,
                json!({ "error": "invalid_grant", "error_description": why }),
            ),
        }
    }

    /// Forgets every token issued so far (as if they were revoked).
    pub(crate) fn revoke(&self) {
        self.lock().clear();
    }

    /// Whether a Vertex request may pass: an API key in the query, or a Bearer token we issued.
    pub(crate) fn admits(&self, request: &Request) -> bool {
        if request.query().split('&').any(|kv| kv.starts_with("key=")) {
            return true;
        }
        request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.lock().contains(t))
    }
}

/// Whether the path is a Vertex AI model path.
pub(crate) fn is_vertex(path: &str) -> bool {
    path.contains("/projects/") && path.contains("/publishers/")
}

fn form_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

fn check_assertion(request: &Request) -> Result<(), String> {
    let body = std::str::from_utf8(&request.body).map_err(|_| "body is not UTF-8".to_string())?;
    let grant = form_value(body, "grant_type").unwrap_or("");
    if grant == "refresh_token" {
        let user: Value = serde_json::from_str(VERTEX_USER_CREDENTIALS).unwrap_or_default();
        let decoded = |k: &str| form_value(body, k).map(|v| v.replace("%2F", "/"));
        let matches = ["client_id", "client_secret", "refresh_token"]
            .iter()
            .all(|k| decoded(k).as_deref() == user[*k].as_str());
        return if matches {
            Ok(())
        } else {
            Err("Token has been expired or revoked.".into())
        };
    }
    if grant.replace("%3A", ":").replace("%3a", ":")
        != "urn:ietf:params:oauth:grant-type:jwt-bearer"
    {
        return Err(format!("unsupported grant_type {grant}"));
    }
    let jwt = form_value(body, "assertion").ok_or("no assertion")?;
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the assertion is not a JWT".into());
    };
    let decode = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| "bad base64url".to_string())
    };
    let header: Value =
        serde_json::from_slice(&decode(h)?).map_err(|_| "bad JWT header".to_string())?;
    if header["alg"] != "RS256" {
        return Err("the assertion is not RS256".into());
    }
    let signature = decode(s)?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        PUBLIC_KEY,
    )
    .verify(format!("{h}.{c}").as_bytes(), &signature)
    .map_err(|_| "Invalid JWT Signature.".to_string())?;
    let claims: Value =
        serde_json::from_slice(&decode(c)?).map_err(|_| "bad JWT claims".to_string())?;
    let sa: Value = serde_json::from_str(VERTEX_SERVICE_ACCOUNT).unwrap_or_default();
    if claims["iss"] != sa["client_email"] {
        return Err("unknown issuer".into());
    }
    if !claims["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with(request.path()))
    {
        return Err("the audience is not this token endpoint".into());
    }
    if !claims["scope"]
        .as_str()
        .is_some_and(|s| s.contains("cloud-platform"))
    {
        return Err("the scope lacks cloud-platform".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = claims["exp"].as_u64().unwrap_or(0);
    let iat = claims["iat"].as_u64().unwrap_or(u64::MAX);
    if exp <= now || iat > now + 300 || exp > iat + 3600 {
        return Err("Invalid JWT: token lifetime".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// A jwt-bearer token request for `claims`, signed with the test account's key.
    fn token_request(claims: &Value) -> Request {
        let sa: Value = serde_json::from_str(VERTEX_SERVICE_ACCOUNT).unwrap();
        let pem = sa["private_key"].as_str().unwrap();
        let der = STANDARD
            .decode(
                pem.lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({ "alg": "RS256", "typ": "JWT" }).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        );
        Request {
            method: "POST".into(),
            target: "/token".into(),
            headers: Vec::new(),
            body: body.into_bytes(),
            keep_alive: true,
        }
    }

    fn claims(iat: u64) -> Value {
        json!({
            "iss": "baml-test@acme-test.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
            "aud": "http://127.0.0.1:1/token",
            "iat": iat,
            "exp": iat + 3600
        })
    }

    #[test]
    fn grants_tokens_for_signed_assertions_only() {
        let tokens = Tokens::default();
        let (status, body) = tokens.grant(&token_request(&claims(now())));
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        let api = |auth: &str, target: &str| Request {
            method: "POST".into(),
            target: target.into(),
            headers: vec![("authorization".into(), auth.into())],
            body: Vec::new(),
            keep_alive: true,
        };
        let path = "/v1/projects/p/locations/l/publishers/google/models/m:generateContent";
        assert!(tokens.admits(&api(&format!("Bearer {token}"), path)));
        assert!(!tokens.admits(&api("Bearer ya29.other", path)));
        assert!(tokens.admits(&api("", &format!("{path}?key=k"))));

        // A signature over other claims.
        let mut forged = token_request(&claims(now()));
        let text = String::from_utf8(forged.body.clone()).unwrap();
        let (head, sig) = text.rsplit_once('.').unwrap();
        let (prefix, _) = head.rsplit_once('.').unwrap();
        let mut other = claims(now());
        other["iss"] = json!("mallory@example.com");
        forged.body = format!(
            "{prefix}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(other.to_string())
        )
        .into_bytes();
        let (status, body) = tokens.grant(&forged);
        assert_eq!(
            (status, body["error_description"].as_str()),
            (400, Some("Invalid JWT Signature."))
        );

        // Expired, and the wrong audience.
        let (status, _) = tokens.grant(&token_request(&claims(now() - 7200)));
        assert_eq!(status, 400);
        let mut wrong = claims(now());
        wrong["aud"] = json!("https://oauth2.googleapis.com/other");
        assert_eq!(tokens.grant(&token_request(&wrong)).0, 400);
        assert_eq!(tokens.requests.load(Ordering::Relaxed), 4);
    }
}
