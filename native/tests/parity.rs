//! The parity table (`tests/parity/scenarios.json`, the files beside it and `tests/parity/hostile/`) through the native driver: every scenario
//! against a fresh dev server, asserting the outcome, error code and requests per endpoint
//! the table gives. `npm/test/parity.test.mjs` runs the same table through the npm package.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestClock, TestUi};
use mcpauth::session::{MachineGrant, PreRegisteredClient, Profile};
use mcpauth::{AuthClient, Flow, LoginOptions, MemoryStore, Session, TokenStore};
use mcpauth_core::ClientSecret;
use mcpauth_devserver::{Config, DevClient, DevServerHandle, Faults};
use serde_json::Value;

/// The JSON files of `dir`, in name order.
fn json_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
}

/// Every scenario: `scenarios.json`, then the other files beside it (such as `dpop.json`,
/// `machine.json`) and then each file of `hostile/` (misbehaving servers), both in name
/// order. Each file is `{"scenarios": [...]}`.
fn table() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/parity");
    let main = dir.join("scenarios.json");
    let mut files = vec![main.clone()];
    files.extend(json_files(&dir).into_iter().filter(|p| *p != main));
    files.extend(json_files(&dir.join("hostile")));
    let mut table = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("a parity table file");
        let file: Value = serde_json::from_str(&text).expect("a parity table file is JSON");
        table.extend(
            file["scenarios"]
                .as_array()
                .expect("scenarios")
                .iter()
                .cloned(),
        );
    }
    table
}

/// What one scenario has at hand.
struct World {
    server: DevServerHandle,
    /// The MCP server URL the client is given (the dev server's, maybe with a query).
    mcp: String,
    store: Arc<dyn TokenStore>,
    clock: TestClock,
    ui: Arc<TestUi>,
    last_login: Option<mcpauth::LoginSummary>,
    /// The scenario's `virtualTime`: the client's pauses move both clocks instead of passing.
    virtual_time: bool,
}

impl World {
    fn session(&self, step: &Value, ui: &Arc<TestUi>) -> Session {
        let timeout = step["requestTimeoutMs"].as_u64().unwrap_or(30_000);
        let ui: Arc<dyn mcpauth::ui::LoginUi> = ui.clone();
        let mut builder = Session::builder(Arc::clone(&self.store));
        if self.virtual_time {
            let clock = self.clock.clone();
            let url = format!("{}/_dev/clock", self.server.base_url);
            let http = common::http_client(false);
            builder = builder.sleep(move |pause| {
                let (clock, url, http) = (clock.clone(), url.clone(), http.clone());
                Box::pin(async move {
                    let ms = u64::try_from(pause.as_millis()).expect("a test-sized pause");
                    let body = serde_json::json!({ "advance_ms": ms });
                    let moved = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await;
                    assert!(moved.expect("/_dev/clock").status().is_success());
                    clock.advance(pause);
                })
            });
        }
        builder
            .ui(ui)
            .clock(self.clock.source())
            .timeout(Duration::from_millis(timeout))
            .client_name("mcpauth parity")
            .profile(
                step["profile"]
                    .as_str()
                    .map(|p| Profile::parse(p).expect("a profile name")),
            )
            .build()
            .expect("session")
    }
}

/// What a step came to, in the table's terms.
#[derive(Debug, Default)]
struct Outcome {
    error: Option<(String, String)>,
    status: Option<u16>,
    scope: Option<String>,
    all_equal: Option<bool>,
    same_as_login: Option<bool>,
    logins: Option<usize>,
    status_identity: Option<String>,
    foreign_callbacks: usize,
}

fn failed(e: &mcpauth::Error) -> Outcome {
    Outcome {
        error: Some((e.code().to_owned(), e.to_string())),
        ..Outcome::default()
    }
}

