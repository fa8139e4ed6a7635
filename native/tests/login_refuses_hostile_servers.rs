//! A login against a server that breaks the protocol ends in a typed error with a stable code:
//! no panic, no hang, and nothing stored. Each case switches on one of the dev server's faults.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestClock, TestUi, login_options, within};
use mcpauth::{Error, MemoryStore, Session};
use mcpauth_core::flow::error::FlowError;
use mcpauth_devserver::{Config, Endpoint, Faults};

/// The session's per-request time-out in these tests: short, so a stalled endpoint fails fast,
/// yet far above what a request to 127.0.0.1 takes even on a loaded machine.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Logs in to a dev server with `faults` and returns the error (the test fails on success),
/// after checking that nothing was stored.
async fn failed_login(faults: Faults) -> Error {
    failed_login_waiting(faults, Duration::from_secs(20)).await
}

/// As [`failed_login`], giving the user `user_timeout` to answer.
async fn failed_login_waiting(faults: Faults, user_timeout: Duration) -> Error {
    let server = common::devserver(Config {
        auto_approve: true,
        faults,
        ..Config::default()
    })
    .await;
    let ui = TestUi::immediate();
    let ui_dyn: Arc<dyn mcpauth::ui::LoginUi> = ui.clone();
    let session = Session::builder(Arc::new(MemoryStore::new()))
        .ui(ui_dyn)
        .clock(TestClock::default().source())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let mut options = login_options();
    options.timeout = user_timeout;
    let outcome = within(
        Duration::from_secs(60),
        "a login against a hostile server",
        session.login(&server.mcp_url, &options),
    )
    .await;
    let err = match outcome {
        Ok(summary) => panic!("the login succeeded: {summary:?}"),
        Err(e) => e,
    };
    assert!(
        session.status().unwrap().is_empty(),
        "a failed login stored a grant"
    );
    assert!(
        session.current_grant(&server.mcp_url).is_err(),
        "a failed login left tokens"
    );
    err
}

fn assert_code(err: &Error, code: &str) {
    assert_eq!(err.code(), code, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_naming_another_issuer_is_refused() {
    let err = failed_login(Faults {
        wrong_issuer: true,
        ..Faults::default()
    })
    .await;
    assert_code(&err, "ISSUER_MISMATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_metadata_for_another_resource_is_refused() {
    let err = failed_login(Faults {
        wrong_resource: true,
        ..Faults::default()
    })
    .await;
    assert_code(&err, "RESOURCE_MISMATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_response_from_another_issuer_is_refused() {
    let err = failed_login(Faults {
        wrong_iss: true,
        ..Faults::default()
    })
    .await;
    assert_code(&err, "ISS_MISMATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_iss_that_the_metadata_promised_is_refused() {
    let err = failed_login(Faults {
        omit_iss: true,
        ..Faults::default()
    })
    .await;
    assert_code(&err, "ISS_MISSING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_pkce_s256_is_refused() {
    let err = failed_login(Faults {
        omit_code_challenge_methods: true,
        ..Faults::default()
    })
    .await;
    assert_code(&err, "PKCE_NOT_SUPPORTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_token_response_is_refused() {
    let err = failed_login(Faults {
        oversized: vec![Endpoint::Token],
        ..Faults::default()
    })
    .await;
    assert_code(&err, "RESPONSE_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_metadata_document_is_refused() {
    let err = failed_login(Faults {
        oversized: vec![Endpoint::AuthorizationServerMetadata],
        ..Faults::default()
    })
    .await;
    // Discovery tried both well-known URLs and names why each failed.
    assert_code(&err, "DISCOVERY_FAILED");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_token_response_is_refused() {
    let err = failed_login(Faults {
        malformed_json: vec![Endpoint::Token],
        ..Faults::default()
    })
    .await;
    assert_code(&err, "INVALID_JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_registration_response_is_refused() {
    let err = failed_login(Faults {
        malformed_json: vec![Endpoint::Register],
        ..Faults::default()
    })
    .await;
    assert_code(&err, "INVALID_JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_error_is_reported_as_the_servers_oauth_error() {
    let err = failed_login(Faults {
        server_error: vec![Endpoint::Token],
        ..Faults::default()
    })
    .await;
    assert_code(&err, "OAUTH_ERROR");
    let Error::Core(core) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(core.oauth().unwrap().error, "server_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_token_endpoint_times_out() {
    let started = Instant::now();
    let err = failed_login(Faults {
        stall: vec![Endpoint::Token],
        ..Faults::default()
    })
    .await;
    let took = started.elapsed();
    assert_code(&err, "TIMEOUT");
    let Error::Core(mcpauth_core::Error::Flow(FlowError::RequestTimeout { url })) = &err else {
        panic!("expected a request time-out, got {err:?}")
    };
    assert!(url.ends_with("/token"), "{url}");
    assert!(took < Duration::from_secs(45), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_metadata_endpoint_times_out() {
    let err = failed_login(Faults {
        stall: vec![Endpoint::AuthorizationServerMetadata],
        ..Faults::default()
    })
    .await;
    // Discovery tried both well-known URLs and names why each failed.
    assert_code(&err, "DISCOVERY_FAILED");
    assert!(err.to_string().contains("no answer in time"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_never_comes_times_out() {
    // The authorization page never answers, so the browser never reaches the loopback server.
    let err = failed_login_waiting(
        Faults {
            stall: vec![Endpoint::Authorize],
            ..Faults::default()
        },
        Duration::from_secs(2),
    )
    .await;
    assert_code(&err, "TIMEOUT");
    let Error::Core(mcpauth_core::Error::Flow(FlowError::Timeout { operation, .. })) = &err else {
        panic!("expected the login's time-out, got {err:?}")
    };
    assert_eq!(*operation, "login");
    assert!(err.hint().is_some_and(|h| h.contains("--timeout")), "{err}");
}
