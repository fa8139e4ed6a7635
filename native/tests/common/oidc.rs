//! oidc-provider (`tests/interop/oidc.mjs`) for the DPoP and machine-login tests: its
//! profiles, the static clients it registers, its request log, and the JWTs it mints and sees.

use base64::Engine as _;
use serde_json::Value;

use super::{NodeServer, http_client};

/// oidc.mjs in one profile, killed (and its key directory removed) when dropped.
pub struct Oidc {
    /// The server.
    pub server: NodeServer,
    /// Its issuer (no trailing slash), also the origin of every endpoint.
    pub issuer: String,
    _keys: tempfile::TempDir,
}

/// One of the static clients of `OIDC_MACHINE_CLIENTS` (see tests/interop/README.md).
#[derive(Clone, Debug)]
pub struct MachineClient {
    /// Its client id.
    pub client_id: String,
    /// `client_secret_basic`: its secret.
    pub client_secret: Option<String>,
    /// `private_key_jwt`: `ES256` or `RS256`.
    pub alg: Option<String>,
    /// `private_key_jwt`: the `kid` its public key is registered with.
    pub kid: Option<String>,
    /// `private_key_jwt`: the PKCS#8 PEM file of its private key.
    pub key_file: Option<String>,
    /// `private_key_jwt`: the same private key as a JWK.
    pub private_jwk: Option<Value>,
}

impl Oidc {
    /// Starts oidc.mjs with `env` and the static machine clients.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let keys = tempfile::tempdir().expect("a temporary directory");
        let dir = keys.path().to_str().expect("a UTF-8 temp path").to_owned();
        let mut env = env.to_vec();
        env.push(("OIDC_MACHINE_CLIENTS", &dir));
        let server = NodeServer::start("oidc.mjs", &env);
        let issuer = server.field("issuer");
        Self {
            server,
            issuer,
            _keys: keys,
        }
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// The static client `name`: `es256`, `rs256` or `basic`.
    pub fn client(&self, name: &str) -> MachineClient {
        let c = &self.server.ready["clients"][name];
        let text = |field: &str| c[field].as_str().map(str::to_owned);
        MachineClient {
            client_id: text("client_id").unwrap_or_else(|| panic!("no client {name}")),
            client_secret: text("client_secret"),
            alg: text("alg"),
            kid: text("kid"),
            key_file: text("key_file"),
            private_jwk: c.get("private_jwk").cloned(),
        }
    }

    /// The server's log of its token endpoint requests, oldest first (see
    /// tests/interop/README.md for the fields).
    pub async fn token_requests(&self) -> Vec<Value> {
        let url = format!("{}/_interop/requests", self.issuer);
        let text = http_client(false)
            .get(&url)
            .send()
            .await
            .expect("the request log")
            .text()
            .await
            .expect("the request log");
        let all: Vec<Value> = serde_json::from_str(&text).expect("the request log is JSON");
        all.into_iter().filter(|e| e["path"] == "/token").collect()
    }
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// POSTs the form `pairs` to `url` with `headers`, and returns the status and the JSON body
/// (`null` when it is not JSON).
pub async fn post_form(
    url: &str,
    headers: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = http_client(false)
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The header and claims of a compact JWT, unverified: only to see what was minted or sent.
pub fn jwt(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let text = token.split('.').nth(i).expect("a compact JWT");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    (part(0), part(1))
}

/// The RFC 7638 thumbprint of a public EC JWK (JSON), as the server computes it.
pub fn ec_thumbprint(jwk: &Value) -> String {
    use sha2::Digest as _;
    let field = |name: &str| jwk[name].as_str().expect("an EC JWK member");
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        field("crv"),
        field("x"),
        field("y")
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical))
}

/// The `(status, error)` of each entry of a request log, for whole-sequence assertions.
pub fn outcomes(log: &[Value]) -> Vec<(u64, Option<String>)> {
    log.iter()
        .map(|e| {
            (
                e["status"].as_u64().unwrap_or_default(),
                e["error"].as_str().map(str::to_owned),
            )
        })
        .collect()
}
