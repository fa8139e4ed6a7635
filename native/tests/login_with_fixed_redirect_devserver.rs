//! A login with a fixed redirect URI, as a gateway or web app runs it: `begin_login` stops at
//! the authorization URL with the login saved in the store, and `complete_login` on another
//! session over that store (another replica) finishes it from the callback alone, storing the
//! grant under the profile the login was begun for. A callback works once; one whose `state`
//! names no pending login is refused without a request; an error redirect ends the login and
//! deletes its record.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestClock, TestUi, http_client, login_options, mcp_status, within};
use mcpauth::session::Profile;
use mcpauth::store::TokenStore;
use mcpauth::{Error, MemoryStore, Session};
use mcpauth_devserver::{Config, DevServerHandle, Faults};
use url::Url;

/// Where the authorization server sends the user agent back to. Nothing listens there: the
/// test takes the redirect's `Location` instead of following it.
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

fn sessions(store: Arc<MemoryStore>) -> (Session, Session) {
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let begins = common::session(store.clone(), &ui, &clock)
        .with_profile(Some(Profile::parse("alice").unwrap()));
    let completes = common::session(store, &ui, &clock);
    (begins, completes)
}

/// The `Location` the dev server (approving at once) redirects the authorization URL to.
async fn approve(url: &str) -> String {
    let resp = http_client(false).get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302, "{:?}", resp);
    resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn server() -> DevServerHandle {
    common::devserver(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await
}

fn pending_keys(store: &MemoryStore) -> Vec<String> {
    store
        .keys()
        .unwrap()
        .into_iter()
        .filter(|k| k.starts_with("pending#"))
        .collect()
}

#[tokio::test]
async fn a_login_begun_on_one_session_completes_on_another_under_the_first_ones_profile() {
    let server = server().await;
    let store = Arc::new(MemoryStore::new());
    let (alice, other) = sessions(store.clone());

    let url = within(
        Duration::from_secs(30),
        "begin_login",
        alice.begin_login(&server.mcp_url, REDIRECT_URI, &login_options()),
    )
    .await
    .unwrap();
    let url = Url::parse(&url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("redirect_uri").as_deref(), Some(REDIRECT_URI));
    assert_eq!(
        pending_keys(&store).len(),
        1,
        "the login waits in the store"
    );
    assert_eq!(server.stats().token_grants.len(), 0, "no token request yet");

    let callback = approve(url.as_str()).await;
    assert!(callback.starts_with(REDIRECT_URI), "{callback}");
    let summary = within(
        Duration::from_secs(30),
        "complete_login",
        other.complete_login(&callback),
    )
    .await
    .unwrap();
    assert!(
        pending_keys(&store).is_empty(),
        "the pending login is used up"
    );
    assert_eq!(summary.profile.as_ref().map(Profile::as_str), Some("alice"));

    let stored = alice.current_grant(&server.mcp_url).unwrap();
    assert_eq!(
        stored.tokens.access_token.secret(),
        summary.grant.tokens.access_token.secret()
    );
    assert!(matches!(
        other.current_grant(&server.mcp_url),
        Err(Error::NotLoggedIn { .. })
    ));
    let token = alice.access_token(&server.mcp_url).await.unwrap();
    assert_eq!(mcp_status(&server.mcp_url, Some(token.secret())).await, 200);

    let requests = server.stats().total_requests;
    let again = other.complete_login(&callback).await.unwrap_err();
    assert_eq!(again.code(), "NO_PENDING_AUTHORIZATION", "{again}");
    let foreign = format!("{REDIRECT_URI}?code=c&state=not-a-login");
    let foreign = other.complete_login(&foreign).await.unwrap_err();
    assert!(matches!(foreign, Error::NoPendingLogin), "{foreign}");
    assert_eq!(server.stats().total_requests, requests, "refused locally");
}

#[tokio::test]
async fn an_error_redirect_ends_the_login_and_deletes_its_record() {
    let server = server().await;
    server.set_faults(Faults {
        deny_authorization: Some("access_denied".into()),
        ..Faults::default()
    });
    let store = Arc::new(MemoryStore::new());
    let (alice, other) = sessions(store.clone());
    let url = alice
        .begin_login(&server.mcp_url, REDIRECT_URI, &login_options())
        .await
        .unwrap();
    let callback = approve(&url).await;
    assert!(callback.contains("error="), "{callback}");
    let err = other.complete_login(&callback).await.unwrap_err();
    assert_eq!(err.code(), "OAUTH_ERROR", "{err}");
    assert!(pending_keys(&store).is_empty());
    assert!(alice.current_grant(&server.mcp_url).is_err());
}
