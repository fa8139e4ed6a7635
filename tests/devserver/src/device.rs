//! The device authorization grant (RFC 8628): the device authorization endpoint, the user's
//! page, headless approval, and polling at the token endpoint.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::clock::deadline;
use crate::metadata::{DEVICE_CODE_GRANT, known_scope};
use crate::register::{RegisteredClient, authenticate, require_registered_grant};
use crate::state::{
    App, DeviceGrant, DeviceStatus, Grant, OAuthError, Params, html_escape, page, random_token,
};

/// Letters for user codes: no vowels, no lookalikes (RFC 8628 §6.1).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// By how much `slow_down` raises the interval (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The interval a client uses when the response states none (RFC 8628 §3.2).
const RFC_DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// `POST /device_authorization` (RFC 8628 §3.1, §3.2).
pub(crate) async fn device_authorization(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = Params::parse(&body)?;
    let mut db = app.db();
    let client = authenticate(&app, &mut db, &headers, &params)?;
    require_registered_grant(&app, &db, &client, DEVICE_CODE_GRANT)?;
    let scope = params.get("scope").unwrap_or("mcp:read");
    if let Some(unknown) = scope.split(' ').find(|s| !known_scope(s)) {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("unknown scope {unknown:?}"),
        ));
    }
    let resource = params.get("resource").map(str::to_owned);
    if resource.as_ref().is_some_and(|r| r != &app.urls.mcp) {
        return Err(OAuthError::new(
            "invalid_target",
            format!("resource must be {}", app.urls.mcp),
        ));
    }
    let device_code = random_token("dc_");
    let user_code = user_code();
    let faults = app.faults();
    let configured = app.config.device_interval;
    // What `interval` states, and what this server then enforces.
    let (stated, interval) = match (&faults.device_interval, faults.device_omit_interval) {
        (_, true) => (None, RFC_DEFAULT_INTERVAL),
        (Some(value), false) => (
            Some(value.clone()),
            whole_seconds(value).unwrap_or(configured),
        ),
        (None, false) => (Some(json!(configured.as_secs().max(1))), configured),
    };
    let ttl = faults
        .device_expires_in
        .map_or(app.config.device_code_ttl, Duration::from_secs);
    let status = if faults.device_deny {
        DeviceStatus::Denied
    } else {
        DeviceStatus::Pending
    };
    db.issued_secrets.insert(device_code.clone());
    db.devices.insert(
        device_code.clone(),
        DeviceGrant {
            grant: Grant {
                client_id: client.client_id,
                scope: scope.to_owned(),
                resource,
            },
            user_code: user_code.clone(),
            expires: deadline(app.now(), ttl),
            interval,
            last_poll: None,
            status,
            forced_slow_downs: 0,
        },
    );
    let verification_uri = format!("{}/device", app.urls.issuer);
    let mut body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
        "verification_uri": verification_uri,
        "expires_in": ttl.as_secs(),
    });
    if let (Some(stated), Some(object)) = (stated, body.as_object_mut()) {
        object.insert("interval".into(), stated);
    }
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

/// `value` as whole seconds: a JSON number or a string of ASCII digits.
fn whole_seconds(value: &Value) -> Option<Duration> {
    let secs = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    secs.map(Duration::from_secs)
}

/// `ABCD-EFGH` from [`USER_CODE_ALPHABET`].
fn user_code() -> String {
    let mut code = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        let index = rand::random_range(0..USER_CODE_ALPHABET.len());
        code.push(
            USER_CODE_ALPHABET
                .get(index)
                .copied()
                .map_or('X', char::from),
        );
    }
    code
}

