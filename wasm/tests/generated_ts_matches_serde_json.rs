//! The TypeScript declarations generated from the boundary's JSON shapes (`scripts/gen-types`,
//! feature `ts`) describe what the exports really return, the texts written by hand included
//! (a drain, `done`). Machines run natively through the exported functions, answered from the
//! canned servers of the binding tests, and every drain, `done` outcome, action, error and
//! helper answer they give is checked against the generated types (every key a field, every
//! absent field optional, every `null` admitted, down through the core's records).
#![cfg(feature = "ts")]
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml
#![allow(missing_docs)]

#[path = "binding/fixtures.rs"]
#[allow(dead_code)] // the binding tests use the rest
mod fixtures;
#[path = "../../core/tests/support/ts_shape.rs"]
mod ts_shape;

use mcpauth_core::flow::Failure;
use mcpauth_core::flow::store::LoginStatus;
use mcpauth_core::{
    AccessToken, AuthorizationServerMetadata, BearerChallenge, ClientCredentials, ClientSecret,
    Discovered, Grant, IdToken, Method, Policy, ProtectedResourceMetadata, RefreshToken,
    ResourceUri, Time, TokenEndpointAuthMethod, TokenSet,
};
use mcpauth_wasm::error::{CoreErrorCode, ErrorJson, OAuthJson};
use mcpauth_wasm::helpers::Constants;
use mcpauth_wasm::wire::{
    ActionJson, DoneEvent, Drained, EventJson, LoginOutcomeJson, LogoutOutcomeJson, MachineEvent,
    StoredGrantJson, TransmitJson,
};
use mcpauth_wasm::{
    constants, login_status, machine_drain, machine_free, machine_input, machine_new,
    protected_free, protected_new, protected_step, stored_grant, tracker_free, tracker_new,
};
use serde_json::{Value, json};

use fixtures::*;
use ts_shape::Types;

#[test]
fn a_web_login_then_access_and_logout_have_the_generated_shapes() {
    let types = boundary_types();
    let mut drive = logged_in(3600);
    check_run(&types, &drive, "LoginOutcome");
    assert!(
        drive.drains.iter().any(|d| d["timeout"].is_number()),
        "a login waiting for its callback has a deadline"
    );
    assert!(drive.drains.iter().any(|d| d["timeout"].is_null()));

    let key = format!("grant#{SERVER}");
    let record = drive.store[&key].clone();
    types.check_json("StoredGrant", &parse(&stored_grant(&key, &record)));
    let status = parse(&login_status(&key, &record, NOW));
    types.check_json("LoginStatus", &status["status"]);
    types.check_json("Constants", &parse(&constants()));

    for (kind, outcome) in [("access", "Grant"), ("logout", "LogoutOutcome")] {
        machine_free(drive.handle);
        drive.drains.clear();
        drive.start(kind, &json!({"server": SERVER}));
        drive.run().expect("the machine ends");
        check_run(&types, &drive, outcome);
    }
    machine_free(drive.handle);
}

#[test]
fn a_loopback_and_a_device_login_ask_in_the_generated_shapes() {
    let types = boundary_types();
    let config = json!({"server": SERVER, "redirect": {"kind": "loopback"}});
    let mut drive = Drive::new("login", &config, routes(tokens("at-1", "rt-1", 3600)));
    assert_eq!(drive.run(), None);
    assert_eq!(drive.seen("listen")[0]["port"], Value::Null);
    check_run(&types, &drive, "LoginOutcome");
    machine_free(drive.handle);

    let mut routes = routes(tokens("at-1", "rt-1", 3600));
    let device_url = format!("{ISSUER}/device");
    let metadata = routes.get_mut(AS_URL).unwrap();
    let mut document = parse(&metadata.body);
    document["device_authorization_endpoint"] = json!(device_url);
    metadata.body = document.to_string();
    routes.insert(
        device_url.clone(),
        reply(
            200,
            json!({"device_code": "dc", "user_code": "WDJB-MJHT", "verification_uri": device_url,
                   "expires_in": 600, "interval": 5}),
        ),
    );
    let config = json!({"server": SERVER, "redirect": {"kind": "device"}});
    let mut drive = Drive::new("login", &config, routes);
    assert_eq!(drive.run(), None, "the login polls after the interval");
    let prompt = drive.seen("device_code")[0].clone();
    assert!(prompt.get("verification_uri_complete").is_none());
    check_run(&types, &drive, "LoginOutcome");
    machine_free(drive.handle);
}

#[test]
fn discovery_has_the_generated_shape() {
    let types = boundary_types();
    let mut drive = Drive::new("discover", &json!({"server": SERVER}), routes(json!({})));
    drive.run().expect("discovery ends");
    check_run(&types, &drive, "Discovered");
    machine_free(drive.handle);
}

