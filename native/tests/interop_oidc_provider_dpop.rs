//! DPoP (RFC 9449) against panva's oidc-provider (tests/interop/oidc.mjs): a `Session` login
//! with `dpop` gets access and refresh tokens bound to its key, refreshes with proofs by the
//! same key, answers a server nonce with exactly one retry, gives up after that one retry when
//! no nonce works, and a proof it sent, replayed, is refused by the server. The binding shows
//! in the JWT access token's `cnf.jkt` and, for opaque tokens, in the server's introspection.
//!
//! What the client sent is read off the server's own request log (`GET /_interop/requests`):
//! the proofs, the nonces, the statuses and oidc-provider's reasons.
//! Needs Node and `npm ci --prefix tests/interop` (scripts/setup); fails, never skips, without.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::oidc::{Oidc, ec_thumbprint, jwt, outcomes, post_form};
use common::{TestClock, TestUi, login, within};
use mcpauth::session::{LoginOptions, LoginSummary};
use mcpauth::{Flow, MemoryStore, Session};
use mcpauth_core::Grant;
use serde_json::Value;

/// The resource the tokens are for. Port 9 (discard): nothing answers there.
const MCP_SERVER: &str = "http://127.0.0.1:9/mcp";

/// oidc.mjs's default access-token lifetime is 60 s; a clock this far ahead is inside the
/// core's 30 s refresh margin (and proofs stamped by it are well inside the server's 5 minutes).
const INTO_MARGIN: Duration = Duration::from_secs(45);

struct Peer {
    oidc: Oidc,
    ui: Arc<TestUi>,
    clock: TestClock,
    session: Session,
}

