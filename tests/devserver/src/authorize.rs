//! The authorization endpoint (RFC 6749 §4.1, OAuth 2.1): request checks, a consent page, and
//! the redirect back with `code`, `state` and `iss` (RFC 9207).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use crate::metadata::{WRONG_ISSUER_SUFFIX, known_scope};
use crate::register::redirect_matches;
use crate::state::{App, Code, Grant, Params, html_escape, page, random_token};

/// How long an authorization code stays redeemable.
const CODE_TTL: Duration = Duration::from_secs(60);

/// A checked authorization request.
struct AuthRequest {
    grant: Grant,
    /// Where to send the response: the sent `redirect_uri`, or the only registered one.
    redirect_to: String,
    /// `redirect_uri` as sent, which the token request must repeat.
    redirect_uri: Option<String>,
    state: Option<String>,
    challenge: String,
}

/// Why a request failed: on a page when the redirect target is unknown (RFC 6749 §4.1.2.1),
/// else by redirect.
enum Reject {
    Page(String),
    Redirect {
        to: String,
        state: Option<String>,
        error: String,
        description: String,
    },
}

/// `GET /authorize`.
pub(crate) async fn authorize(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(e) => return error_page(&e.description),
    };
    let request = match check(&app, &params) {
        Ok(request) => request,
        Err(reject) => return rejected(&app, reject),
    };
    if let Some(error) = app.faults().deny_authorization {
        let reject = Reject::Redirect {
            to: request.redirect_to,
            state: request.state,
            error,
            description: "refused by the deny_authorization fault".into(),
        };
        return rejected(&app, reject);
    }
    if app.config.auto_approve {
        approve(&app, request, StatusCode::FOUND)
    } else {
        consent_page(&app, &params, &request)
    }
}

/// `POST /authorize/approve`: the consent form, carrying the original request parameters and
/// `action=approve` or `action=deny`. Tests may post it directly.
pub(crate) async fn decide(State(app): State<App>, body: Bytes) -> Response {
    let params = match Params::parse(&body) {
        Ok(params) => params,
        Err(e) => return error_page(&e.description),
    };
    match (check(&app, &params), params.get("action")) {
        (Err(reject), _) => rejected(&app, reject),
        (Ok(request), Some("approve")) => approve(&app, request, StatusCode::SEE_OTHER),
        (Ok(request), Some("deny")) => rejected(
            &app,
            Reject::Redirect {
                to: request.redirect_to,
                state: request.state,
                error: "access_denied".into(),
                description: "the user denied the request".into(),
            },
        ),
        (Ok(_), _) => error_page("action must be approve or deny"),
    }
}

fn check(app: &App, params: &Params) -> Result<AuthRequest, Reject> {
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Reject::Page("client_id is missing".into()))?;
    let registered = {
        let db = app.db();
        let client = db
            .clients
            .get(client_id)
            .ok_or_else(|| Reject::Page(format!("unknown client {client_id}")))?;
        client.redirect_uris.clone()
    };
    let redirect_uri = params.get("redirect_uri").map(str::to_owned);
    let redirect_to = match (&redirect_uri, registered.as_slice()) {
        (Some(sent), _) if registered.iter().any(|r| redirect_matches(r, sent)) => sent.clone(),
        (Some(sent), _) => {
            return Err(Reject::Page(format!(
                "redirect_uri {sent} is not registered"
            )));
        }
        (None, [only]) => only.clone(),
        (None, _) => return Err(Reject::Page("redirect_uri is missing".into())),
    };
    let state = params.get("state").map(str::to_owned);
    if let Some(state) = &state {
        app.db().client_secrets_seen.insert(state.clone());
    }
    let fail = |error: &str, description: &str| Reject::Redirect {
        to: redirect_to.clone(),
        state: state.clone(),
        error: error.to_owned(),
        description: description.to_owned(),
    };
    if params.get("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = params
        .get("code_challenge")
        .ok_or_else(|| fail("invalid_request", "code_challenge is missing"))?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if challenge.len() != 43 {
        return Err(fail(
            "invalid_request",
            "code_challenge is not a base64url SHA-256 digest",
        ));
    }
    let scope = params.get("scope").unwrap_or("mcp:read");
    let faults = app.faults();
    let known = |s: &str| known_scope(s) || faults.grants_growing_scope(s);
    if let Some(unknown) = scope.split(' ').find(|s| !known(s)) {
        return Err(fail("invalid_scope", &format!("unknown scope {unknown:?}")));
    }
    let resource = params.get("resource").map(str::to_owned);
    if resource.as_ref().is_some_and(|r| r != &app.urls.mcp) {
        return Err(fail(
            "invalid_target",
            &format!("resource must be {}", app.urls.mcp),
        ));
    }
    Ok(AuthRequest {
        grant: Grant {
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            resource,
        },
        redirect_to: redirect_to.clone(),
        redirect_uri,
        state: state.clone(),
        challenge: challenge.to_owned(),
    })
}

