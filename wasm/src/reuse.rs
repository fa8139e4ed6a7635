//! The fast path of an authorized request: `machine_reuse` and `protected_reused`.
//!
//! After an `access` machine handed out a token, the core says until when the driver may send
//! that token again without asking it ([`reuse_until`]); the driver keeps the finished machine
//! and that deadline in memory, and while its clock is before the deadline it sends the request
//! with the token at once. The server's answer still comes here, in one call: a success is
//! returned as it is, anything else (a 401, a 403 `insufficient_scope`) is the core's
//! [`ProtectedRequest`] carrying on exactly as if it had sent the token itself.

use mcpauth_core::flow::access::reuse_until;
use mcpauth_core::flow::{McpAction, ProtectedRequest};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::ErrorJson;
use crate::machine::{time, with_access_grant};
use crate::protected::{REQUESTS, TRACKERS};
use crate::wire::{ActionJson, to_text};

/// What `machine_reuse` returns.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "Reuse"))]
#[serde(rename_all = "camelCase")]
pub struct ReuseJson {
    /// The `Authorization` value to send, while `reuse_until` is ahead; `null` with it.
    pub authorization: Option<String>,
    /// Until when (milliseconds since the epoch, exclusive) the token may be sent again
    /// without asking the core; `null`: ask it every time.
    pub reuse_until: Option<u64>,
}

/// For a finished `access` machine: `{"authorization": "Bearer ...", "reuseUntil": ms}` when
/// its token may be sent again without asking the core until `reuseUntil` (see
/// [`reuse_until`]), else `{"authorization": null, "reuseUntil": null}`. Keep the machine
/// while the token is reused: `protected_reused` reads the grant from it.
#[wasm_bindgen]
#[must_use]
pub fn machine_reuse(machine: u32, now_ms: f64) -> String {
    let reuse = with_access_grant(machine, |_, grant| {
        let until = reuse_until(grant, time(now_ms));
        ReuseJson {
            authorization: until.map(|_| grant.authorization()),
            reuse_until: until.map(mcpauth_core::Time::unix_millis),
        }
    });
    match reuse {
        Some(reuse) => to_text(&reuse),
        None => ErrorJson::argument(
            "machine",
            &format!("{machine} is no access machine that ended with a grant"),
        )
        .to_text(),
    }
}

/// The server's answer to a request the driver sent with HTTP `method` and the token of
/// finished `access` machine `machine` (from `machine_reuse`), to that machine's server. `mcp_method` and `mcp_name` are
/// the request's `Mcp-Method` and `Mcp-Name` headers (its operation, for the step-up count);
/// `status`, `www_authenticate` and `dpop_nonce` the answer's. Returns nothing for an answer to
/// hand to the caller as it is (the common case, so nothing is serialized), else an error or
/// the next action of a protected request the core now keeps, with its handle: `{"request":
/// handle, "action": ...}` (go on with `protected_step`, then `protected_free` it).
#[wasm_bindgen]
#[must_use]
#[allow(clippy::too_many_arguments)] // one crossing per request: the answer comes as values
pub fn protected_reused(
    machine: u32,
    tracker: u32,
    method: &str,
    mcp_method: Option<String>,
    mcp_name: Option<String>,
    login_allowed: bool,
    status: u16,
    www_authenticate: Option<String>,
    dpop_nonce: Option<String>,
    now_ms: f64,
) -> Option<String> {
    let headers: Vec<(String, String)> = [("mcp-method", mcp_method), ("mcp-name", mcp_name)]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
    let challenges: Vec<String> = www_authenticate.into_iter().collect();
    let judged = TRACKERS.with(|trackers| {
        let mut trackers = trackers.borrow_mut();
        let tracker = trackers.get_mut(tracker)?;
        let mut request = with_access_grant(machine, |server, grant| {
            let mut request =
                ProtectedRequest::new(server.clone(), &headers, login_allowed).with_method(method);
            request.reused(tracker, grant);
            request
        })?;
        let action = request.handle_response(tracker, status, &challenges, dpop_nonce.as_deref());
        Some((request, action))
    });
    let Some((request, action)) = judged else {
        return Some(
            ErrorJson::argument(
                "machine",
                "names no grant machine, or the tracker no tracker",
            )
            .to_text(),
        );
    };
    let done = match action {
        McpAction::Return => return None,
        McpAction::Fail(_) => true,
        _ => false,
    };
    let text = ActionJson::text(action, time(now_ms));
    if done {
        return Some(text);
    }
    let handle = REQUESTS.with(|t| t.borrow_mut().insert(Ok(request)));
    Some(match text.strip_prefix('{') {
        Some(rest) => format!("{{\"request\":{handle},{rest}"),
        None => text,
    })
}
