//! Helpers shared by the native crate's scenario and interop tests: a headless [`TestUi`], a
//! movable clock, HTTP clients, deadlines, the dev server, the Node interop servers, and raw
//! HTTP servers ([`raw`]) for behaviour no real server has (a 403 that never ends).
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::future::Future;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mcpauth::session::{LoginOptions, LoginSummary, Session};
use mcpauth::store::TokenStore;
use mcpauth::ui::{BoxFuture, LoginUi};
use mcpauth::{Error, Result};
use mcpauth_core::{DeviceAuthorization, Time};
use mcpauth_devserver::{Config, DevServer, DevServerHandle};
use serde_json::Value;
use url::Url;

pub mod kill_writes;
pub mod oidc;
mod raw;
pub mod redis_server;
pub mod refresh_children;

#[allow(unused_imports)] // each test binary uses its own subset
pub use raw::{Request, respond, serve};

/// How long any one login may take before the test calls it a hang. Generous: a loaded
/// two-core machine running Node servers and several test binaries is slow, and oidc-provider's
/// device flow alone waits 5 s between polls.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(90);

/// What tests give a login to wait for the user (the loopback callback, the device grant).
pub const USER_TIMEOUT: Duration = Duration::from_secs(60);

/// The `mcpauth` CLI with a throwaway file store and configuration under `dir`, and a
/// "browser" that follows the authorization URL to the loopback callback (the dev server
/// approves at once). Killed when dropped, so a failing test leaves no process behind.
pub fn cli(dir: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpauth"));
    command
        .env("MCPAUTH_DATA_DIR", dir.join("data"))
        .env("MCPAUTH_CONFIG_DIR", dir.join("config"))
        .env("MCPAUTH_STORE", "file")
        .env("MCPAUTH_BROWSER", "curl -fsSL -o /dev/null")
        .env_remove("MCPAUTH_NO_BROWSER")
        .env_remove("MCPAUTH_PROFILE")
        .kill_on_drop(true);
    command
}

/// Runs the CLI ([`cli`]) with `args` and no stdin to completion, within a minute.
pub async fn run_cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let run = cli(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    within(Duration::from_secs(60), "the mcpauth CLI", run)
        .await
        .expect("mcpauth runs")
}

/// Runs the CLI ([`run_cli`]) and expects success; returns stdout. A failure shows the
/// arguments and both outputs.
pub async fn run_cli_ok(dir: &std::path::Path, args: &[&str]) -> String {
    succeeded(&run_cli(dir, args).await, args).0
}

/// The stdout and stderr of a CLI run with `args` that must have succeeded; a failure shows
/// the arguments and both outputs.
pub fn succeeded(out: &std::process::Output, args: &[&str]) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "mcpauth {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// Installs the *ring* TLS provider that the crate's reqwest build (`rustls-no-provider`)
/// needs before any `reqwest::Client` outside [`mcpauth::HttpDriver`] can be built.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain HTTP client for tests: no proxy, a generous time-out, redirects followed or not.
pub fn http_client(follow_redirects: bool) -> reqwest::Client {
    init();
    let policy = if follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .redirect(policy)
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("test HTTP client")
}

/// Login options for tests: the user "answers" within [`USER_TIMEOUT`].
pub fn login_options() -> LoginOptions {
    let mut options = LoginOptions::default();
    options.timeout = USER_TIMEOUT;
    options
}

/// Runs `fut`, failing the test (not hanging it) if it takes longer than `limit`.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// Polls `check` every 10 ms until it holds, failing the test after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    within(limit, what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Logs in, failing the test with the error, its code and what the UI saw.
pub async fn login(
    session: &Session,
    ui: &TestUi,
    server_url: &str,
    options: &LoginOptions,
) -> LoginSummary {
    let outcome = within(LOGIN_DEADLINE, "login", session.login(server_url, options)).await;
    match outcome {
        Ok(summary) => summary,
        Err(e) => panic!(
            "login to {server_url} failed: {e} [{}]\nUI: {:#?}",
            e.code(),
            ui.log()
        ),
    }
}

