//! Logins without a person, natively, against the dev server: the client credentials grant
//! with a `private_key_jwt` key the session signs with (and DPoP-bound tokens), obtained again
//! after expiry with a fresh assertion; workload identity read from a file that the platform
//! rotates; the typed errors of a missing client key or an unreadable workload token; a logout
//! that cannot sign its revocation still forgetting the grant; and a DPoP login whose MCP
//! requests carry proofs, answering the nonces both servers ask for.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use mcpauth::session::{CredentialSource, MachineGrant, PreRegisteredClient};
use mcpauth::{ClientKey, LoginOptions, MemoryStore, Session};
use mcpauth_devserver::{ClientAuth, Config, PublicJwk, RegisteredClient, TrustedIssuer};
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;

use common::{TestClock, TestUi};

const WORKLOAD_ISSUER: &str = "https://idp.workload.example";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A P-256 key, as the client (or a workload's IdP) holds it.
struct Key(p256::SecretKey);

impl Key {
    fn new(seed: u8) -> Self {
        Self(p256::SecretKey::from_slice(&[seed; 32]).unwrap())
    }

    fn public(&self) -> PublicJwk {
        let point = self.0.public_key().to_encoded_point(false);
        PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: b64(point.x().unwrap()),
            y: b64(point.y().unwrap()),
        }
    }

    /// An ES256 JWT with `claims`.
    fn jwt(&self, claims: &serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"ES256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        );
        let key = p256::ecdsa::SigningKey::from(&self.0);
        let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }
}

fn client(id: &str) -> PreRegisteredClient {
    PreRegisteredClient {
        client_id: id.into(),
        client_secret: None,
        auth_method: None,
        issuer: None,
        key_alg: None,
        key_id: None,
    }
}

fn session(clock: &TestClock, key: Option<ClientKey>) -> Session {
    session_over(Arc::new(MemoryStore::new()), clock, key)
}

fn session_over(
    store: Arc<dyn mcpauth::TokenStore>,
    clock: &TestClock,
    key: Option<ClientKey>,
) -> Session {
    let ui: Arc<dyn mcpauth::ui::LoginUi> = TestUi::immediate();
    let mut builder = Session::builder(store)
        .ui(ui)
        .clock(clock.source())
        .timeout(Duration::from_secs(10));
    if let Some(key) = key {
        builder = builder.client_key(key);
    }
    builder.build().unwrap()
}

