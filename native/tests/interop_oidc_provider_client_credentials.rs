//! The client credentials grant (RFC 6749 §4.4, MCP's OAuth client credentials extension)
//! against panva's oidc-provider (tests/interop/oidc.mjs with its static machine clients): a
//! `Session` authenticates with `client_secret_basic`, or with `private_key_jwt` assertions
//! (RFC 7523 §2.2) signed by an ES256 or an RS256 key read from a PEM file, which oidc-provider
//! verifies against the public JWK registered for the client. There is no refresh token: on
//! expiry the session obtains a new token the same way. With `dpop` the token is bound. The
//! CLI does the same with `--client-credentials --private-key FILE --dpop`.
//!
//! What the client sent is read off the server's own request log (`GET /_interop/requests`).
//! Needs Node and `npm ci --prefix tests/interop` (scripts/setup); fails, never skips, without.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::oidc::{MachineClient, Oidc, ec_thumbprint, jwt, outcomes};
use common::{TestClock, TestUi, within};
use mcpauth::session::{LoginOptions, LoginSummary, PreRegisteredClient};
use mcpauth::ui::LoginUi;
use mcpauth::{ClientKey, MemoryStore, Session};
use mcpauth_core::flow::MachineGrant;
use mcpauth_core::jws::JwsAlg;
use mcpauth_core::{ClientSecret, Grant, TokenEndpointAuthMethod};
use serde_json::Value;

/// The resource the tokens are for. Port 9 (discard): nothing answers there.
const MCP_SERVER: &str = "http://127.0.0.1:9/mcp";

/// oidc.mjs's default access-token lifetime is 60 s; a clock this far ahead is inside the
/// core's 30 s margin, so the next token call obtains a new token.
const INTO_MARGIN: Duration = Duration::from_secs(45);

struct Peer {
    oidc: Oidc,
    clock: TestClock,
    session: Session,
}

/// oidc.mjs with `env`, and a session for its static client `name`. A private_key_jwt
/// client's key, read from its PEM file, is the session's: it signs the assertion of the login
/// and of every token obtained again on expiry.
fn start(env: &[(&str, &str)], name: &str) -> (Peer, MachineClient) {
    let oidc = Oidc::start(env);
    let client = oidc.client(name);
    // Nobody is asked anything in a machine login.
    let (ui, clock) = (TestUi::oidc_provider(&oidc.issuer), TestClock::default());
    let ui: Arc<dyn LoginUi> = ui;
    let mut builder = Session::builder(Arc::new(MemoryStore::new()))
        .ui(ui)
        .clock(clock.source())
        .timeout(Duration::from_secs(30));
    if let Some(key_file) = &client.key_file {
        let key = ClientKey::from_file(Path::new(key_file)).expect("the client's PEM key");
        builder = builder.client_key(key);
    }
    let session = builder.build().expect("session");
    let peer = Peer {
        oidc,
        clock,
        session,
    };
    (peer, client)
}

/// Client credentials with the static client `client`, authenticated as `auth_method`.
fn options(
    peer: &Peer,
    client: &MachineClient,
    auth_method: TokenEndpointAuthMethod,
) -> LoginOptions {
    let mut options = common::login_options();
    options.issuer = Some(peer.oidc.issuer.clone());
    options.probe = false;
    options.scope = Some("mcp:read".into());
    options.grant = Some(MachineGrant::ClientCredentials);
    options.client = Some(PreRegisteredClient {
        issuer: Some(peer.oidc.issuer.clone()),
        client_id: client.client_id.clone(),
        client_secret: client.client_secret.clone().map(ClientSecret::new),
        auth_method: Some(auth_method),
        key_alg: client.alg.as_deref().and_then(JwsAlg::parse),
        key_id: client.kid.clone(),
    });
    options
}

async fn machine_login(peer: &Peer, options: &LoginOptions) -> LoginSummary {
    let outcome = within(
        common::LOGIN_DEADLINE,
        "client credentials login",
        peer.session.login(MCP_SERVER, options),
    )
    .await;
    outcome.unwrap_or_else(|e| panic!("client credentials login failed: {e} [{}]", e.code()))
}

