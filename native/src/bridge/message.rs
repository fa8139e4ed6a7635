//! What the bridge needs to know about a host's JSON-RPC message before forwarding it: the
//! ids of the requests in it (to answer them if forwarding fails), whether it is `initialize`,
//! and the `Mcp-Method` / `Mcp-Name` headers it calls for.

use bytes::Bytes;
use serde_json::Value;

/// The `Mcp-Method` request header: the JSON-RPC method, so that gateways can route and
/// rate-limit without reading the body.
pub const MCP_METHOD: &str = "mcp-method";
/// The `Mcp-Name` request header: the tool or prompt name, or the resource URI.
pub const MCP_NAME: &str = "mcp-name";
/// The `Mcp-Session-Id` header.
pub const MCP_SESSION_ID: &str = "mcp-session-id";
/// The `MCP-Protocol-Version` request header.
pub const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// A message (or batch) from the host, parsed once and kept as the bytes to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The body to POST, exactly as the host wrote it.
    pub body: Bytes,
    /// The ids of the requests in it, each to be answered by the server or by the bridge.
    pub request_ids: Vec<Value>,
    /// Whether it is the `initialize` request.
    pub initialize: bool,
    /// `Mcp-Method` and `Mcp-Name`, those that apply and are valid header values.
    pub headers: Vec<(&'static str, String)>,
}

impl Outgoing {
    /// Parses one line from the host.
    ///
    /// # Errors
    /// The JSON error when the line is not JSON.
    pub fn parse(line: impl Into<Bytes>) -> Result<Self, serde_json::Error> {
        let body = line.into();
        let value: Value = serde_json::from_slice(&body)?;
        Ok(Self::from_value(body, &value))
    }

    /// The message `value`, which `body` encodes.
    pub fn from_value(body: Bytes, value: &Value) -> Self {
        let messages: Vec<&Value> = match value {
            Value::Array(batch) => batch.iter().collect(),
            single => vec![single],
        };
        let request_ids = messages
            .iter()
            .filter(|m| m.get("method").is_some())
            .filter_map(|m| m.get("id").cloned())
            .collect();
        let initialize = matches!(value.get("method"), Some(Value::String(m)) if m == "initialize");
        let headers = match value {
            Value::Array(_) => Vec::new(), // one header cannot name several methods
            single => method_headers(single),
        };
        Self {
            body,
            request_ids,
            initialize,
            headers,
        }
    }
}

/// `Mcp-Method` for any request or notification, and `Mcp-Name` for `tools/call` and
/// `prompts/get` (`params.name`) and `resources/read` (`params.uri`). A value that cannot be
/// sent as a header is left out, not mangled.
pub fn method_headers(message: &Value) -> Vec<(&'static str, String)> {
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut headers = Vec::new();
    if is_header_value(method) {
        headers.push((MCP_METHOD, method.to_owned()));
    }
    let name = match method {
        "tools/call" | "prompts/get" => message.pointer("/params/name"),
        "resources/read" => message.pointer("/params/uri"),
        _ => None,
    };
    if let Some(name) = name.and_then(Value::as_str).filter(|n| is_header_value(n)) {
        headers.push((MCP_NAME, name.to_owned()));
    }
    headers
}

/// Whether `value` can be sent as it is in a header: non-empty visible ASCII and inner spaces
/// (RFC 9110 §5.5, without the obsolete non-ASCII bytes, which servers read differently).
pub fn is_header_value(value: &str) -> bool {
    !value.is_empty()
        && value == value.trim_matches([' ', '\t'])
        && value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// The id of a response (a message with `result` or `error`), if `message` is one.
pub fn response_id(message: &Value) -> Option<&Value> {
    if message.get("method").is_some() {
        return None;
    }
    if message.get("result").is_some() || message.get("error").is_some() {
        return message.get("id");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(message: Value) -> Vec<(&'static str, String)> {
        method_headers(&message)
    }

    #[test]
    fn tool_and_prompt_calls_name_their_target() {
        let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}});
        assert_eq!(
            headers(call),
            [(MCP_METHOD, "tools/call".into()), (MCP_NAME, "echo".into())]
        );
        let get = json!({"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"p"}});
        assert_eq!(headers(get)[1], (MCP_NAME, "p".into()));
        let read = json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///a b"}});
        assert_eq!(headers(read)[1], (MCP_NAME, "file:///a b".into()));
    }

    #[test]
    fn other_methods_and_notifications_carry_only_the_method() {
        let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"x"}});
        assert_eq!(headers(list), [(MCP_METHOD, "tools/list".into())]);
        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        assert_eq!(
            headers(note),
            [(MCP_METHOD, "notifications/initialized".into())]
        );
        let response = json!({"jsonrpc":"2.0","id":1,"result":{}});
        assert!(headers(response).is_empty());
    }

    #[test]
    fn names_that_are_not_valid_header_values_are_skipped() {
        for name in [
            "line\nbreak",
            "caf\u{e9}",
            "",
            " padded",
            "tab\there",
            "nul\0",
        ] {
            let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":name}});
            assert_eq!(
                headers(call),
                [(MCP_METHOD, "tools/call".into())],
                "{name:?}"
            );
        }
        let numeric = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}});
        assert_eq!(headers(numeric).len(), 1);
    }

    #[test]
    fn a_batch_lists_every_request_id_and_sends_no_method_header() {
        let batch = json!([
            {"jsonrpc":"2.0","id":1,"method":"tools/list"},
            {"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}},
            {"jsonrpc":"2.0","id":"b","method":"ping"},
            {"jsonrpc":"2.0","id":9,"result":{}}
        ]);
        let outgoing = Outgoing::parse(batch.to_string()).unwrap();
        assert_eq!(outgoing.request_ids, [json!(1), json!("b")]);
        assert!(outgoing.headers.is_empty());
        assert!(!outgoing.initialize);
    }

    #[test]
    fn initialize_is_recognised_and_responses_are_not_requests() {
        let init = Outgoing::parse(r#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#).unwrap();
        assert!(init.initialize);
        assert_eq!(init.request_ids, [json!(0)]);
        let answer = Outgoing::parse(r#"{"jsonrpc":"2.0","id":5,"result":{}}"#).unwrap();
        assert!(answer.request_ids.is_empty());
        assert_eq!(
            response_id(&json!({"jsonrpc":"2.0","id":5,"result":{}})),
            Some(&json!(5))
        );
        assert_eq!(
            response_id(&json!({"jsonrpc":"2.0","id":5,"method":"ping"})),
            None
        );
        assert!(Outgoing::parse("not json").is_err());
    }
}