/// A short, non-secret fingerprint of a token for comparisons in output.
pub fn fingerprint(token: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

// ----- time -----

/// A clock that starts at the system time and can be moved forward, for
/// [`SessionBuilder::clock`](mcpauth::session::SessionBuilder::clock).
///
/// By default it runs with the system clock; a [`frozen`](Self::frozen) one moves only when
/// advanced, so a test of short lifetimes (a 2 s token) decides the same however slow the
/// machine is.
#[derive(Clone, Debug, Default)]
pub struct TestClock {
    offset_ms: Arc<AtomicU64>,
    /// The start of a frozen clock; `None` follows the system clock.
    frozen_at: Option<Time>,
}

impl TestClock {
    /// A clock that stands still at the system time of its creation until advanced.
    pub fn frozen() -> Self {
        Self::frozen_at(Time::from(SystemTime::now()))
    }

    /// A clock that stands still at `start` until advanced (several processes can share one
    /// now this way).
    pub fn frozen_at(start: Time) -> Self {
        Self {
            offset_ms: Arc::default(),
            frozen_at: Some(start),
        }
    }

    /// A clock running `offset` ahead of the system clock.
    pub fn ahead_by(offset: Duration) -> Self {
        let clock = Self::default();
        clock.advance(offset);
        clock
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).expect("a test-sized duration");
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// The current (moved) time.
    pub fn now(&self) -> Time {
        self.frozen_at
            .unwrap_or_else(|| Time::from(SystemTime::now()))
            .add(Duration::from_millis(self.offset_ms.load(Ordering::SeqCst)))
    }

    /// The clock as a session takes it.
    pub fn source(&self) -> impl Fn() -> Time + Send + Sync + 'static {
        let clock = self.clone();
        move || clock.now()
    }
}

/// A session over `store` with `ui` and `clock`.
pub fn session(store: Arc<dyn TokenStore>, ui: &Arc<TestUi>, clock: &TestClock) -> Session {
    let ui: Arc<dyn LoginUi> = ui.clone();
    Session::builder(store)
        .ui(ui)
        .clock(clock.source())
        .timeout(Duration::from_secs(30))
        .client_name("mcpauth tests")
        .build()
        .expect("session")
}

// ----- the headless user -----

/// How the [`TestUi`] approves authorizations.
#[derive(Clone, Debug)]
pub enum Approver {
    /// The authorization server approves at once (the dev server with `auto_approve`, the MCP
    /// SDK's demo AS): the "browser" GETs the authorization URL and follows the redirect to the
    /// loopback server. Device grants are approved by the server itself on the first poll
    /// (`auto_approve`), or by the test through `DevServerHandle::decide_device`.
    Immediate,
    /// As [`Approver::Immediate`], but a forged callback (another `state`) reaches the
    /// loopback server first, as a hostile page or a stale tab would send it.
    ImmediateAfterForgery,
    /// Only the forged callback: the real authorization is never followed, so the login can
    /// only time out.
    ForgeryOnly,
    /// oidc-provider's login and consent pages, walked by `tests/interop/approve.mjs`; the
    /// callback URL it prints is then fetched like a browser would.
    OidcProvider {
        /// The issuer, for the device page.
        issuer: String,
    },
}

/// What the [`TestUi`] was asked to do, and what went wrong on its side.
#[derive(Clone, Debug, Default)]
pub struct UiLog {
    /// Every authorization URL shown (browser and paste flows), in order.
    pub authorization_urls: Vec<Url>,
    /// Every device user code shown.
    pub user_codes: Vec<String>,
    /// Failures of the approval tasks (a login waiting on the loopback then times out).
    pub failures: Vec<String>,
    /// How many callbacks the login ignored as not its own (and said so).
    pub foreign_callbacks: usize,
    /// Warnings shown, as their codes.
    pub warnings: Vec<String>,
    /// How many logins finished successfully.
    pub done: usize,
}

impl UiLog {
    /// The `scope` parameter of the `n`th authorization URL.
    pub fn scope_of(&self, n: usize) -> Option<String> {
        let url = self.authorization_urls.get(n)?;
        url.query_pairs()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
    }
}

/// A [`LoginUi`] that approves headlessly, as a person clicking "approve" would.
pub struct TestUi {
    approver: Approver,
    browser: reqwest::Client,
    manual: reqwest::Client,
    log: Arc<Mutex<UiLog>>,
}

impl TestUi {
    /// A UI for servers that approve at once.
    pub fn immediate() -> Arc<Self> {
        Self::new(Approver::Immediate)
    }

    /// A UI for servers that approve at once, with a forged callback first.
    pub fn immediate_after_forgery() -> Arc<Self> {
        Self::new(Approver::ImmediateAfterForgery)
    }

    /// A UI that only sends a forged callback and never authorizes.
    pub fn forgery_only() -> Arc<Self> {
        Self::new(Approver::ForgeryOnly)
    }

    /// A UI for oidc-provider at `issuer`.
    pub fn oidc_provider(issuer: &str) -> Arc<Self> {
        Self::new(Approver::OidcProvider {
            issuer: issuer.to_owned(),
        })
    }

    fn new(approver: Approver) -> Arc<Self> {
        Arc::new(Self {
            approver,
            browser: http_client(true),
            manual: http_client(false),
            log: Arc::default(),
        })
    }