#[test]
fn failures_and_warnings_have_the_generated_shapes() {
    let types = boundary_types();
    // A refused refresh: a warning with the server's OAuth error, then LOGIN_REQUIRED.
    let mut drive = logged_in(10);
    drive.routes.insert(
        TOKEN_URL.to_owned(),
        reply(
            400,
            json!({"error": "invalid_grant", "error_description": "refresh token expired"}),
        ),
    );
    drive.drains.clear();
    drive.events.clear();
    drive.start("access", &json!({"server": SERVER, "rejected": "at-1"}));
    let done = drive.run().unwrap();
    assert_eq!(done["error"]["code"], "LOGIN_REQUIRED");
    assert_eq!(drive.seen("warning")[0]["error"]["code"], "OAUTH_ERROR");
    check_run(&types, &drive, "Grant");
    machine_free(drive.handle);

    // A configuration that does not parse, and an unknown kind: `done` with the error.
    for (kind, config) in [("login", r#"{"server": 1}"#), ("nonsense", "{}")] {
        let handle = machine_new(kind, config, NOW, &[]);
        types.check_json("Drained", &parse(&machine_drain(handle, NOW)));
        machine_free(handle);
    }
    // Every other failure is `{"error": ErrorJson}`.
    let answers = [
        machine_drain(999_999, NOW),
        machine_input(999_999, r#"{"kind": "abort"}"#, NOW),
        protected_step(999_999, 1, r#"{"kind": "response", "status": 200}"#, NOW),
        stored_grant("grant#x", r#"{"v": 2}"#),
    ];
    for answer in answers {
        types.check_json("ErrorJson", &parse(&answer)["error"]);
    }
}

#[test]
fn the_protected_requests_actions_have_the_generated_shapes() {
    let types = boundary_types();
    let step = |request: u32, tracker: u32, input: Value| {
        let action = parse(&protected_step(request, tracker, &input.to_string(), NOW));
        match action.get("error") {
            Some(error) => types.check_json("ErrorJson", error),
            None => types.check_json("Action", &action),
        }
        action
    };
    let tracker = tracker_new();

    // No grant: send without a token; a 401 asks for a login.
    let mut drive = Drive::new("access", &json!({"server": SERVER}), routes(json!({})));
    drive.run();
    let request = protected_new(SERVER, "[]", true, "POST");
    let start = json!({"kind": "start", "machine": drive.handle});
    assert_eq!(step(request, tracker, start)["authorization"], Value::Null);
    let challenge = format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp""#);
    let response = json!({"kind": "response", "status": 401, "wwwAuthenticate": [challenge]});
    assert_eq!(
        step(request, tracker, response)["previousScope"],
        Value::Null
    );
    machine_free(drive.handle);
    protected_free(request);

    // A grant: send with it; a 401 refreshes; a 403 steps up; a 200 returns.
    let mut drive = logged_in(3600);
    drive.start("access", &json!({"server": SERVER}));
    drive.run();
    for (status, challenge, action) in [
        (401, "", "refresh"),
        (
            403,
            r#"Bearer error="insufficient_scope", scope="mcp admin""#,
            "login",
        ),
        (200, "", "return"),
    ] {
        let request = protected_new(SERVER, "[]", true, "POST");
        let start = json!({"kind": "start", "machine": drive.handle});
        assert_eq!(step(request, tracker, start)["action"], "send");
        let challenges: Vec<&str> = [challenge].into_iter().filter(|c| !c.is_empty()).collect();
        let response = json!({"kind": "response", "status": status, "wwwAuthenticate": challenges});
        assert_eq!(step(request, tracker, response)["action"], action);
        protected_free(request);
    }
    machine_free(drive.handle);
    tracker_free(tracker);
}

/// Checks every drain of `drive` against `Drained` (transmits, events, the `done`, `timeout`),
/// and the `ok` of a `done` against `outcome`.
fn check_run(types: &Types, drive: &Drive, outcome: &str) {
    assert!(!drive.drains.is_empty());
    for drained in &drive.drains {
        types.check_json("Drained", drained);
        for event in drained["events"].as_array().unwrap() {
            if let Some(ok) = event.get("ok") {
                types.check_json(outcome, ok);
            }
        }
    }
}

/// The boundary's declarations and the core's records they carry.
fn boundary_types() -> Types {
    let mut types = Types::new();
    macro_rules! add {
        ($($t:ty),* $(,)?) => { $( types.add::<$t>(); )* };
    }
    add!(
        // the boundary
        ActionJson,
        Constants,
        CoreErrorCode,
        DoneEvent,
        Drained,
        ErrorJson,
        EventJson<'static>,
        mcpauth_wasm::wire::DevicePrompt<'static>,
        LoginOutcomeJson<'static>,
        LogoutOutcomeJson,
        MachineEvent,
        OAuthJson,
        StoredGrantJson<'static>,
        TransmitJson,
        // the core's records
        AccessToken,
        AuthorizationServerMetadata,
        BearerChallenge,
        ClientCredentials,
        ClientSecret,
        Discovered,
        Failure,
        Grant,
        IdToken,
        LoginStatus,
        Method,
        Policy,
        ProtectedResourceMetadata,
        RefreshToken,
        ResourceUri,
        Time,
        TokenEndpointAuthMethod,
        TokenSet,
        // what a grant and its client may carry for DPoP and machine logins
        mcpauth_core::flow::CredentialSource,
        mcpauth_core::jws::DpopKey,
        mcpauth_core::jws::EcPublicJwk,
        mcpauth_core::flow::EnterpriseIdp,
        mcpauth_core::jws::JwsAlg,
        mcpauth_core::jws::KeyHandle,
        mcpauth_core::flow::MachineGrant,
        mcpauth_core::jws::PrivateKeyValue,
        // what a transmit carries to sign
        mcpauth_core::jws::JwsPlace,
        mcpauth_core::jws::Signing,
        mcpauth_core::jws::SigningKey,
        mcpauth_core::secret::SecurityToken,
    );
    types
}
