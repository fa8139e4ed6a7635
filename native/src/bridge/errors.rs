//! The JSON-RPC errors the bridge answers a host with when it cannot get the server's answer.
//!
//! A host only sees the bridge as an MCP server, so an OAuth or transport failure has to
//! arrive as the error of the request it broke; otherwise the host waits forever. Codes are in
//! the JSON-RPC range for server errors (-32000 to -32099); `data.code` is mcpauth's stable
//! [`Error::code`]. No message carries a token: mcpauth's errors never hold one.

use serde_json::{Value, json};

use crate::error::Error;

/// The JSON-RPC code for "not logged in": the host can tell the user to log in.
pub const NOT_LOGGED_IN: i64 = -32001;
/// The JSON-RPC code for every other failure of the bridge.
pub const BRIDGE_FAILED: i64 = -32000;

/// The answer to request `id` when forwarding it failed with `error`.
///
/// A failure that only a login can fix is [`NOT_LOGGED_IN`] naming the `mcpauth login`
/// command for `server` (as the user named it): the bridge may have no terminal or browser to
/// log in with, so the user has to run it. Anything else is [`BRIDGE_FAILED`] with the
/// error's message and hint.
pub fn request_failed(id: &Value, error: &Error, server: &str, login_allowed: bool) -> Value {
    if needs_login(error, login_allowed) {
        return login_required(id, server);
    }
    let code = error.code();
    let message = match error.hint() {
        Some(hint) => format!("{error} (hint: {hint})"),
        None => error.to_string(),
    };
    rpc_error(id, BRIDGE_FAILED, &message, json!({ "code": code }))
}

/// The answer to request `id` when the user has to log in to `server` first.
pub fn login_required(id: &Value, server: &str) -> Value {
    let command = format!("mcpauth login {server}");
    let message = format!("Not logged in to {server}: run `{command}` in a terminal, then retry.");
    rpc_error(
        id,
        NOT_LOGGED_IN,
        &message,
        json!({ "code": "LOGIN_REQUIRED", "command": command }),
    )
}

/// The answer to request `id` when the server answered 404 to the session id: the session
/// is over (expired or the server restarted), and the host must initialize again.
pub fn session_ended(id: &Value) -> Value {
    rpc_error(
        id,
        BRIDGE_FAILED,
        "the MCP session ended (the server no longer knows its session id); initialize again",
        json!({ "code": "SESSION_ENDED" }),
    )
}

/// The answer to request `id` when the server answered `status` with a body that is no
/// JSON-RPC message (`excerpt`: its start, for the user to read).
pub fn upstream_status(id: &Value, status: u16, excerpt: &str) -> Value {
    let message = if excerpt.is_empty() {
        format!("the MCP server answered HTTP {status}")
    } else {
        format!("the MCP server answered HTTP {status}: {excerpt}")
    };
    rpc_error(
        id,
        BRIDGE_FAILED,
        &message,
        json!({ "code": "UPSTREAM_STATUS", "status": status }),
    )
}

/// The answer to request `id` when the server's response ended without answering it.
pub fn no_answer(id: &Value) -> Value {
    rpc_error(
        id,
        BRIDGE_FAILED,
        "the MCP server's response ended without an answer to this request",
        json!({ "code": "NO_ANSWER" }),
    )
}

/// The answer to a line that is not JSON (JSON-RPC 2.0 §5.1: parse error, id null).
pub fn parse_error(reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32700, "message": format!("parse error: {reason}") },
    })
}

/// Whether only a login can fix `error`: the core says so (`LOGIN_REQUIRED`), or, when this
/// bridge may not log in, the refresh that would have avoided one failed for good.
fn needs_login(error: &Error, login_allowed: bool) -> bool {
    match error.code() {
        "LOGIN_REQUIRED" => true,
        "NO_REFRESH_TOKEN" | "PERSISTENT_UNAUTHORIZED" => !login_allowed,
        _ => {
            let invalid_grant = matches!(error, Error::Core(e)
                if e.oauth().is_some_and(|o| o.error == "invalid_grant"));
            invalid_grant && !login_allowed
        }
    }
}

fn rpc_error(id: &Value, code: i64, message: &str, data: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message, "data": data },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpauth_core::flow::error::FlowError;

    fn login_required_error() -> Error {
        Error::from(mcpauth_core::Error::from(FlowError::LoginRequired {
            server: "https://mcp.example/mcp".into(),
            reason: "no stored grant",
        }))
    }

    #[test]
    fn login_required_names_the_command_to_run() {
        let answer = request_failed(&json!(3), &login_required_error(), "work", false);
        assert_eq!(answer["id"], 3);
        assert_eq!(answer["error"]["code"], NOT_LOGGED_IN);
        assert_eq!(
            answer["error"]["message"],
            "Not logged in to work: run `mcpauth login work` in a terminal, then retry."
        );
        assert_eq!(
            answer["error"]["data"],
            json!({"code": "LOGIN_REQUIRED", "command": "mcpauth login work"})
        );
    }

    #[test]
    fn a_lost_refresh_token_asks_for_a_login_only_when_the_bridge_cannot_log_in() {
        let e = Error::from(mcpauth_core::Error::from(
            FlowError::PersistentUnauthorized { server: "s".into() },
        ));
        assert_eq!(
            request_failed(&json!(1), &e, "s", false)["error"]["code"],
            NOT_LOGGED_IN
        );
        let answer = request_failed(&json!(1), &e, "s", true);
        assert_eq!(answer["error"]["code"], BRIDGE_FAILED);
        assert_eq!(answer["error"]["data"]["code"], "PERSISTENT_UNAUTHORIZED");
    }

    #[test]
    fn other_failures_carry_the_message_hint_and_code() {
        let e = Error::Transport {
            url: "https://mcp.example/mcp".into(),
            reason: "connection refused".into(),
        };
        let answer = request_failed(&json!("a"), &e, "https://mcp.example/mcp", true);
        assert_eq!(answer["jsonrpc"], "2.0");
        assert_eq!(answer["id"], "a");
        assert_eq!(answer["error"]["code"], BRIDGE_FAILED);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("connection refused"), "{message}");
        assert!(message.contains("hint: check the URL"), "{message}");
        assert_eq!(answer["error"]["data"], json!({"code": "TRANSPORT"}));
    }

    #[test]
    fn bridge_errors_have_distinct_codes_in_data() {
        assert_eq!(
            session_ended(&json!(1))["error"]["data"]["code"],
            "SESSION_ENDED"
        );
        let status = upstream_status(&json!(1), 502, "Bad Gateway");
        assert_eq!(
            status["error"]["data"],
            json!({"code": "UPSTREAM_STATUS", "status": 502})
        );
        assert!(
            status["error"]["message"]
                .as_str()
                .unwrap()
                .contains("502: Bad Gateway")
        );
        assert_eq!(no_answer(&json!(2))["id"], 2);
        let parse = parse_error("expected value");
        assert_eq!(parse["id"], Value::Null);
        assert_eq!(parse["error"]["code"], -32700);
    }
}