    /// A snapshot of what happened so far.
    pub fn log(&self) -> UiLog {
        lock(&self.log).clone()
    }

    fn record(&self, update: impl FnOnce(&mut UiLog)) {
        update(&mut lock(&self.log));
    }

    /// The callback URL for the authorization at `url`, without visiting it.
    async fn approve(&self, url: &Url) -> std::result::Result<String, String> {
        match &self.approver {
            Approver::Immediate | Approver::ImmediateAfterForgery | Approver::ForgeryOnly => {
                let resp = self
                    .manual
                    .get(url.as_str())
                    .send()
                    .await
                    .map_err(|e| format!("GET {url}: {e}"))?;
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("GET {url}: {} without Location", resp.status()))?;
                Ok(location.to_owned())
            }
            Approver::OidcProvider { .. } => approve_mjs(&["authorize", url.as_str()]).await,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LoginUi for TestUi {
    fn authorize(&self, url: &Url) {
        self.record(|l| l.authorization_urls.push(url.clone()));
        let approver = self.approver.clone();
        let (browser, manual, log) = (self.browser.clone(), self.manual.clone(), self.log.clone());
        let url = url.clone();
        tokio::spawn(async move {
            let visited = match approver {
                // Follows the redirect chain, so the last hop lands on the loopback server.
                Approver::Immediate => visit(&browser, url.as_str()).await,
                Approver::ForgeryOnly => forge(&manual, &url).await,
                Approver::ImmediateAfterForgery => match forge(&manual, &url).await {
                    Ok(()) => visit(&browser, url.as_str()).await,
                    Err(e) => Err(e),
                },
                Approver::OidcProvider { .. } => {
                    match approve_mjs(&["authorize", url.as_str()]).await {
                        Ok(callback) => visit(&manual, &callback).await,
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(e) = visited {
                lock(&log).failures.push(e);
            }
        });
    }

    fn paste_redirect(&self, url: &Url) -> BoxFuture<'_, Result<String>> {
        self.record(|l| l.authorization_urls.push(url.clone()));
        let url = url.clone();
        Box::pin(async move {
            self.approve(&url).await.map_err(|reason| {
                self.record(|l| l.failures.push(reason.clone()));
                Error::Callback { reason }
            })
        })
    }

    fn device_code(&self, authorization: &DeviceAuthorization) {
        let user_code = authorization.user_code.clone();
        self.record(|l| l.user_codes.push(user_code.clone()));
        if let Approver::OidcProvider { issuer } = &self.approver {
            let (issuer, log) = (issuer.clone(), self.log.clone());
            tokio::spawn(async move {
                if let Err(e) = approve_mjs(&["device", &issuer, &user_code]).await {
                    lock(&log).failures.push(e);
                }
            });
        }
    }

    fn foreign_callback(&self) {
        self.record(|l| l.foreign_callbacks += 1);
    }

    fn warning(&self, warning: &Error) {
        let code = warning.code().to_owned();
        self.record(|l| l.warnings.push(code));
    }

    fn done(&self) {
        self.record(|l| l.done += 1);
    }
}

/// Sends the loopback server named in the authorization `url` a callback with another state,
/// and checks that it is refused with a page (and the login goes on).
async fn forge(client: &reqwest::Client, url: &Url) -> std::result::Result<(), String> {
    let redirect_uri = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("{url} has no redirect_uri"))?;
    let forged = format!("{redirect_uri}?code=forged&state=not-this-login");
    let resp = client
        .get(&forged)
        .send()
        .await
        .map_err(|e| format!("GET {forged}: {e}"))?;
    match resp.status().as_u16() {
        400 => Ok(()),
        status => Err(format!("the forged callback got {status}, not 400")),
    }
}

/// GETs `url` (the loopback callback, possibly through redirects); a non-2xx page is a failure.
async fn visit(client: &reqwest::Client, url: &str) -> std::result::Result<(), String> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("GET {url}: {status}: {}", truncate(&body, 300)))
    }
}