fn start(env: &[(&str, &str)]) -> Peer {
    let oidc = Oidc::start(env);
    let (ui, clock) = (TestUi::oidc_provider(&oidc.issuer), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    Peer {
        oidc,
        ui,
        clock,
        session,
    }
}

fn dpop_options(peer: &Peer) -> LoginOptions {
    let mut options = common::login_options();
    options.issuer = Some(peer.oidc.issuer.clone());
    options.probe = false;
    options.scope = Some("mcp:read".into());
    options.dpop = true;
    options
}

async fn dpop_login(peer: &Peer) -> LoginSummary {
    login(&peer.session, &peer.ui, MCP_SERVER, &dpop_options(peer)).await
}

/// The thumbprint of the grant's DPoP key.
fn key_thumbprint(grant: &Grant) -> String {
    grant
        .dpop_key
        .as_ref()
        .expect("a DPoP grant keeps its key")
        .jwk
        .thumbprint()
}

/// The `cnf.jkt` of a JWT access token.
fn bound_to(grant: &Grant) -> String {
    let (_, claims) = jwt(grant.tokens.access_token.secret());
    claims["cnf"]["jkt"]
        .as_str()
        .unwrap_or_else(|| panic!("the access token is not DPoP-bound: {claims}"))
        .to_owned()
}

/// The proof a logged request carried, as (header, claims).
fn proof_of(entry: &Value) -> (Value, Value) {
    jwt(entry["dpop"]
        .as_str()
        .unwrap_or_else(|| panic!("no DPoP proof on {entry}")))
}

/// Checks what RFC 9449 §4.2 asks of a token-endpoint proof, and returns its key's thumbprint.
fn checked_token_proof(entry: &Value, token_endpoint: &str) -> String {
    let (header, claims) = proof_of(entry);
    assert_eq!(header["typ"], "dpop+jwt", "{header}");
    assert_eq!(header["alg"], "ES256", "{header}");
    assert!(
        header["jwk"].get("d").is_none(),
        "a private key in {header}"
    );
    assert_eq!(claims["htm"], "POST", "{claims}");
    assert_eq!(claims["htu"], token_endpoint, "{claims}");
    assert!(claims["iat"].is_u64(), "{claims}");
    assert!(
        claims["jti"].as_str().is_some_and(|j| j.len() >= 16),
        "{claims}"
    );
    assert!(
        claims.get("ath").is_none(),
        "no ath at the token endpoint: {claims}"
    );
    ec_thumbprint(&header["jwk"])
}

/// Sends a refresh for `grant` by hand with `proof` (or none) as its `DPoP` header, and
/// returns the status and the OAuth error.
async fn refresh_by_hand(grant: &Grant, proof: Option<&str>) -> (u16, Value) {
    let refresh_token = grant
        .tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.secret()),
        ("client_id", grant.client.client_id.as_str()),
        ("resource", grant.resource.as_str()),
    ];
    let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
    post_form(grant.token_endpoint.as_str(), &headers, &form).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_login_binds_the_access_and_refresh_tokens_to_the_clients_key() {
    let peer = start(&[]);
    let first = dpop_login(&peer).await.grant;
    let key = key_thumbprint(&first);
    assert_eq!(first.tokens.token_type, "DPoP");
    assert_eq!(
        bound_to(&first),
        key,
        "cnf.jkt is the client key's thumbprint"
    );

    let log = peer.oidc.token_requests().await;
    assert_eq!(outcomes(&log), [(200, None)], "{log:#?}");
    assert_eq!(log[0]["grant_type"], "authorization_code");
    assert_eq!(log[0]["token_type"], "DPoP");
    assert_eq!(
        checked_token_proof(&log[0], &peer.oidc.token_endpoint()),
        key
    );

    // The refresh token is bound as well (a public client's, RFC 9449 §5): without a proof
    // oidc-provider refuses it (and does not spend it).
    let (status, body) = refresh_by_hand(&first, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let log = peer.oidc.token_requests().await;
    assert_eq!(
        log[1]["error_detail"], "failed jkt verification",
        "{log:#?}"
    );

    // The session refreshes with a proof by the same key, and the new token is bound to it.
    peer.clock.advance(INTO_MARGIN);
    let at2 = peer.session.access_token(MCP_SERVER).await.unwrap();
    let second = peer.session.current_grant(MCP_SERVER).unwrap();
    assert_ne!(at2, first.tokens.access_token);
    assert_ne!(
        second.tokens.refresh_token.as_ref().unwrap().secret(),
        first.tokens.refresh_token.as_ref().unwrap().secret(),
        "oidc.mjs rotates refresh tokens"
    );
    assert_eq!(key_thumbprint(&second), key, "one key for the grant's life");
    assert_eq!(bound_to(&second), key);
    assert_eq!(second.tokens.token_type, "DPoP");

    let log = peer.oidc.token_requests().await;
    assert_eq!(log.len(), 3, "{log:#?}");
    assert_eq!(log[2]["grant_type"], "refresh_token");
    assert_eq!(log[2]["status"], 200, "{:#}", log[2]);
    assert_eq!(
        checked_token_proof(&log[2], &peer.oidc.token_endpoint()),
        key
    );
    let (_, code_proof) = proof_of(&log[0]);
    let (_, refresh_proof) = proof_of(&log[2]);
    assert_ne!(
        code_proof["jti"], refresh_proof["jti"],
        "a fresh jti per proof"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_nonce_is_answered_with_exactly_one_retry() {
    let peer = start(&[("OIDC_DPOP_NONCE", "required")]);
    let grant = dpop_login(&peer).await.grant;
    assert_eq!(bound_to(&grant), key_thumbprint(&grant));

    // The code exchange: the first proof has no nonce and is refused with one; the retry
    // carries exactly that nonce, by the same key.
    let log = peer.oidc.token_requests().await;
    assert_eq!(
        outcomes(&log),
        [(400, Some("use_dpop_nonce".into())), (200, None)],
        "{log:#?}"
    );
    let nonce = log[0]["dpop_nonce"].as_str().expect("the server's nonce");
    let (first_header, first) = proof_of(&log[0]);
    let (retry_header, retry) = proof_of(&log[1]);
    assert!(first.get("nonce").is_none(), "{first}");
    assert_eq!(retry["nonce"], nonce);
    assert_eq!(first_header["jwk"], retry_header["jwk"]);
    assert_ne!(first["jti"], retry["jti"], "the retry is a new proof");

    // The refresh: it succeeds with at most the one retry (none when the client kept the
    // nonce it was given), and its successful proof carries a nonce.
    peer.clock.advance(INTO_MARGIN);
    peer.session.access_token(MCP_SERVER).await.unwrap();
    let refresh: Vec<Value> = peer.oidc.token_requests().await.split_off(2);
    let outcomes = outcomes(&refresh);
    assert!(
        outcomes == [(200, None)]
            || outcomes == [(400, Some("use_dpop_nonce".into())), (200, None)],
        "{refresh:#?}"
    );
    let (_, last) = proof_of(refresh.last().unwrap());
    assert!(last["nonce"].is_string(), "{last}");
    let grant = peer.session.current_grant(MCP_SERVER).unwrap();
    assert_eq!(bound_to(&grant), key_thumbprint(&grant));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_login_polls_with_proofs_and_nonces_and_gets_a_bound_token() {
    let peer = start(&[("OIDC_DPOP_NONCE", "required")]);
    let mut options = dpop_options(&peer);
    options.flow = Flow::Device;
    let grant = login(&peer.session, &peer.ui, MCP_SERVER, &options)
        .await
        .grant;
    let key = key_thumbprint(&grant);
    assert_eq!(bound_to(&grant), key);
    assert_eq!(grant.tokens.token_type, "DPoP");

    // Every poll carried a proof by the grant's key; a nonce challenge was answered at once
    // (never two in a row), and the last poll got the token.
    let log = peer.oidc.token_requests().await;
    println!("device login with DPoP nonces, polls: {:?}", outcomes(&log));
    assert!(log.len() >= 2, "{log:#?}");
    for entry in &log {
        assert_eq!(
            entry["grant_type"],
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(checked_token_proof(entry, &peer.oidc.token_endpoint()), key);
    }
    let nonce_refusals = |e: &Value| e["error"] == "use_dpop_nonce";
    assert!(
        nonce_refusals(&log[0]),
        "the first poll knew no nonce: {log:#?}"
    );
    assert!(
        log.windows(2)
            .all(|w| !(nonce_refusals(&w[0]) && nonce_refusals(&w[1]))),
        "{log:#?}"
    );
    assert_eq!(outcomes(&log).last(), Some(&(200, None)), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_nonces_never_work_gets_one_retry_and_a_clear_error() {
    let peer = start(&[("OIDC_DPOP_NONCE", "garbled")]);
    let outcome = within(
        common::LOGIN_DEADLINE,
        "login",
        peer.session.login(MCP_SERVER, &dpop_options(&peer)),
    )
    .await;
    let err = outcome.expect_err("no nonce works at this server");
    assert_eq!(err.code(), "OAUTH_ERROR", "{err}");
    assert!(err.to_string().contains("use_dpop_nonce"), "{err}");

    let log = peer.oidc.token_requests().await;
    assert_eq!(
        outcomes(&log),
        [
            (400, Some("use_dpop_nonce".into())),
            (400, Some("use_dpop_nonce".into()))
        ],
        "one request and one retry, no more: {log:#?}"
    );
    let (_, retry) = proof_of(&log[1]);
    assert_eq!(retry["nonce"], log[0]["dpop_nonce"]);
    assert!(peer.session.status().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_proof_is_refused_and_the_grant_lives_on() {
    let peer = start(&[]);
    dpop_login(&peer).await;
    peer.clock.advance(INTO_MARGIN);
    peer.session.access_token(MCP_SERVER).await.unwrap();
    let log = peer.oidc.token_requests().await;
    assert_eq!(outcomes(&log), [(200, None), (200, None)], "{log:#?}");
    let sent = log[1]["dpop"].as_str().unwrap().to_owned();

    // The proof the client sent with its refresh, replayed with the current (unspent)
    // refresh token: oidc-provider has seen its jti and refuses it before spending anything.
    let grant = peer.session.current_grant(MCP_SERVER).unwrap();
    let (status, body) = refresh_by_hand(&grant, Some(&sent)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let log = peer.oidc.token_requests().await;
    assert_eq!(
        log[2]["error_detail"], "DPoP proof JWT Replay detected",
        "{log:#?}"
    );

    // The session's own next refresh (a new proof) still works.
    peer.clock.advance(Duration::from_secs(60));
    let next = peer.session.access_token(MCP_SERVER).await.unwrap();
    assert_ne!(next, grant.tokens.access_token);
    let log = peer.oidc.token_requests().await;
    assert_eq!(log.len(), 4, "{log:#?}");
    assert_eq!(log[3]["status"], 200);
    let jtis: HashSet<String> = log
        .iter()
        .map(|e| proof_of(e).1["jti"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        jtis.len(),
        3,
        "the replay repeated one jti; the client never did"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opaque_dpop_token_is_bound_as_the_servers_introspection_says() {
    let peer = start(&[("OIDC_AT_FORMAT", "opaque")]);
    let grant = dpop_login(&peer).await.grant;
    let key = key_thumbprint(&grant);
    let introspected = introspect(&peer.oidc, grant.tokens.access_token.secret()).await;
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["token_type"], "DPoP", "{introspected}");
    assert_eq!(introspected["cnf"]["jkt"], key.as_str(), "{introspected}");
    assert_eq!(introspected["aud"], MCP_SERVER, "{introspected}");

    peer.clock.advance(INTO_MARGIN);
    let refreshed = peer.session.access_token(MCP_SERVER).await.unwrap();
    let introspected = introspect(&peer.oidc, refreshed.secret()).await;
    assert_eq!(introspected["cnf"]["jkt"], key.as_str(), "{introspected}");
}

/// RFC 7662 introspection of `token`, authenticated as oidc.mjs's client_secret_basic client
/// (a confidential client may introspect any token there).
async fn introspect(oidc: &Oidc, token: &str) -> Value {
    use base64::Engine as _;
    let client = oidc.client("basic");
    let credentials = format!(
        "{}:{}",
        client.client_id,
        client.client_secret.as_deref().unwrap()
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let url = format!("{}/token/introspection", oidc.issuer);
    let (status, body) = post_form(&url, &[("authorization", &basic)], &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}
