//! No secret reaches a log, an error message or `Debug` output: with every log on at its most
//! verbose (`tracing` at TRACE for every target, and the `log` records reqwest and its stack
//! write), a browser login with a confidential client, an authorized MCP request, a forced
//! refresh, a device login, a logout with revocation, and the error paths of a refused
//! refresh, a callback with the wrong `iss` and a callback no login waits for all run against
//! the dev server. Every secret it issued or was sent (access and refresh tokens,
//! authorization and device codes, the client secret, each `state` and PKCE verifier) is then
//! looked for in the captured logs, in every error's `Display` and `Debug`, and in the `Debug`
//! output of the session, the client, the grants, the login summaries, statuses and stored
//! records.
//!
//! The "browser" that follows the authorization URL speaks HTTP/1.1 by hand: reqwest logs the
//! redirects it sees (`Location` with the code and `state`), and the capture cannot tell the
//! test's reqwest from mcpauth's.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{LOGIN_DEADLINE, TestClock, login_options, mcp_post, rpc, within};
use mcpauth::session::{LoginOptions, LoginSummary, PreRegisteredClient, Profile};
use mcpauth::ui::{BoxFuture, LoginUi};
use mcpauth::{AuthClient, Flow, MemoryStore, Session, TokenStore as _};
use mcpauth_core::flow::store::{GrantRecord, PendingLogin, RegistrationRecord, key_kind};
use mcpauth_core::{ClientSecret, DeviceAuthorization, TokenEndpointAuthMethod};
use mcpauth_devserver::{ClientAuth, Config, Faults, RegisteredClient};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

/// Everything logged in this process, through `tracing` and through `log`.
static CAPTURED: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Appends to [`CAPTURED`].
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `log` records (reqwest, rustls, the browser launcher), into the same buffer.
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "{} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        lock(&self.0).extend_from_slice(line.as_bytes());
    }

    fn flush(&self) {}
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Installs the process-wide capture at the most verbose level, once.
fn capture() -> Arc<Mutex<Vec<u8>>> {
    Arc::clone(CAPTURED.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Capture(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        log::set_boxed_logger(Box::new(LogCapture(Arc::clone(&buffer)))).expect("the only logger");
        log::set_max_level(log::LevelFilter::Trace);
        buffer
    }))
}

/// The secrets of `secrets` found in `text`.
fn leaked<'a>(text: &str, secrets: &'a [String]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|secret| text.contains(secret.as_str()))
        .map(String::as_str)
        .collect()
}

/// What the test looks for secrets in: each item named, for the failure message.
#[derive(Default)]
struct Shown(Vec<(String, String)>);

impl Shown {
    fn debug(&mut self, what: &str, value: &impl std::fmt::Debug) {
        self.0
            .push((format!("{what} (Debug)"), format!("{value:?}")));
        self.0
            .push((format!("{what} (Debug, pretty)"), format!("{value:#?}")));
    }

    fn error(&mut self, what: &str, error: &(impl std::fmt::Display + std::fmt::Debug)) {
        self.0
            .push((format!("{what} (Display)"), error.to_string()));
        self.debug(what, error);
    }
}

/// Follows the authorization URL to the loopback callback with hand-written HTTP/1.1 requests
/// (the dev server approves at once); shows device codes to no one (it approves those itself).
struct RawBrowser;

impl LoginUi for RawBrowser {
    fn authorize(&self, url: &Url) {
        let url = url.clone();
        tokio::spawn(async move {
            if let Some(callback) = raw_get(&url).await {
                if let Ok(callback) = Url::parse(&callback) {
                    raw_get(&callback).await;
                }
            }
        });
    }

    fn paste_redirect(&self, _: &Url) -> BoxFuture<'_, mcpauth::Result<String>> {
        Box::pin(std::future::pending())
    }

    fn device_code(&self, _: &DeviceAuthorization) {}
}

/// `GET url` over a fresh connection; the response's `Location`, if any.
async fn raw_get(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8_lossy(&response);
    response
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
}

async fn login(session: &Session, url: &str, options: &LoginOptions) -> LoginSummary {
    within(LOGIN_DEADLINE, "login", session.login(url, options))
        .await
        .unwrap()
}