async fn run_step(world: &mut World, step: &Value) -> Outcome {
    let mcp = world.mcp.clone();
    match step["do"].as_str().expect("do") {
        "login" => {
            let ui = match (step["forgedCallback"].as_bool(), step["browser"].as_str()) {
                (Some(true), Some("none")) => TestUi::forgery_only(),
                (Some(true), _) => TestUi::immediate_after_forgery(),
                _ => Arc::clone(&world.ui),
            };
            let session = world.session(step, &ui);
            let mut options = LoginOptions::default();
            options.flow = match step["flow"].as_str() {
                Some("device") => Flow::Device,
                _ => Flow::Browser,
            };
            options.scope = step["scope"].as_str().map(str::to_owned);
            options.dangerously_omit_resource = step["omitResource"].as_bool().unwrap_or(false);
            options.probe = step["probe"].as_bool().unwrap_or(true);
            if let Some(ms) = step["timeoutMs"].as_u64() {
                options.timeout = Duration::from_millis(ms);
            }
            options.dpop = step["dpop"].as_bool().unwrap_or(false);
            if let Some(client) = step.get("clientCredentials") {
                options.grant = Some(MachineGrant::ClientCredentials);
                options.client = Some(PreRegisteredClient {
                    issuer: None,
                    client_id: client["clientId"].as_str().expect("clientId").to_owned(),
                    client_secret: client["clientSecret"]
                        .as_str()
                        .map(|s| ClientSecret::new(s.to_owned())),
                    auth_method: client
                        .get("authMethod")
                        .map(|m| serde_json::from_value(m.clone()).expect("an auth method")),
                    key_alg: None,
                    key_id: None,
                });
            }
            let before = ui.log().foreign_callbacks;
            let result = session.login(&mcp, &options).await;
            let mut outcome = match &result {
                Ok(summary) => {
                    let status = session.status().expect("status");
                    let shown = status
                        .iter()
                        .find(|s| s.profile.as_ref() == session.profile())
                        .and_then(|s| s.identity.clone());
                    Outcome {
                        scope: summary.grant.tokens.scope.clone(),
                        // What login printed is what status shows, or the check fails.
                        status_identity: shown.filter(|s| Some(s) == summary.identity.as_ref()),
                        ..Outcome::default()
                    }
                }
                Err(e) => failed(e),
            };
            outcome.foreign_callbacks = ui.log().foreign_callbacks - before;
            world.last_login = result.ok();
            outcome
        }
        "token" => {
            let session = world.session(step, &world.ui);
            match session.access_token(&mcp).await {
                Ok(token) => Outcome {
                    same_as_login: world
                        .last_login
                        .as_ref()
                        .map(|l| l.grant.tokens.access_token == token),
                    ..Outcome::default()
                },
                Err(e) => failed(&e),
            }
        }
        "tokens" => {
            let n = step["concurrent"].as_u64().expect("concurrent");
            let session = world.session(step, &world.ui);
            let calls = (0..n).map(|_| session.access_token(&mcp));
            let results = futures_util::future::join_all(calls).await;
            let mut tokens = Vec::new();
            for result in results {
                match result {
                    Ok(token) => tokens.push(token),
                    Err(e) => return failed(&e),
                }
            }
            Outcome {
                all_equal: Some(tokens.windows(2).all(|w| w[0] == w[1])),
                ..Outcome::default()
            }
        }
        "fetch" => {
            let session = world.session(step, &world.ui);
            let mut client = AuthClient::new(session, common::http_client(false));
            if step["login"].as_bool() == Some(true) {
                client = client.with_login(LoginOptions::default());
            }
            let body = common::rpc(1, "tools/list", serde_json::json!({}));
            let sent = client
                .execute(&mcp, |http| common::mcp_post(http, &mcp, body.clone()))
                .await;
            match sent {
                Ok(resp) => Outcome {
                    status: Some(resp.status().as_u16()),
                    ..Outcome::default()
                },
                Err(e) => failed(&e),
            }
        }
        "logout" => match world.session(step, &world.ui).logout(&mcp).await {
            Ok(_warnings) => Outcome::default(),
            Err(e) => failed(&e),
        },
        "status" => match world.session(step, &world.ui).status() {
            Ok(logins) => Outcome {
                logins: Some(logins.len()),
                ..Outcome::default()
            },
            Err(e) => failed(&e),
        },
        "clock" => {
            let by = Duration::from_millis(step["advanceMs"].as_u64().expect("advanceMs"));
            world.clock.advance(by);
            world.server.advance_clock(by);
            Outcome::default()
        }
        "faults" => {
            let faults: Faults = serde_json::from_value(step["set"].clone()).expect("faults");
            world.server.set_faults(faults);
            Outcome::default()
        }
        other => panic!("unknown step {other:?}"),
    }
}