async fn devserver() -> mcpauth_devserver::DevServerHandle {
    common::devserver(Config {
        auto_approve: true,
        access_token_ttl: Duration::from_secs(60),
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn client_credentials_with_a_private_key_and_dpop_are_obtained_again_after_expiry() {
    let server = devserver().await;
    let key = Key::new(3);
    server.register_client(RegisteredClient {
        client_id: "svc-jwt".into(),
        auth: ClientAuth::PrivateKeyJwt(key.public()),
        redirect_uris: Vec::new(),
    });
    let pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key.0, Default::default()).unwrap();
    let clock = TestClock::default();
    let session = session(&clock, Some(ClientKey::from_pem(&pem).unwrap()));
    let mut options = LoginOptions::default();
    options.grant = Some(MachineGrant::ClientCredentials);
    options.client = Some(client("svc-jwt"));
    options.dpop = true;
    let summary = session.login(&server.mcp_url, &options).await.unwrap();
    let grant = summary.grant;
    assert_eq!(grant.tokens.token_type, "DPoP");
    assert!(grant.tokens.refresh_token.is_none());
    let jkt = grant.dpop_key.as_ref().unwrap().jwk.thumbprint();
    assert_eq!(server.stats().tokens_issued, 1);

    // Past its expiry the token is obtained again, without a person, with a new assertion
    // (the server refuses a replayed one) and a proof of the same DPoP key.
    clock.advance(Duration::from_secs(120));
    let again = session.fresh_grant(&server.mcp_url).await.unwrap();
    assert_ne!(again.tokens.access_token, grant.tokens.access_token);
    assert_eq!(again.dpop_key.unwrap().jwk.thumbprint(), jkt);
    let stats = server.stats();
    assert_eq!(stats.tokens_issued, 2);
    assert_eq!(stats.assertions_refused, 0);
    assert!(stats.dpop_proofs_accepted >= 2, "{stats:?}");
    assert_eq!(stats.leaks, Vec::<String>::new());
}

#[tokio::test]
async fn a_private_key_jwt_login_without_a_client_key_is_no_signing_key() {
    let server = devserver().await;
    server.register_client(RegisteredClient {
        client_id: "svc-jwt".into(),
        auth: ClientAuth::PrivateKeyJwt(Key::new(4).public()),
        redirect_uris: Vec::new(),
    });
    let session = session(&TestClock::default(), None);
    let mut options = LoginOptions::default();
    options.grant = Some(MachineGrant::ClientCredentials);
    let mut c = client("svc-jwt");
    c.key_alg = Some(mcpauth_core::jws::JwsAlg::ES256);
    options.client = Some(c);
    let err = session.login(&server.mcp_url, &options).await.unwrap_err();
    assert_eq!(err.code(), "NO_SIGNING_KEY", "{err}");
    assert_eq!(server.stats().tokens_issued, 0);
}

#[tokio::test]
async fn a_logout_without_the_client_key_forgets_the_grant_and_warns_of_the_revocation() {
    let server = devserver().await;
    let key = Key::new(6);
    server.register_client(RegisteredClient {
        client_id: "svc-jwt".into(),
        auth: ClientAuth::PrivateKeyJwt(key.public()),
        redirect_uris: Vec::new(),
    });
    let pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key.0, Default::default()).unwrap();
    let store: Arc<dyn mcpauth::TokenStore> = Arc::new(MemoryStore::new());
    let clock = TestClock::default();
    let with_key = session_over(
        store.clone(),
        &clock,
        Some(ClientKey::from_pem(&pem).unwrap()),
    );
    let mut options = LoginOptions::default();
    options.grant = Some(MachineGrant::ClientCredentials);
    options.client = Some(client("svc-jwt"));
    with_key.login(&server.mcp_url, &options).await.unwrap();

    // `mcpauth logout --all` knows no server's key: the revocation cannot be signed, which
    // does not keep the grant.
    let without = session_over(store, &clock, None);
    let warnings = without.logout(&server.mcp_url).await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let err = without.current_grant(&server.mcp_url).unwrap_err();
    assert_eq!(err.code(), "LOGIN_REQUIRED");
}

#[tokio::test]
async fn a_workload_token_is_read_from_its_file_again_when_the_token_expires() {
    let server = devserver().await;
    let idp = Key::new(5);
    server.trust_issuer(TrustedIssuer {
        issuer: WORKLOAD_ISSUER.into(),
        jwk: idp.public(),
    });
    server.register_client(RegisteredClient {
        client_id: "workload".into(),
        auth: ClientAuth::None,
        redirect_uris: Vec::new(),
    });
    let workload_token = |n: u64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        idp.jwt(&serde_json::json!({
            "iss": WORKLOAD_ISSUER, "sub": "workload", "aud": server.issuer,
            "iat": now, "exp": now + 3600, "jti": format!("w{n}"),
        }))
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let clock = TestClock::default();
    let session = session(&clock, None);
    let mut options = LoginOptions::default();
    options.client = Some(client("workload"));
    options.grant = Some(MachineGrant::JwtBearer {
        assertion: CredentialSource::File {
            path: path.display().to_string(),
        },
    });

    // No file yet: a typed error naming the file.
    let err = session.login(&server.mcp_url, &options).await.unwrap_err();
    assert_eq!(err.code(), "CREDENTIAL_UNAVAILABLE", "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let first = workload_token(1);
    std::fs::write(&path, format!("{first}\n")).unwrap();
    session.login(&server.mcp_url, &options).await.unwrap();
    // The platform rotates the token; after expiry the new one is presented (the old one's
    // jti was spent, so the server would refuse it).
    let second = workload_token(2);
    std::fs::write(&path, &second).unwrap();
    clock.advance(Duration::from_secs(120));
    session.access_token(&server.mcp_url).await.unwrap();
    let stats = server.stats();
    assert_eq!(stats.tokens_issued, 2);
    assert_eq!(stats.assertions_refused, 0);
    assert!(!err.to_string().contains(&first));
}

#[tokio::test]
async fn a_dpop_login_then_mcp_requests_carry_proofs_and_answer_both_servers_nonces() {
    let server = common::devserver(Config {
        auto_approve: true,
        faults: mcpauth_devserver::Faults {
            dpop_nonce_token: true,
            dpop_nonce_resource: true,
            ..Default::default()
        },
        ..Config::default()
    })
    .await;
    let ui = TestUi::immediate();
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &TestClock::default());
    let mut options = common::login_options();
    options.dpop = true;
    let summary = common::login(&session, &ui, &server.mcp_url, &options).await;
    assert_eq!(summary.grant.tokens.token_type, "DPoP");

    let client = mcpauth::AuthClient::new(session, common::http_client(false));
    for id in 1..=2 {
        let body = common::rpc(id, "ping", serde_json::json!({}));
        let response = client
            .execute(&server.mcp_url, |http| {
                http.post(&server.mcp_url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body.clone())
            })
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {id}");
    }
    let stats = server.stats();
    // One nonce challenge at the token endpoint, one at the MCP endpoint; the second MCP
    // request carries the nonce upfront.
    assert_eq!(stats.dpop_nonce_challenges, 2, "{stats:?}");
    assert_eq!(stats.dpop_proofs_refused, 0, "{stats:?}");
    assert_eq!(stats.leaks, Vec::<String>::new());
}
