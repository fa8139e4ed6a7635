//! The protected-request machine (`flow::ProtectedRequest`: 401 → refresh → login, 403
//! `insufficient_scope` → step-up) on arbitrary server answers and arbitrary outcomes of the
//! refreshes and logins it asks for. It must never panic, and must end (`Return` or `Fail`)
//! within a bounded number of actions even when the server refuses every token: once the
//! script ends, every answer is a 401 or a 403 step-up challenge.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mcpauth_core::flow::error::FlowError;
use mcpauth_core::flow::{McpAction, ProtectedRequest};
use mcpauth_core::scope::StepUpTracker;
use mcpauth_core::{AccessToken, Error, Grant, ResourceUri};
use mcpauth_core_fuzz::{MCP, logged_in};

/// More actions than any request may take: a refresh, a login, and the step-ups.
const MAX_ACTIONS: usize = 64;

/// The server's answer to a sent request.
#[derive(Arbitrary, Debug)]
enum Answer {
    /// 401 with a Bearer challenge naming the resource metadata.
    Unauthorized,
    /// 403 `insufficient_scope` for this scope.
    StepUp(String),
    /// Anything.
    Raw(u16, Vec<String>),
}

/// How a refresh or a login asked for turned out.
#[derive(Arbitrary, Debug)]
enum Outcome {
    /// A new token, with this scope.
    Fresh(Option<String>),
    /// The very token that was refused.
    Same,
    /// No grant: log in.
    LoginRequired,
    /// Another error.
    Failed,
}

fn grant(outcome: &Outcome, n: usize, rejected: Option<&AccessToken>) -> Result<Grant, Error> {
    let mut grant = logged_in().1.clone();
    match outcome {
        Outcome::Fresh(scope) => {
            grant.tokens.access_token = AccessToken::new(format!("fresh-{n}"));
            grant.tokens.scope.clone_from(scope);
            Ok(grant)
        }
        Outcome::Same => {
            if let Some(token) = rejected {
                grant.tokens.access_token = token.clone();
            }
            Ok(grant)
        }
        Outcome::LoginRequired => Err(FlowError::LoginRequired {
            server: MCP.into(),
            reason: "no grant is stored",
        }
        .into()),
        Outcome::Failed => Err(FlowError::Aborted.into()),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(server) = ResourceUri::parse(MCP) else {
        return;
    };
    let headers: Vec<(String, String)> = u.arbitrary().unwrap_or_default();
    let login_allowed = u.arbitrary::<bool>().unwrap_or(true);
    let mut tracker = StepUpTracker::default();
    let mut request = ProtectedRequest::new(server, &headers, login_allowed);
    let first = u.arbitrary::<Outcome>().unwrap_or(Outcome::Fresh(None));
    let mut action = request.start(&tracker, grant(&first, 0, None));
    let mut exhausted_turn = 0u32;
    for n in 1..=MAX_ACTIONS {
        action = match action {
            McpAction::Return | McpAction::Fail(_) => return,
            McpAction::Send { .. } => {
                let answer = if u.is_empty() {
                    // The script is over: the server refuses everything, in turn with a 401
                    // and with a step-up challenge.
                    exhausted_turn += 1;
                    if exhausted_turn.is_multiple_of(2) {
                        Answer::StepUp(format!("mcp:scope{exhausted_turn}"))
                    } else {
                        Answer::Unauthorized
                    }
                } else {
                    u.arbitrary().unwrap_or(Answer::Unauthorized)
                };
                let (status, values) = match answer {
                    Answer::Unauthorized => (
                        401,
                        vec![r#"Bearer error="invalid_token", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp""#.to_owned()],
                    ),
                    Answer::StepUp(scope) => (
                        403,
                        vec![format!(r#"Bearer error="insufficient_scope", scope="{}""#, scope.replace('"', ""))],
                    ),
                    Answer::Raw(status, values) => (status, values),
                };
                // Any `DPoP-Nonce` the server may add: a use_dpop_nonce resend is bounded too.
                let nonce: Option<String> = u.arbitrary().unwrap_or_default();
                request.handle_response(&mut tracker, status, &values, nonce.as_deref())
            }
            McpAction::Refresh { rejected } => {
                let outcome = u.arbitrary::<Outcome>().unwrap_or(Outcome::Fresh(None));
                request.handle_refreshed(&mut tracker, grant(&outcome, n, Some(&rejected)))
            }
            McpAction::Login { .. } => {
                let outcome = u.arbitrary::<Outcome>().unwrap_or(Outcome::Fresh(None));
                request.handle_login(grant(&outcome, n, None))
            }
            // A new action the driver does not know: nothing more to check.
            _ => return,
        };
    }
    panic!("the protected request did not end within {MAX_ACTIONS} actions");
});