/// The differences between `outcome` and the step's `expect`, in words.
fn compare(outcome: &Outcome, expect: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            wrong.push(what);
        }
    };
    let code = outcome.error.as_ref().map(|(c, _)| c.as_str());
    if expect["ok"].as_bool() == Some(true) {
        check(
            code.is_none(),
            format!("expected success, got {:?}", outcome.error),
        );
    }
    if let Some(status) = expect["status"].as_u64() {
        check(
            outcome.status == u16::try_from(status).ok(),
            format!(
                "expected status {status}, got {:?} / {:?}",
                outcome.status, outcome.error
            ),
        );
    }
    if let Some(error) = expect["error"].as_str() {
        check(
            code == Some(error),
            format!("expected {error}, got {:?}", outcome.error),
        );
    }
    if let Some(any) = expect["errorOneOf"].as_array() {
        let codes: Vec<&str> = any.iter().filter_map(Value::as_str).collect();
        check(
            code.is_some_and(|c| codes.contains(&c)),
            format!("expected one of {codes:?}, got {:?}", outcome.error),
        );
    }
    if let Some(text) = expect["messageIncludes"].as_str() {
        let message = outcome
            .error
            .as_ref()
            .map(|(_, m)| m.as_str())
            .unwrap_or("");
        check(
            message.contains(text),
            format!("message {message:?} lacks {text:?}"),
        );
    }
    if let Some(scope) = expect["scope"].as_str() {
        check(
            outcome.scope.as_deref() == Some(scope),
            format!("expected scope {scope}, got {:?}", outcome.scope),
        );
    }
    for (field, got) in [
        ("allEqual", outcome.all_equal),
        ("sameAsLogin", outcome.same_as_login),
    ] {
        if let Some(want) = expect[field].as_bool() {
            check(
                got == Some(want),
                format!("expected {field} {want}, got {got:?}"),
            );
        }
    }
    if let Some(who) = expect["statusIdentity"].as_str() {
        check(
            outcome.status_identity.as_deref() == Some(who),
            format!(
                "expected status to show {who}, got {:?}",
                outcome.status_identity
            ),
        );
    }
    if let Some(n) = expect["logins"].as_u64() {
        check(
            outcome.logins.map(|l| l as u64) == Some(n),
            format!("expected {n} logins, got {:?}", outcome.logins),
        );
    }
    if let Some(n) = expect["foreignCallbacks"].as_u64() {
        check(
            outcome.foreign_callbacks as u64 == n,
            format!(
                "expected {n} foreign callbacks, got {}",
                outcome.foreign_callbacks
            ),
        );
    }
    wrong
}

/// The differences between the dev server's counters and the scenario's.
fn compare_counts(server: &DevServerHandle, scenario: &Value) -> Vec<String> {
    let stats = server.stats();
    let json = serde_json::to_value(&stats).expect("stats serialize");
    let mut wrong = Vec::new();
    let sections = [("requests", "requests"), ("tokenGrants", "token_grants")];
    for (field, key) in sections {
        for (name, want) in scenario[field].as_object().into_iter().flatten() {
            let got = json[key][name].as_u64().unwrap_or(0);
            if Some(got) != want.as_u64() {
                wrong.push(format!("{field}.{name}: expected {want}, got {got}"));
            }
        }
    }
    // Whatever the scenario, no secret goes where it must not (see `Stats::leaks`).
    for leak in &stats.leaks {
        wrong.push(format!("leak: {leak}"));
    }
    for (name, want) in scenario["stats"].as_object().into_iter().flatten() {
        let got = &json[name];
        if got != want {
            wrong.push(format!("stats.{name}: expected {want}, got {got}"));
        }
    }
    wrong
}

async fn run(scenario: &Value) -> Vec<String> {
    let faults: Faults = match scenario.get("faults") {
        Some(f) => serde_json::from_value(f.clone()).expect("faults"),
        None => Faults::default(),
    };
    let mut config = Config {
        auto_approve: scenario["server"]["autoApprove"].as_bool().unwrap_or(true),
        faults,
        ..Config::default()
    };
    if let Some(path) = scenario["server"]["issuerPath"].as_str() {
        config.issuer_path = path.to_owned();
    }
    if let Some(scope) = scenario["server"].get("challengeScope") {
        config.challenge_scope = scope.as_str().map(str::to_owned);
    }
    let server = common::devserver(config).await;
    // Pre-registered clients, as `POST /_dev/clients` takes them.
    for client in scenario["clients"].as_array().into_iter().flatten() {
        let client: DevClient = serde_json::from_value(client.clone()).expect("a dev client");
        server.register_client(client.client().expect("a valid dev client"));
    }
    let mcp = match scenario["serverQuery"].as_str() {
        Some(query) => format!("{}?{query}", server.mcp_url),
        None => server.mcp_url.clone(),
    };
    let mut world = World {
        server,
        mcp,
        store: Arc::new(MemoryStore::default()),
        clock: TestClock::default(),
        ui: TestUi::immediate(),
        last_login: None,
        virtual_time: scenario["virtualTime"].as_bool().unwrap_or(false),
    };
    let mut wrong = Vec::new();
    for (i, step) in scenario["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let outcome = common::within(Duration::from_secs(60), "a parity step", async {
            run_step(&mut world, step).await
        })
        .await;
        for w in compare(&outcome, &step["expect"]) {
            wrong.push(format!("step {} ({}): {w}", i + 1, step["do"]));
        }
    }
    wrong.extend(compare_counts(&world.server, scenario));
    world.server.shutdown().await;
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_parity_scenario_holds_in_the_native_driver() {
    common::init();
    let mut failures = Vec::new();
    // `MCPAUTH_PARITY_ONLY=text` runs only the scenarios whose name contains `text`.
    let only = std::env::var("MCPAUTH_PARITY_ONLY").unwrap_or_default();
    for scenario in table() {
        let name = scenario["name"].as_str().expect("name").to_owned();
        if !name.contains(&only) {
            continue;
        }
        for w in run(&scenario).await {
            failures.push(format!("{name}: {w}"));
        }
    }
    assert!(
        failures.is_empty(),
        "parity failures:\n{}",
        failures.join("\n")
    );
}