fn approve(app: &App, request: AuthRequest, status: StatusCode) -> Response {
    let code = random_token("code_");
    let record = Code {
        grant: request.grant,
        redirect_uri: request.redirect_uri,
        challenge: request.challenge,
        expires: app.now() + CODE_TTL,
        family: None,
    };
    let mut db = app.db();
    db.issued_secrets.insert(code.clone());
    db.codes.insert(code.clone(), record);
    drop(db);
    let outcome = [("code", code.as_str())];
    redirect(
        app,
        &request.redirect_to,
        &outcome,
        request.state.as_deref(),
        status,
    )
}

fn rejected(app: &App, reject: Reject) -> Response {
    match reject {
        Reject::Page(message) => error_page(&message),
        Reject::Redirect {
            to,
            state,
            error,
            description,
        } => {
            app.record(|s| s.authorization_error_redirects += 1);
            let outcome = [
                ("error", error.as_str()),
                ("error_description", description.as_str()),
            ];
            redirect(app, &to, &outcome, state.as_deref(), StatusCode::FOUND)
        }
    }
}

/// Redirect to `to` with `outcome` (`code`, or `error` and `error_description`), `state` and
/// `iss` (as the faults allow) in the query.
fn redirect(
    app: &App,
    to: &str,
    outcome: &[(&str, &str)],
    state: Option<&str>,
    status: StatusCode,
) -> Response {
    let Ok(mut url) = Url::parse(to) else {
        return error_page(&format!("redirect_uri {to} is not a URL"));
    };
    {
        let mut query = url.query_pairs_mut();
        query.extend_pairs(outcome);
        let faults = app.faults();
        if let Some(state) = state {
            if faults.wrong_state {
                query.append_pair("state", &format!("not-{state}"));
            } else {
                query.append_pair("state", state);
            }
        }
        let issuer = &app.urls.issuer;
        let is_error = outcome.iter().any(|(name, _)| *name == "error");
        let iss = if faults.error_redirect_without_iss && is_error {
            None
        } else if faults.wrong_iss {
            Some(format!("{issuer}{WRONG_ISSUER_SUFFIX}"))
        } else if faults.omit_iss {
            None
        } else if faults.iss_trailing_slash {
            Some(format!("{issuer}/"))
        } else {
            Some(issuer.clone())
        };
        if let Some(iss) = iss {
            query.append_pair("iss", &iss);
        }
    }
    (status, [(header::LOCATION, url.to_string())]).into_response()
}

fn consent_page(app: &App, params: &Params, request: &AuthRequest) -> Response {
    let hidden: String = params
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                html_escape(name),
                html_escape(value)
            )
        })
        .collect();
    let body = format!(
        r#"<p>Client <code>{client}</code> asks for scope <code>{scope}</code> on <code>{resource}</code>.</p>
<form method="post" action="{issuer}/authorize/approve">{hidden}
<button name="action" value="approve">Approve</button> <button name="action" value="deny">Deny</button></form>"#,
        client = html_escape(&request.grant.client_id),
        scope = html_escape(&request.grant.scope),
        resource = html_escape(request.grant.resource.as_deref().unwrap_or("(no resource)")),
        issuer = app.urls.issuer,
    );
    Html(page("Authorize mcpauth devserver", &body)).into_response()
}

fn error_page(message: &str) -> Response {
    let body = format!("<p>{}</p>", html_escape(message));
    (
        StatusCode::BAD_REQUEST,
        Html(page("Authorization error", &body)),
    )
        .into_response()
}
