//! Pure helpers the driver needs besides the machines: the canonical server URI, store keys,
//! reading a stored grant for display, and the constants of the store layout.

use mcpauth_core::flow::Profile;
use mcpauth_core::flow::login::CALLBACK_PATH;
use mcpauth_core::flow::store::{self, GRANT_PREFIX, GrantRecord, LoginStatus};
use mcpauth_core::{ResourceUri, Time};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::ErrorJson;
use crate::wire::{StoredGrantJson, to_text};

/// The canonical URI of an MCP server (lowercase scheme and host, no default port, no
/// fragment, no trailing slash): `{"server": "..."}`, or `{"error": ...}` (`INVALID_URL`).
#[wasm_bindgen]
#[must_use]
pub fn canonical_server(url: &str) -> String {
    match ResourceUri::parse(url) {
        Ok(server) => to_text(&Server {
            server: server.as_str(),
        }),
        Err(e) => ErrorJson::from(&e).to_text(),
    }
}

/// The store key of `server`'s grant, for `profile` if given: `{"key": "grant#..."}`, or
/// `{"error": ...}` (`INVALID_URL`, `INVALID_PROFILE`).
#[wasm_bindgen]
#[must_use]
pub fn grant_key(server: &str, profile: Option<String>) -> String {
    let key = ResourceUri::parse(server).and_then(|server| {
        let profile = profile.as_deref().map(Profile::parse).transpose()?;
        Ok(store::grant_key(&server, profile.as_ref()))
    });
    match key {
        Ok(key) => to_text(&Key { key: Some(key) }),
        Err(e) => ErrorJson::from(&e).to_text(),
    }
}

/// The store key of the web login a callback URL answers (from its `state`): `{"key":
/// "pending#..."}`, or `{"key": null}` when it has no `state`.
#[wasm_bindgen]
#[must_use]
pub fn pending_key_for_callback(url: &str) -> String {
    to_text(&Key {
        key: store::pending_key_for_callback(url),
    })
}

/// The grant in a stored record: `{"grant": Grant, "identity": string | null}`, or `{"error":
/// ...}` (`STORE_RECORD_UNREADABLE`).
#[wasm_bindgen]
#[must_use]
pub fn stored_grant(key: &str, record: &str) -> String {
    match GrantRecord::parse(key, record) {
        Ok(r) => to_text(&StoredGrantJson {
            grant: &r.grant,
            identity: r.identity.as_deref(),
        }),
        Err(e) => ErrorJson::from(&e).to_text(),
    }
}

/// What `status` shows of a stored grant at `now`: `{"status": LoginStatus}` (server, issuer,
/// scope, `expires_in_ms`, `refreshable`, identity), or `{"error": ...}`.
#[wasm_bindgen]
#[must_use]
pub fn login_status(key: &str, record: &str, now_ms: f64) -> String {
    #[derive(Serialize)]
    struct Status {
        status: LoginStatus,
    }
    // Same reading of `now` as the machines: whole milliseconds, the epoch if not finite.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let now = Time::from_unix_millis(if now_ms.is_finite() { now_ms as u64 } else { 0 });
    match GrantRecord::parse(key, record) {
        Ok(r) => to_text(&Status {
            status: LoginStatus::of(&r, now),
        }),
        Err(e) => ErrorJson::from(&e).to_text(),
    }
}

/// The constants of the store layout and the error codes: `{"grantPrefix": "grant#",
/// "pendingPrefix": "pending#", "callbackPath": "/callback", "errorCodes": [...]}`.
#[wasm_bindgen]
#[must_use]
pub fn constants() -> String {
    to_text(&Constants {
        grant_prefix: GRANT_PREFIX,
        pending_prefix: store::pending_key(""),
        callback_path: CALLBACK_PATH,
        error_codes: mcpauth_core::error::codes::ALL
            .iter()
            .map(|(code, _)| *code)
            .collect(),
    })
}

/// What [`constants`] returns.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Constants {
    /// The prefix of grant keys (`grant#`).
    pub grant_prefix: &'static str,
    /// The prefix of pending-login keys (`pending#`).
    pub pending_prefix: String,
    /// The callback path of loopback logins.
    pub callback_path: &'static str,
    /// Every code an error can carry: the core's catalogue ([`mcpauth_core::error::codes`]).
    #[cfg_attr(feature = "ts", ts(as = "Vec<crate::error::CoreErrorCode>"))]
    pub error_codes: Vec<&'static str>,
}

#[derive(Serialize)]
struct Server<'a> {
    server: &'a str,
}

#[derive(Serialize)]
struct Key {
    key: Option<String>,
}
