//! A login works end to end against the dev server, in each of the three ways a user can
//! authorize (browser through the loopback server, device code, pasted redirect; a device
//! login also waits for the user's approval, or reports their denial, and gives up when the
//! login's time-out passes), a forged callback does not end a browser login, and the stored
//! login then serves `status`, `access_token` and `logout` (with revocation). A first login
//! from a bare 401 costs a small, fixed number of requests; a second one reuses the
//! registration and revokes the grant it replaces, and a device login after a browser login
//! registers a client of its own (one registration per flow, one grant per server).
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    LOGIN_DEADLINE, TestClock, TestUi, login, login_options, mcp_status, wait_until, within,
};
use mcpauth::{Error, Flow, MemoryStore, Session};
use mcpauth_devserver::{Config, DevServerHandle, Endpoint};

/// Requests a first login to the co-hosted dev server sends itself (the browser's GET of the
/// authorization URL is not among them): the 401 probe; the protected resource metadata and,
/// alongside it, the origin's AS metadata (speculative, and right here because the AS is
/// co-hosted); dynamic registration; the code exchange; userinfo (no ID token without
/// `openid`, so the display name comes from there).
const FIRST_LOGIN_REQUESTS: u64 = 6;

fn new_session() -> (Session, Arc<TestUi>) {
    let ui = TestUi::immediate();
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &TestClock::default());
    (session, ui)
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn assert_token_works(server: &DevServerHandle, session: &Session) {
    let token = session.access_token(&server.mcp_url).await.unwrap();
    assert_eq!(mcp_status(&server.mcp_url, Some(token.secret())).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_via_the_loopback_server_gets_a_working_token() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = new_session();
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;

    let grant = &summary.grant;
    assert_eq!(grant.issuer, server.issuer);
    assert_eq!(grant.server.as_str(), server.mcp_url);
    // The challenge's scope, plus offline_access because the AS advertises it.
    assert_eq!(
        grant.tokens.scope.as_deref(),
        Some("mcp:read offline_access")
    );
    assert!(grant.tokens.refresh_token.is_some());
    assert_eq!(summary.identity.as_deref(), Some("dev@example.com"));

    let log = ui.log();
    assert_eq!(log.authorization_urls.len(), 1);
    assert!(log.failures.is_empty(), "{:?}", log.failures);
    assert_eq!(log.done, 1);
    let url = &log.authorization_urls[0];
    let redirect_uri = param(url, "redirect_uri").unwrap();
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
        "{redirect_uri}"
    );
    assert_eq!(param(url, "resource").as_deref(), Some(&*server.mcp_url));
    assert_eq!(param(url, "code_challenge_method").as_deref(), Some("S256"));
    assert_token_works(&server, &session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_gets_a_working_token() {
    let server = common::devserver(Config {
        auto_approve: true,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let (session, ui) = new_session();
    let mut options = login_options();
    options.flow = Flow::Device;
    let summary = login(&session, &ui, &server.mcp_url, &options).await;

    assert!(summary.grant.tokens.refresh_token.is_some());
    let log = ui.log();
    assert_eq!(log.user_codes.len(), 1);
    assert!(log.authorization_urls.is_empty());
    let stats = server.stats();
    assert_eq!(stats.requests_to(Endpoint::DeviceAuthorization), 1);
    assert_eq!(stats.requests_to(Endpoint::Authorize), 0);
    // The server approves on the first poll but answers it with authorization_pending.
    let polls = stats.token_requests("urn:ietf:params:oauth:grant-type:device_code");
    assert_eq!(polls, 2, "{stats:#?}");
    assert_token_works(&server, &session).await;
}

/// Starts a device login on a dev server that waits for the user, and returns the running
/// login and the user code once the session has polled at least once.
async fn pending_device_login(
    server: &DevServerHandle,
) -> (
    tokio::task::JoinHandle<mcpauth::Result<mcpauth::LoginSummary>>,
    String,
    Arc<TestUi>,
) {
    let (session, ui) = new_session();
    let mut options = login_options();
    options.flow = Flow::Device;
    let url = server.mcp_url.clone();
    let login = tokio::spawn(async move { session.login(&url, &options).await });
    let polled = || {
        server
            .stats()
            .token_requests("urn:ietf:params:oauth:grant-type:device_code")
            > 0
    };
    wait_until(Duration::from_secs(60), "the first device poll", polled).await;
    let code = ui.log().user_codes.first().cloned().expect("a user code");
    (login, code, ui)
}

fn waiting_devserver_config() -> Config {
    Config {
        auto_approve: false,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_waits_for_the_users_approval() {
    let server = common::devserver(waiting_devserver_config()).await;
    let (login, user_code, _ui) = pending_device_login(&server).await;
    assert!(server.decide_device(&user_code, true));
    let summary = within(LOGIN_DEADLINE, "the device login", login)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e} [{}]", e.code()));
    assert!(summary.grant.tokens.refresh_token.is_some());
    let stats = server.stats();
    let polls = stats.token_requests("urn:ietf:params:oauth:grant-type:device_code");
    assert!(polls >= 2, "{stats:#?}");
    let token = summary.grant.tokens.access_token;
    assert_eq!(mcp_status(&server.mcp_url, Some(token.secret())).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_device_login_reports_access_denied() {
    let server = common::devserver(waiting_devserver_config()).await;
    let (login, user_code, ui) = pending_device_login(&server).await;
    assert!(server.decide_device(&user_code, false));
    let err = within(LOGIN_DEADLINE, "the device login", login)
        .await
        .unwrap()
        .expect_err("a denied login must fail");
    assert_eq!(err.code(), "OAUTH_ERROR", "{err}");
    let Error::Core(core) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(core.oauth().unwrap().error, "access_denied");
    assert_eq!(ui.log().done, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_timeout_bounds_the_device_flow() {
    let server = common::devserver(waiting_devserver_config()).await;
    let (session, _ui) = new_session();
    let mut options = login_options();
    options.flow = Flow::Device;
    options.timeout = Duration::from_secs(3);
    let started = std::time::Instant::now();
    let err = within(
        LOGIN_DEADLINE,
        "the device login",
        session.login(&server.mcp_url, &options),
    )
    .await
    .expect_err("nobody approves, so the login must time out");
    assert_eq!(err.code(), "TIMEOUT", "{err}");
    assert!(err.to_string().contains("device login"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(session.status().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_is_ignored_and_the_browser_login_goes_on() {
    let server = common::auto_approving_devserver().await;
    let ui = TestUi::immediate_after_forgery();
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &TestClock::default());
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;

    assert!(summary.grant.tokens.refresh_token.is_some());
    let log = ui.log();
    assert!(log.failures.is_empty(), "{:?}", log.failures);
    assert_eq!(log.foreign_callbacks, 1, "the UI was told at once");
    assert_eq!(server.stats().requests_to(Endpoint::Token), 1);
    assert_token_works(&server, &session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paste_login_exchanges_the_pasted_redirect() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = new_session();
    let mut options = login_options();
    options.flow = Flow::Paste;
    let summary = login(&session, &ui, &server.mcp_url, &options).await;

    assert!(summary.grant.tokens.refresh_token.is_some());
    let log = ui.log();
    assert_eq!(log.authorization_urls.len(), 1);
    assert!(log.failures.is_empty(), "{:?}", log.failures);
    assert_eq!(server.stats().requests_to(Endpoint::Authorize), 1);
    assert_token_works(&server, &session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_login_registers_for_its_flow_and_replaces_the_browser_logins_grant() {
    let server = common::devserver(Config {
        auto_approve: true,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let (session, ui) = new_session();
    let browser = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let mut options = login_options();
    options.flow = Flow::Device;
    let device = login(&session, &ui, &server.mcp_url, &options).await;

    let stats = server.stats();
    // Some servers allow one non-refresh grant type per client: one registration per flow.
    assert_eq!(stats.registrations, 2, "{stats:#?}");
    // One grant per server: the device login's replaced (and revoked) the browser login's.
    assert_eq!(stats.requests_to(Endpoint::Revoke), 1, "{stats:#?}");
    assert_eq!(session.status().unwrap().len(), 1);
    let stored = session.current_grant(&server.mcp_url).unwrap();
    assert_eq!(stored.tokens.access_token, device.grant.tokens.access_token);
    assert_ne!(stored.client.client_id, browser.grant.client.client_id);
    let old = browser.grant.tokens.access_token;
    assert_eq!(mcp_status(&server.mcp_url, Some(old.secret())).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_token_and_logout_work_on_the_stored_login() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = new_session();
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;

    let status = session.status().unwrap();
    assert_eq!(status.len(), 1, "{status:#?}");
    let entry = &status[0];
    assert_eq!(entry.server, server.mcp_url);
    assert_eq!(entry.issuer, server.issuer);
    // The identity the login showed, kept with the grant.
    assert_eq!(entry.identity, summary.identity);
    assert_eq!(entry.identity.as_deref(), Some("dev@example.com"));
    assert_eq!(entry.scope.as_deref(), Some("mcp:read offline_access"));
    assert!(entry.refreshable);
    let left = entry.expires_in().expect("an expiry");
    assert!(
        left > Duration::from_secs(3000) && left <= Duration::from_secs(3600),
        "{left:?}"
    );

    // A fresh token comes from the store, with no request.
    let sent = session.requests_sent();
    let token = session.access_token(&server.mcp_url).await.unwrap();
    assert_eq!(token.secret(), summary.grant.tokens.access_token.secret());
    assert_eq!(session.requests_sent(), sent);

    server.reset();
    let warnings = session.logout(&server.mcp_url).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(server.stats().requests_to(Endpoint::Revoke), 1);
    assert!(session.status().unwrap().is_empty());
    let gone = session.access_token(&server.mcp_url).await.unwrap_err();
    assert_eq!(gone.code(), "LOGIN_REQUIRED");
    // Revoking the refresh token took its access token with it.
    assert_eq!(mcp_status(&server.mcp_url, Some(token.secret())).await, 401);
    let again = session.logout(&server.mcp_url).await.unwrap_err();
    assert_eq!(again.code(), "LOGIN_REQUIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_login_from_a_bare_401_takes_six_requests() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = new_session();
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let stats = server.stats();
    println!(
        "dev server (co-hosted AS), first login: {} requests by mcpauth, {} in all with the \
         browser's; per endpoint: {:?}",
        summary.requests, stats.total_requests, stats.requests
    );
    assert_eq!(summary.requests, FIRST_LOGIN_REQUESTS);
    // Everything the server saw, except the browser's one GET /authorize.
    assert_eq!(stats.total_requests, summary.requests + 1, "{stats:#?}");
    assert!(stats.not_found.is_empty(), "{:?}", stats.not_found);

    // Logging in again reuses the registration, and revokes the grant it replaces (one
    // grant per server).
    server.reset();
    let again = login(&session, &ui, &server.mcp_url, &login_options()).await;
    println!("second login: {} requests", again.requests);
    assert_eq!(again.requests, FIRST_LOGIN_REQUESTS - 1 + 1);
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    let stats = server.stats();
    assert_eq!(stats.registrations, 0, "{stats:#?}");
    assert_eq!(stats.requests_to(Endpoint::Revoke), 1, "{stats:#?}");
    let first = summary.grant.tokens.access_token;
    assert_eq!(mcp_status(&server.mcp_url, Some(first.secret())).await, 401);
    assert_token_works(&server, &session).await;
}
