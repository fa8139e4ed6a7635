//! The protected-request exports: `protected_new`, `protected_step`, `protected_free`, and the
//! step-up tracker they count with (`tracker_new`, `tracker_free`).
//!
//! The driver owns the MCP request itself; [`ProtectedRequest`] decides around it, and
//! `protected_step` returns its decision as `{"action": "send" | "refresh" | "login" |
//! "return", ...}` or `{"error": ...}` ([`ActionJson`]). Grants reach it as the outcome of
//! finished machines, by handle, so tokens and errors do not make a round trip through JSON.

use std::cell::RefCell;

use mcpauth_core::flow::ProtectedRequest;
use mcpauth_core::{Error, Grant, ResourceUri, StepUpTracker};
use wasm_bindgen::prelude::*;

use crate::error::{ErrorJson, bad_json};
use crate::machine::{Outcome, outcome, unknown};
use crate::table::Table;
use crate::wire::{ActionJson, StepInput};

thread_local! {
    static REQUESTS: RefCell<Table<Result<ProtectedRequest, String>>> =
        const { RefCell::new(Table::new()) };
    static TRACKERS: RefCell<Table<StepUpTracker>> = const { RefCell::new(Table::new()) };
}

/// A new step-up tracker: it counts authorization attempts per server and MCP operation, and
/// outlives single requests (one per `McpAuth`).
#[wasm_bindgen]
#[must_use]
pub fn tracker_new() -> u32 {
    TRACKERS.with(|t| t.borrow_mut().insert(StepUpTracker::default()))
}

/// Forgets a tracker.
#[wasm_bindgen]
pub fn tracker_free(handle: u32) {
    TRACKERS.with(|t| t.borrow_mut().remove(handle));
}

/// Starts one MCP request to `server` with HTTP `method` (which its DPoP proofs name), whose
/// request headers (JSON pairs) name its MCP operation (`Mcp-Method`, `Mcp-Name`) for the
/// step-up count. With `login_allowed`, a login is
/// asked for where one is needed; without, that is a `LOGIN_REQUIRED` error. Never fails: a bad
/// server URL is the error of the first step.
#[wasm_bindgen]
#[must_use]
pub fn protected_new(server: &str, headers: &str, login_allowed: bool, method: &str) -> u32 {
    let request = serde_json::from_slice::<Vec<(String, String)>>(headers.as_bytes())
        .map_err(|e| bad_json("headers", &e).to_text())
        .and_then(|headers| {
            let server = ResourceUri::parse(server).map_err(|e| ErrorJson::from(&e).to_text())?;
            Ok(ProtectedRequest::new(server, &headers, login_allowed).with_method(method))
        });
    REQUESTS.with(|t| t.borrow_mut().insert(request))
}

/// The next decision, after `input` ([`StepInput`]): `start` with a finished `access` machine,
/// `response` with the server's status, `WWW-Authenticate` values and `DPoP-Nonce`,
/// `refreshed` with the `access` machine run for a `refresh` action, `login` with the machine
/// that logged in. A `send` with a DPoP-bound token carries its proof, dated `now_ms`, to sign
/// and put in the header its `place` names.
#[wasm_bindgen]
#[must_use]
pub fn protected_step(handle: u32, tracker: u32, input: &str, now_ms: f64) -> String {
    let input = match StepInput::from_json(input) {
        Ok(i) => i,
        Err(e) => return bad_json("input", &e).to_text(),
    };
    // The machine's outcome is read before the tables below are borrowed.
    let grant = match &input {
        StepInput::Start { machine }
        | StepInput::Refreshed { machine }
        | StepInput::Login { machine } => match granted(*machine) {
            Ok(grant) => Some(grant),
            Err(text) => return text,
        },
        StepInput::Response { .. } => None,
    };
    REQUESTS.with(|requests| {
        let mut requests = requests.borrow_mut();
        let request = match requests.get_mut(handle) {
            Some(Ok(request)) => request,
            Some(Err(text)) => return text.clone(),
            None => return unknown(handle).to_text(),
        };
        TRACKERS.with(|trackers| {
            let mut trackers = trackers.borrow_mut();
            let Some(tracker) = trackers.get_mut(tracker) else {
                return ErrorJson::argument("tracker", &format!("{tracker} names no tracker"))
                    .to_text();
            };
            let action = match (input, grant) {
                (StepInput::Start { .. }, Some(grant)) => request.start(tracker, grant),
                (StepInput::Refreshed { .. }, Some(grant)) => {
                    request.handle_refreshed(tracker, grant)
                }
                (StepInput::Login { .. }, Some(grant)) => request.handle_login(grant),
                (
                    StepInput::Response {
                        status,
                        www_authenticate,
                        dpop_nonce,
                    },
                    _,
                ) => request.handle_response(
                    tracker,
                    status,
                    &www_authenticate,
                    dpop_nonce.as_deref(),
                ),
                // Every machine input has its grant read above.
                (_, None) => {
                    return ErrorJson::argument("input", "a machine outcome is missing").to_text();
                }
            };
            ActionJson::text(action, crate::machine::time(now_ms))
        })
    })
}

/// Forgets a protected request.
#[wasm_bindgen]
pub fn protected_free(handle: u32) {
    REQUESTS.with(|t| t.borrow_mut().remove(handle));
}

/// The grant (or error) a finished machine ended with; the error text to return otherwise.
fn granted(machine: u32) -> Result<Result<Grant, Error>, String> {
    match outcome(machine) {
        Some(Outcome::Grant(grant)) => Ok(Ok(*grant)),
        Some(Outcome::Error(e)) => Ok(Err(e)),
        Some(Outcome::Invalid(text)) => Err(text),
        Some(Outcome::Other) => Err(ErrorJson::argument(
            "machine",
            &format!("{machine} did not end with a grant (not an access or login machine)"),
        )
        .to_text()),
        None => Err(ErrorJson::argument(
            "machine",
            &format!("{machine} has not ended, or names no machine"),
        )
        .to_text()),
    }
}