#[test]
fn the_leak_check_finds_a_secret_anywhere_in_the_text() {
    let secrets = vec!["at_s3cret".to_owned(), "rt_other".to_owned()];
    assert_eq!(leaked("GET /mcp token=at_s3cret;", &secrets), ["at_s3cret"]);
    assert!(leaked("GET /mcp", &secrets).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_errors_or_debug_output() {
    let captured = capture();
    tracing::info!("capture check: this line must be captured");
    let server = common::devserver(Config {
        auto_approve: true,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let client_secret = "cs_confidential_client_s3cret_value";
    server.register_client(RegisteredClient {
        client_id: "confidential".into(),
        auth: ClientAuth::ClientSecretBasic(client_secret.into()),
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
    });
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::default();
    let session = Session::builder(store.clone())
        .ui(Arc::new(RawBrowser))
        .clock(clock.source())
        .timeout(Duration::from_secs(30))
        .client_name("mcpauth secrets test")
        .build()
        .unwrap();
    let url = server.mcp_url.clone();
    let mut shown = Shown::default();

    // A browser login with a confidential client.
    let mut options = login_options();
    options.client = Some(PreRegisteredClient {
        issuer: None,
        client_id: "confidential".into(),
        client_secret: Some(ClientSecret::new(client_secret)),
        auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
        key_alg: None,
        key_id: None,
    });
    shown.debug("login options", &options);
    let summary = login(&session, &url, &options).await;
    shown.debug("browser login summary", &summary);
    shown.debug("grant", &summary.grant);

    // An MCP request through the client.
    let client = AuthClient::with_session(session.clone()).unwrap();
    let body = rpc(1, "tools/list", Value::Null);
    let response = within(Duration::from_secs(30), "MCP request", async {
        client
            .execute(&url, |http| mcp_post(http, &url, body.clone()))
            .await
    })
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    shown.debug("MCP response", &response);
    shown.debug("auth client", &client);

    // A refresh, forced by moving the client's clock past the access token's expiry.
    let refreshes = server.stats().refreshes;
    clock.advance(Duration::from_secs(2 * 3600));
    let token = session.access_token(&url).await.unwrap();
    assert_eq!(server.stats().refreshes, refreshes + 1);
    shown.debug("access token", &token);

    // A device login under another profile.
    let device = session.with_profile(Some(Profile::parse("device").unwrap()));
    let mut device_options = login_options();
    device_options.flow = Flow::Device;
    let device_summary = login(&device, &url, &device_options).await;
    shown.debug("device login summary", &device_summary);
    shown.debug("statuses", &session.status().unwrap());
    shown.debug("session", &session);
    shown.debug("store", &store);
    record_debug(&store, &mut shown);

    // A logout that revokes.
    let revocations = server.stats().revocations;
    let warnings = session.logout(&url).await.unwrap();
    assert!(server.stats().revocations > revocations);
    for warning in &warnings {
        shown.error("logout warning", warning);
    }

    // A pending login, as a web app's begin_login leaves it in the store.
    let pending = within(Duration::from_secs(30), "begin_login", async {
        session
            .begin_login(&url, "http://127.0.0.1:9/callback", &login_options())
            .await
    })
    .await
    .unwrap();
    assert!(pending.contains("state="), "{pending}");
    record_debug(&store, &mut shown);
    shown.debug("store with a pending login", &store);

    // A callback no login waits for.
    let error = session
        .complete_login("http://127.0.0.1:9/callback?code=code_forged_value&state=st_forged_value")
        .await
        .unwrap_err();
    shown.error("callback without a login", &error);

    // A refused refresh: the refresh token has expired on the server's clock.
    server.set_faults(Faults {
        refresh_token_ttl_ms: Some(1_000),
        ..Faults::default()
    });
    login(&session, &url, &login_options()).await;
    server.advance_clock(Duration::from_secs(60));
    clock.advance(Duration::from_secs(2 * 3600));
    let error = session.access_token(&url).await.unwrap_err();
    shown.error("refused refresh", &error);

    // A callback with the wrong `iss` (RFC 9207).
    server.set_faults(Faults {
        wrong_iss: true,
        ..Faults::default()
    });
    let failed = within(LOGIN_DEADLINE, "login with the wrong iss", async {
        session.login(&url, &login_options()).await
    })
    .await
    .unwrap_err();
    assert_eq!(failed.code(), "ISS_MISMATCH", "{failed}");
    shown.error("callback with the wrong iss", &failed);
    server.set_faults(Faults::default());

    // What is looked for: every secret the server issued or was sent.
    let secrets = server.secrets();
    for prefix in ["at_", "rt_", "code_", "dc_"] {
        assert!(
            secrets.iter().any(|s| s.starts_with(prefix)),
            "no {prefix} secret collected: {} secrets",
            secrets.len()
        );
    }
    assert!(secrets.iter().any(|s| s == client_secret));
    // States and verifiers (neither has a server prefix): at least one per code login.
    let unprefixed = secrets
        .iter()
        .filter(|s| {
            !["at_", "rt_", "code_", "dc_", "cs_"]
                .iter()
                .any(|p| s.starts_with(p))
        })
        .count();
    assert!(unprefixed >= 4, "states and verifiers: {unprefixed}");

    let logs = String::from_utf8_lossy(&lock(&captured)).into_owned();
    // The capture works: it holds the line above, the driver's requests with their paths,
    // and the HTTP stack's own records.
    for expected in [
        "capture check",
        "mcpauth::driver",
        "sending request",
        "/token",
        "/register",
        "/device_authorization",
        "/revoke",
        "status=200",
    ] {
        assert!(logs.contains(expected), "the logs lack {expected:?}");
    }
    assert!(
        logs.lines().any(|l| !l.contains("mcpauth")),
        "only mcpauth's own lines were captured"
    );
    let found = leaked(&logs, &secrets);
    assert!(found.is_empty(), "secrets in the logs: {found:?}");
    for (what, text) in &shown.0 {
        let found = leaked(text, &secrets);
        assert!(found.is_empty(), "secrets in {what}: {found:?}\n{text}");
    }
    server.shutdown().await;
}

/// Adds the `Debug` output of every record in `store`, parsed as its kind.
fn record_debug(store: &MemoryStore, shown: &mut Shown) {
    for key in store.keys().unwrap() {
        let Some(bytes) = store.load(&key).unwrap() else {
            continue;
        };
        let text = String::from_utf8(bytes).unwrap();
        let kind = key_kind(&key);
        match kind {
            "grant" => shown.debug(kind, &GrantRecord::parse(&key, &text).unwrap()),
            "client" => shown.debug(
                kind,
                &serde_json::from_str::<RegistrationRecord>(&text).unwrap(),
            ),
            "pending" => shown.debug(kind, &PendingLogin::parse(&key, &text).unwrap()),
            _ => {}
        }
    }
}