/// Runs `node tests/interop/approve.mjs <args>` and returns its one line of output.
async fn approve_mjs(args: &[&str]) -> std::result::Result<String, String> {
    let run = tokio::process::Command::new("node")
        .arg(interop_path("approve.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(Duration::from_secs(60), run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(format!("approve.mjs {}: cannot run node: {e}", args[0])),
        Err(_) => return Err(format!("approve.mjs {} did not finish in 60 s", args[0])),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !stdout.is_empty() {
        Ok(stdout)
    } else {
        Err(format!(
            "approve.mjs {} failed ({}): {}",
            args[0],
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

// ----- the dev server and MCP requests -----

/// Starts the dev server with `config`.
pub async fn devserver(config: Config) -> DevServerHandle {
    DevServer::start(config).await.expect("dev server starts")
}

/// The dev server with automatic approval and otherwise default settings.
pub async fn auto_approving_devserver() -> DevServerHandle {
    devserver(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await
}

/// The access token lifetimes the refresh tests run at: shorter than the core's 30 s refresh
/// margin (so the margin is cut to half the lifetime), a little longer, and a common one.
pub const TOKEN_LIFETIMES: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(20),
    Duration::from_secs(3600),
];

/// The dev server with automatic approval, issuing access tokens that live `lifetime`.
pub async fn devserver_with_token_lifetime(lifetime: Duration) -> DevServerHandle {
    devserver(Config {
        auto_approve: true,
        access_token_ttl: lifetime,
        ..Config::default()
    })
    .await
}

/// A JSON-RPC request body.
pub fn rpc(id: u64, method: &str, params: Value) -> String {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
        .to_string()
}

/// A `tools/call` body for `name`.
pub fn tool_call(name: &str) -> String {
    rpc(
        1,
        "tools/call",
        serde_json::json!({ "name": name, "arguments": { "text": "hi" } }),
    )
}

/// An MCP POST as streamable HTTP clients send it.
pub fn mcp_post(http: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    http.post(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
}

/// The status of an MCP `tools/list` sent with `token` (or none).
pub async fn mcp_status(url: &str, token: Option<&str>) -> u16 {
    let mut request = mcp_post(&http_client(false), url, rpc(1, "tools/list", Value::Null));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("MCP request").status().as_u16()
}

// ----- Node interop servers -----

/// `tests/interop/<name>`.
pub fn interop_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/interop")
        .join(name)
}

/// Fails the test, with what to do, when Node or the interop packages are missing. Interop
/// tests never skip: a missing peer would otherwise pass silently.
pub fn require_interop() {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "interop tests need Node 20+, but `node --version` failed ({}); install Node and run scripts/setup",
            out.status
        ),
        Err(e) => panic!(
            "interop tests need Node 20+ on PATH, but `node` cannot run ({e}); install Node and run scripts/setup"
        ),
    }
    for package in ["oidc-provider", "@modelcontextprotocol/sdk", "express"] {
        let manifest = interop_path("node_modules")
            .join(package)
            .join("package.json");
        assert!(
            manifest.is_file(),
            "interop tests need tests/interop/node_modules ({package} is missing): run \
             `npm ci --prefix tests/interop` (scripts/setup does it)"
        );
    }
}

/// A Node server from `tests/interop`, killed when dropped.
pub struct NodeServer {
    child: Child,
    /// The JSON ready line.
    pub ready: Value,
}

impl NodeServer {
    /// Starts `node tests/interop/<script>` with `env` and waits (up to 60 s) for its ready line.
    pub fn start(script: &str, env: &[(&str, &str)]) -> Self {
        require_interop();
        let stderr = if std::env::var_os("INTEROP_DEBUG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let mut child = Command::new("node")
            .arg(interop_path(script))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            // Keep the pipe open (and drained) for as long as the server lives.
            let mut sink = String::new();
            while matches!(reader.read_line(&mut sink), Ok(n) if n > 0) {
                sink.clear();
            }
        });
        let mut server = Self {
            child,
            ready: Value::Null,
        };
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(line)) if !line.trim().is_empty() => line,
            Ok(_) => panic!(
                "{script} exited before its ready line; rerun with INTEROP_DEBUG=1 to see why"
            ),
            Err(_) => panic!("{script} printed no ready line within 60 s"),
        };
        server.ready = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{script}: ready line is not JSON ({e}): {line}"));
        server
    }

    /// A string field of the ready line.
    pub fn field(&self, name: &str) -> String {
        self.ready[name]
            .as_str()
            .unwrap_or_else(|| panic!("ready line has no {name}: {}", self.ready))
            .to_owned()
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- canned responses -----

/// A server on 127.0.0.1 that answers every request with the same JSON response and counts
/// them; for behaviour no real server shows on purpose (a 403 that never ends).
pub struct CannedServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl CannedServer {
    /// Serves `status` (such as `403 Forbidden`) with `headers` and a JSON `body`.
    pub async fn start(status: &'static str, headers: &[(&str, &str)], body: &str) -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        headers.push(("content-type".into(), "application/json".into()));
        let (headers, body): (Arc<[(String, String)]>, Arc<str>) = (headers.into(), body.into());
        let addr = serve(move |_request, stream| {
            counter.fetch_add(1, Ordering::SeqCst);
            let (headers, body) = (headers.clone(), body.clone());
            async move {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                respond(stream, status, &headers, body.as_bytes()).await;
            }
        })
        .await;
        Self {
            url: format!("http://{addr}"),
            requests,
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