/// Checks the token a client credentials grant got: for this resource, for this client, no
/// refresh token.
fn assert_machine_token(grant: &Grant, client: &MachineClient) {
    let (_, claims) = jwt(grant.tokens.access_token.secret());
    assert_eq!(claims["aud"], MCP_SERVER, "{claims}");
    assert_eq!(claims["client_id"], client.client_id.as_str(), "{claims}");
    assert_eq!(claims["scope"], "mcp:read", "{claims}");
    assert!(grant.tokens.refresh_token.is_none());
    assert_eq!(grant.acquire, Some(MachineGrant::ClientCredentials));
}

/// Checks a logged client assertion (RFC 7523 §3) and returns its claims; `kid` is the key id
/// it must name (`None`: none, as for a bare PEM key oidc-provider finds without one).
fn checked_assertion(
    entry: &Value,
    client: &MachineClient,
    issuer: &str,
    kid: Option<&str>,
) -> Value {
    let assertion = entry["client_assertion"]
        .as_str()
        .unwrap_or_else(|| panic!("no client assertion in {entry}"));
    let (header, claims) = jwt(assertion);
    assert_eq!(header["alg"], client.alg.as_deref().unwrap(), "{header}");
    assert_eq!(header["kid"].as_str(), kid, "{header}");
    assert_eq!(claims["iss"], client.client_id.as_str(), "{claims}");
    assert_eq!(claims["sub"], client.client_id.as_str(), "{claims}");
    assert_eq!(claims["aud"], issuer, "{claims}");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(
        exp > iat && exp - iat <= 300,
        "a short-lived assertion: {claims}"
    );
    assert!(
        claims["jti"].as_str().is_some_and(|j| j.len() >= 16),
        "{claims}"
    );
    claims
}