/// Compare user codes the way people type them: case and dashes do not matter.
fn normalize(user_code: &str) -> String {
    user_code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Approve or deny the pending grant with `user_code`. False if no such pending grant.
pub(crate) fn decide(app: &App, user_code: &str, approve: bool) -> bool {
    let wanted = normalize(user_code);
    let now = app.now();
    let mut db = app.db();
    let grant = db
        .devices
        .values_mut()
        .find(|d| normalize(&d.user_code) == wanted);
    match grant {
        Some(device) if device.status == DeviceStatus::Pending && device.expires > now => {
            device.status = if approve {
                DeviceStatus::Approved
            } else {
                DeviceStatus::Denied
            };
            true
        }
        _ => false,
    }
}

/// `GET /device`: the page the user opens, with the code filled in from `?user_code=`.
pub(crate) async fn device_page(State(app): State<App>, RawQuery(query): RawQuery) -> Html<String> {
    let params = Params::parse(query.unwrap_or_default().as_bytes()).ok();
    let code = params
        .as_ref()
        .and_then(|p| p.get("user_code"))
        .unwrap_or_default();
    let body = format!(
        r#"<form method="post" action="{}/device/approve">
<label>Code <input name="user_code" value="{}"></label>
<button name="action" value="approve">Approve</button> <button name="action" value="deny">Deny</button></form>"#,
        app.urls.issuer,
        html_escape(code),
    );
    Html(page("Connect a device", &body))
}

/// `POST /device/approve` with `user_code=...&action=approve|deny`.
pub(crate) async fn device_decide(State(app): State<App>, body: Bytes) -> Response {
    let params = Params::parse(&body).ok();
    let field = |name| params.as_ref().and_then(|p| p.get(name));
    let approve = match field("action") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Html(page("Error", "<p>action must be approve or deny</p>")),
            )
                .into_response();
        }
    };
    if decide(&app, field("user_code").unwrap_or_default(), approve) {
        let done = if approve {
            "<p>Device approved. You can close this page.</p>"
        } else {
            "<p>Request denied.</p>"
        };
        Html(page("Done", done)).into_response()
    } else {
        (
            StatusCode::BAD_REQUEST,
            Html(page("Error", "<p>Unknown or expired code.</p>")),
        )
            .into_response()
    }
}

/// One poll with `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4,
/// §3.5). With `auto_approve`, the first poll approves but still answers
/// `authorization_pending`, so clients see one pending round.
pub(crate) fn poll(
    app: &App,
    db: &mut crate::state::Db,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Grant, OAuthError> {
    let device_code = params.require("device_code")?;
    let device = db
        .devices
        .get_mut(device_code)
        .ok_or_else(|| OAuthError::invalid_grant("unknown device_code"))?;
    if device.grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "device_code was issued to another client",
        ));
    }
    let now = app.now();
    let faults = app.faults();
    if device.expires <= now || faults.device_expire {
        db.devices.remove(device_code);
        return Err(OAuthError::new("expired_token", "device_code expired"));
    }
    // 10% leeway for timer jitter.
    let too_fast = device
        .last_poll
        .is_some_and(|last| now.duration_since(last) < device.interval * 9 / 10);
    device.last_poll = Some(now);
    let forced = !too_fast
        && faults
            .device_slow_down
            .is_some_and(|n| device.forced_slow_downs < n);
    if too_fast {
        app.record(|s| s.device_polls_too_fast += 1);
    }
    if forced {
        device.forced_slow_downs += 1;
    }
    if too_fast || forced {
        device.interval += SLOW_DOWN_STEP;
        return Err(OAuthError::new(
            "slow_down",
            format!("poll at most every {:?}", device.interval),
        ));
    }
    match device.status {
        DeviceStatus::Pending => {
            if app.config.auto_approve {
                device.status = DeviceStatus::Approved;
            }
            Err(OAuthError::new(
                "authorization_pending",
                "the user has not answered yet",
            ))
        }
        DeviceStatus::Denied => {
            db.devices.remove(device_code);
            Err(OAuthError::new(
                "access_denied",
                "the user denied the request",
            ))
        }
        DeviceStatus::Approved => {
            let grant = device.grant.clone();
            db.devices.remove(device_code);
            Ok(grant)
        }
    }
}
