//! Helpers shared by the devserver's own tests: a raw HTTP client and the steps of the flows.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpauth_devserver::{Config, DevServer, DevServerHandle};
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

pub async fn start(config: Config) -> (DevServerHandle, Client) {
    // In a workspace build, cargo unifies reqwest's features with the native crate's
    // `rustls-no-provider`, and reqwest then needs a process-wide crypto provider even for
    // plain http. Installing ring's is harmless when another test did it first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = DevServer::start(config).await.expect("server starts");
    let http = Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    (server, http)
}

pub async fn auto_approving() -> (DevServerHandle, Client) {
    start(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await
}

/// Register a native public client with the loopback redirect URI.
pub async fn register_public(server: &DevServerHandle, http: &Client) -> String {
    let metadata = json!({
        "client_name": "test", "application_type": "native", "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "token_endpoint_auth_method": "none",
    });
    let response = http
        .post(format!("{}/register", server.issuer))
        .json(&metadata)
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    body["client_id"].as_str().expect("client_id").to_owned()
}

/// POST `metadata` to the registration endpoint; the status and JSON body.
pub async fn register_with(
    server: &DevServerHandle,
    http: &Client,
    metadata: &Value,
) -> (StatusCode, Value) {
    let response = http
        .post(format!("{}/register", server.issuer))
        .json(metadata)
        .send()
        .await
        .expect("register");
    let status = response.status();
    (
        status,
        response.json().await.expect("registration body is JSON"),
    )
}

/// POST a form to `<issuer><path>`; the status and JSON body.
pub async fn post_form(
    server: &DevServerHandle,
    http: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = http
        .post(format!("{}{path}", server.issuer))
        .form(form)
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.expect("body is JSON"))
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = "a-test-verifier-that-is-long-enough-for-rfc7636-rules".to_owned();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(&verifier));
    (verifier, challenge)
}

/// Send an authorization request and return the redirect's query pairs (auto-approve on).
pub async fn authorize(
    server: &DevServerHandle,
    http: &Client,
    client_id: &str,
    challenge: &str,
    scope: &str,
) -> Url {
    let port_redirect = "http://127.0.0.1:49152/callback";
    let query = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", port_redirect),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("scope", scope),
        ("state", "st4te"),
        ("resource", &server.mcp_url),
    ];
    let response = http
        .get(format!("{}/authorize", server.issuer))
        .query(&query)
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("ascii");
    Url::parse(location).expect("location is a URL")
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Run the code flow for a public client; returns the token response.
pub async fn code_flow(
    server: &DevServerHandle,
    http: &Client,
    client_id: &str,
    scope: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let redirect = authorize(server, http, client_id, &challenge, scope).await;
    let code = query_param(&redirect, "code").expect("code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "http://127.0.0.1:49152/callback"),
        ("code_verifier", &verifier),
        ("client_id", client_id),
        ("resource", &server.mcp_url),
    ];
    let (status, body) = token(server, http, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn token(
    server: &DevServerHandle,
    http: &Client,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = http
        .post(format!("{}/token", server.issuer))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = response.status();
    (status, response.json().await.expect("token body is JSON"))
}

/// POST a JSON-RPC request to /mcp with an optional bearer token.
pub async fn mcp(
    server: &DevServerHandle,
    http: &Client,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = http.post(&server.mcp_url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("mcp")
}

/// A P-256 key that signs ES256 JWTs: DPoP proofs, client assertions, workload tokens.
pub struct TestKey(p256::ecdsa::SigningKey);

impl TestKey {
    pub fn new() -> Self {
        let scalar: [u8; 32] = rand::random();
        Self(p256::ecdsa::SigningKey::from_slice(&scalar).expect("a valid scalar"))
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        let point = self.0.verifying_key().to_encoded_point(false);
        json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("uncompressed")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("uncompressed")),
        })
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical))
    }

    /// A compact JWS of `header` and `claims`, signed ES256.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        use p256::ecdsa::signature::Signer as _;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The standard DPoP proof header for this key.
    pub fn proof_header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk() })
    }

    /// The claims of a fresh proof for `method` `url` (with `ath` for `access_token`, and
    /// `nonce`), to change before [`TestKey::sign`] when a test needs a bad proof.
    pub fn proof_claims(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Value {
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
            "htm": method, "htu": url, "iat": unix_now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token)));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        claims
    }

    /// A valid DPoP proof (RFC 9449 §4.2).
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let claims = self.proof_claims(method, url, access_token, nonce);
        self.sign(&self.proof_header(), &claims)
    }
}

/// Seconds since the Unix epoch on this machine's clock (the client's clock).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// POST a form to `/token` with optional DPoP proof; the status, headers and JSON body.
pub async fn token_with_proof(
    server: &DevServerHandle,
    http: &Client,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = http.post(format!("{}/token", server.issuer)).form(form);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.expect("token");
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response.json().await.expect("token body is JSON"),
    )
}

/// POST a JSON-RPC request to /mcp with `Authorization: <scheme> <token>` and an optional
/// DPoP proof.
pub async fn mcp_with(
    server: &DevServerHandle,
    http: &Client,
    authorization: &str,
    proof: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = http
        .post(&server.mcp_url)
        .header("Authorization", authorization)
        .json(&body);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.expect("mcp")
}