/// Moves the clock into the token's expiry margin and checks that the session obtains a new
/// token with the same grant type, not a refresh.
async fn new_token_on_expiry(peer: &Peer, first: &Grant) -> Grant {
    peer.clock.advance(INTO_MARGIN);
    let token = peer.session.access_token(MCP_SERVER).await.unwrap();
    assert_ne!(token, first.tokens.access_token, "a new token on expiry");
    let grant = peer.session.current_grant(MCP_SERVER).unwrap();
    assert_eq!(grant.tokens.access_token, token);
    let log = peer.oidc.token_requests().await;
    let grants: Vec<&str> = log
        .iter()
        .filter_map(|e| e["grant_type"].as_str())
        .collect();
    assert_eq!(
        grants,
        ["client_credentials", "client_credentials"],
        "{log:#?}"
    );
    assert_eq!(outcomes(&log), [(200, None), (200, None)], "{log:#?}");
    grant
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_client_secret_basic_and_a_new_token_on_expiry() {
    let (peer, client) = start(&[], "basic");
    let options = options(&peer, &client, TokenEndpointAuthMethod::ClientSecretBasic);
    let summary = machine_login(&peer, &options).await;
    assert_machine_token(&summary.grant, &client);
    assert_eq!(summary.grant.tokens.token_type, "Bearer");

    let log = peer.oidc.token_requests().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["authorization_scheme"], "Basic");
    assert_eq!(log[0]["client_auth_method"], "client_secret_basic");
    assert_eq!(log[0]["resource"], MCP_SERVER);
    assert!(log[0]["dpop"].is_null());

    let second = new_token_on_expiry(&peer, &summary.grant).await;
    assert_machine_token(&second, &client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_private_key_jwt_es256_from_a_pem_file() {
    private_key_jwt("es256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_private_key_jwt_rs256_from_a_pem_file() {
    private_key_jwt("rs256").await;
}

/// A private_key_jwt client credentials login with the static client `name`, and a new token
/// (with a new assertion) on expiry.
async fn private_key_jwt(name: &str) {
    let (peer, client) = start(&[], name);
    let options = options(&peer, &client, TokenEndpointAuthMethod::PrivateKeyJwt);
    let summary = machine_login(&peer, &options).await;
    assert_machine_token(&summary.grant, &client);

    let log = peer.oidc.token_requests().await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["client_auth_method"], "private_key_jwt");
    assert!(
        log[0]["authorization_scheme"].is_null(),
        "no Basic header too"
    );
    let first = checked_assertion(&log[0], &client, &peer.oidc.issuer, client.kid.as_deref());

    let second = new_token_on_expiry(&peer, &summary.grant).await;
    assert_machine_token(&second, &client);
    let log = peer.oidc.token_requests().await;
    let again = checked_assertion(&log[1], &client, &peer.oidc.issuer, client.kid.as_deref());
    assert_ne!(
        again["jti"], first["jti"],
        "oidc-provider takes each assertion once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_with_dpop_and_a_server_nonce_get_a_bound_token() {
    let (peer, client) = start(&[("OIDC_DPOP_NONCE", "required")], "es256");
    let mut options = options(&peer, &client, TokenEndpointAuthMethod::PrivateKeyJwt);
    options.dpop = true;
    let grant = machine_login(&peer, &options).await.grant;
    assert_machine_token(&grant, &client);
    assert_eq!(grant.tokens.token_type, "DPoP");
    let key = grant
        .dpop_key
        .as_ref()
        .expect("a DPoP key")
        .jwk
        .thumbprint();
    let (_, claims) = jwt(grant.tokens.access_token.secret());
    assert_eq!(claims["cnf"]["jkt"], key.as_str(), "{claims}");

    // One nonce round trip, each attempt with its own assertion (oidc-provider takes each
    // once, so a reused assertion would have failed the retry).
    let log = peer.oidc.token_requests().await;
    assert_eq!(
        outcomes(&log),
        [(400, Some("use_dpop_nonce".into())), (200, None)],
        "{log:#?}"
    );
    let (_, retry) = jwt(log[1]["dpop"].as_str().unwrap());
    assert_eq!(retry["nonce"], log[0]["dpop_nonce"]);

    // A new token on expiry is bound to the same key.
    peer.clock.advance(INTO_MARGIN);
    peer.session.access_token(MCP_SERVER).await.unwrap();
    let next = peer.session.current_grant(MCP_SERVER).unwrap();
    let (_, claims) = jwt(next.tokens.access_token.secret());
    assert_eq!(claims["cnf"]["jkt"], key.as_str(), "{claims}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_with_an_rs256_private_key_file_and_dpop() {
    let oidc = Oidc::start(&[]);
    let client = oidc.client("rs256");
    let dir = tempfile::tempdir().unwrap();
    // The "MCP server" is a path on the AS itself: the CLI's probe gets a 404 there and goes
    // on with the configured issuer; oidc.mjs accepts any http URL as a resource.
    let server = format!("{}/mcp", oidc.issuer);
    let login = common::run_cli(
        dir.path(),
        &[
            "login",
            &server,
            "--issuer",
            &oidc.issuer,
            "--client-credentials",
            "--client-id",
            &client.client_id,
            "--private-key",
            client.key_file.as_deref().unwrap(),
            "--scope",
            "mcp:read",
            "--dpop",
        ],
    )
    .await;
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let token = common::run_cli(dir.path(), &["token", &server]).await;
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap();

    let log = oidc.token_requests().await;
    assert_eq!(outcomes(&log), [(200, None)], "{log:#?}");
    checked_assertion(&log[0], &client, &oidc.issuer, None);
    let (proof, _) = jwt(log[0]["dpop"].as_str().expect("a DPoP proof"));
    let (_, claims) = jwt(token.trim());
    assert_eq!(claims["aud"], server.as_str(), "{claims}");
    assert_eq!(claims["client_id"], client.client_id.as_str(), "{claims}");
    assert_eq!(
        claims["cnf"]["jkt"],
        ec_thumbprint(&proof["jwk"]),
        "{claims}"
    );
}
