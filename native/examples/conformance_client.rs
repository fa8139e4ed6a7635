//! The client that the official MCP conformance suite (`@modelcontextprotocol/conformance`)
//! drives: `scripts/conformance` runs it against every scored auth scenario.
//!
//! ```text
//! conformance_client <mcp server url>      # the runner appends the URL as the last argument
//! ```
//!
//! It connects, lists the tools and calls one, with every request going through mcpauth's
//! [`AuthClient`]: the 401 and 403 handling, discovery, registration, authorization and token
//! checks are all the library's. What lives here is only the MCP wire and the stand-in for the
//! person at the browser.
//!
//! The runner's environment:
//! - `MCP_CONFORMANCE_PROTOCOL_VERSION` picks the wire. `2026-07-28` is stateless: no
//!   `initialize`, and every POST carries `MCP-Protocol-Version`, `Mcp-Method` (plus `Mcp-Name`)
//!   and the `_meta` protocol version, capabilities and client info. Anything older is the
//!   2025-11-25 wire: `initialize`, a session id if the server issues one, SSE responses.
//! - `MCP_CONFORMANCE_CONTEXT` may carry a pre-registered `client_id`, `client_secret` and the
//!   `issuer` they belong to, and the credentials of the extension scenarios: a
//!   `private_key_pem` (private_key_jwt), an enterprise IdP's `idp_id_token`,
//!   `idp_token_endpoint` and `idp_client_id`, a workload's `valid_jwt`.
//! - `MCP_CONFORMANCE_SCENARIO` names the scenario. The extension scenarios pick how the
//!   login is made (the options a user of the library would set):
//!   `auth/client-credentials-basic` and `-jwt` the client credentials grant (with the secret,
//!   or with `private_key_pem`), `auth/enterprise-managed-authorization` the ID-JAG exchange,
//!   `auth/wif-jwt-bearer` the jwt-bearer grant with the workload token, `auth/dpop` and
//!   `auth/dpop-nonce` DPoP-bound tokens. Every other scenario is only logged.
//!
//! Exits 0 once the tool call succeeded, and 1 with one line on stderr when anything refused.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mcpauth::session::{CredentialSource, EnterpriseIdp, MachineGrant, PreRegisteredClient};
use mcpauth::ui::{BoxFuture, LoginUi};
use mcpauth::{AuthClient, ClientKey, Flow, LoginOptions, MemoryStore, Session};
use mcpauth_core::{ClientSecret, DeviceAuthorization, Policy, SecurityToken};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use serde_json::{Map, Value, json};
use url::Url;

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// The client ID metadata document URL the suite expects (auth/basic-cimd); never fetched.
const CIMD_URL: &str = "https://conformance-test.local/client-metadata.json";
/// The stateless wire (SEP-2575); every other version gets the 2025-11-25 wire.
const STATELESS_VERSION: &str = "2026-07-28";
/// The 2025-11-25 wire's default, when the runner names no version.
const DEFAULT_VERSION: &str = "2025-11-25";
/// JSON-RPC error: the server does not speak the requested protocol version.
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance_client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, .., url] = args.as_slice() else {
        return Err("usage: conformance_client <mcp server url>".into());
    };
    let version = std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION")
        .unwrap_or_else(|_| DEFAULT_VERSION.to_owned());
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    eprintln!("conformance_client: scenario `{scenario}`, wire {version}, server {url}");

    // One client for MCP requests and the "browser": it never follows redirects.
    let http = mcpauth::http::client_builder()?
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut policy = Policy::default(); // plain http is allowed for loopback hosts
    policy.legacy_2025_03_26_fallbacks = true; // auth/2025-03-26-* (backcompat)
    let context = context()?;
    let mut session = Session::builder(Arc::new(MemoryStore::new()))
        .policy(policy)
        .client_name("mcpauth conformance client")
        .ui(Arc::new(FollowRedirect { http: http.clone() }));
    if let Some(pem) = field(&context, "private_key_pem") {
        session = session.client_key(ClientKey::from_pem(&pem)?);
    }
    let session = session.build()?;
    let mut login = LoginOptions::default();
    login.flow = Flow::Paste;
    login.client = preregistered_client(&context);
    login.client_metadata_url = Some(CIMD_URL.to_owned());
    login.timeout = Duration::from_secs(10);
    login.grant = machine_grant(&scenario, &context)?;
    login.dpop = matches!(scenario.as_str(), "auth/dpop" | "auth/dpop-nonce");
    let auth = AuthClient::new(session, http).with_login(login);

    let mut mcp = Mcp::new(auth, url.clone(), version);
    mcp.connect().await?;
    let listed = mcp.request("tools/list", json!({})).await?;
    let Some((name, arguments)) = pick_tool(&listed) else {
        println!("no tools listed");
        return Ok(());
    };
    let called = mcp
        .request(
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
        .await?;
    if called.get("isError") == Some(&Value::Bool(true)) {
        return Err(format!("tool `{name}` failed: {called}").into());
    }
    println!("{called}");
    Ok(())
}

/// `MCP_CONFORMANCE_CONTEXT`, or an empty object.
fn context() -> Result<Value> {
    match std::env::var("MCP_CONFORMANCE_CONTEXT") {
        Ok(text) => Ok(serde_json::from_str(&text)
            .map_err(|e| format!("MCP_CONFORMANCE_CONTEXT is not JSON: {e}"))?),
        Err(_) => Ok(json!({})),
    }
}

/// A string field of the context.
fn field(context: &Value, name: &str) -> Option<String> {
    context.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// The credentials in the context, bound to the issuer it names.
fn preregistered_client(context: &Value) -> Option<PreRegisteredClient> {
    Some(PreRegisteredClient {
        client_id: field(context, "client_id")?,
        client_secret: field(context, "client_secret").map(ClientSecret::new),
        auth_method: None, // chosen from the server's metadata
        issuer: field(context, "issuer"),
        key_alg: None, // the client key's, when there is one
        key_id: None,
    })
}

/// How the extension scenarios obtain tokens without a user; `None` for every other one.
fn machine_grant(scenario: &str, context: &Value) -> Result<Option<MachineGrant>> {
    let need = |name: &str| {
        field(context, name).ok_or_else(|| format!("{scenario}: the context has no `{name}`"))
    };
    Ok(match scenario {
        "auth/client-credentials-basic" | "auth/client-credentials-jwt" => {
            Some(MachineGrant::ClientCredentials)
        }
        "auth/wif-jwt-bearer" => Some(MachineGrant::JwtBearer {
            assertion: CredentialSource::Value {
                value: SecurityToken::new(need("valid_jwt")?),
            },
        }),
        "auth/enterprise-managed-authorization" => Some(MachineGrant::EnterpriseManaged {
            id_token: CredentialSource::Value {
                value: SecurityToken::new(need("idp_id_token")?),
            },
            idp: EnterpriseIdp::new(need("idp_token_endpoint")?, need("idp_client_id")?),
        }),
        _ => None,
    })
}

/// The tool to call: `test-tool` when listed (every auth scenario), else the first one, with a
/// sample value for each property its input schema declares.
fn pick_tool(listed: &Value) -> Option<(String, Value)> {
    let tools = listed.get("tools")?.as_array()?;
    let tool = tools
        .iter()
        .find(|t| t.get("name") == Some(&json!("test-tool")))
        .or_else(|| tools.first())?;
    let name = tool.get("name")?.as_str()?.to_owned();
    let properties = tool
        .pointer("/inputSchema/properties")
        .and_then(Value::as_object);
    let arguments: Map<String, Value> = properties
        .into_iter()
        .flatten()
        .map(|(key, schema)| {
            let value = match schema.get("type").and_then(Value::as_str) {
                Some("number" | "integer") => json!(1),
                Some("boolean") => json!(true),
                Some("string") => json!("x"),
                _ => Value::Null,
            };
            (key.clone(), value)
        })
        .filter(|(_, value)| !value.is_null())
        .collect();
    Some((name, Value::Object(arguments)))
}

/// Stands in for the person at the browser: opens the authorization URL and hands back the
/// address it redirects to, as a user would paste it. The mock authorization servers approve
/// at once with a 302 to the redirect URI.
struct FollowRedirect {
    http: reqwest::Client,
}

impl LoginUi for FollowRedirect {
    /// Only the browser flow calls this; this client logs in with the paste flow.
    fn authorize(&self, _url: &Url) {}

    fn paste_redirect(&self, url: &Url) -> BoxFuture<'_, mcpauth::Result<String>> {
        let url = url.clone();
        Box::pin(async move {
            let failed = |reason: String| mcpauth::Error::Transport {
                url: "the authorization endpoint".into(),
                reason,
            };
            let resp = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = resp.status();
            let location = resp.headers().get(LOCATION).map(|v| v.to_str());
            match location {
                Some(Ok(location)) if status.is_redirection() => Ok(location.to_owned()),
                _ => Err(failed(format!("answered {status} without a redirect"))),
            }
        })
    }

    fn device_code(&self, _authorization: &DeviceAuthorization) {}
}

/// An MCP client over streamable HTTP, on one of the two wires.
struct Mcp {
    auth: AuthClient,
    url: String,
    /// The `MCP-Protocol-Version` sent: the runner's, then the one `initialize` negotiated.
    version: String,
    /// The 2026-07-28 wire, chosen once at the start.
    stateless: bool,
    session_id: Option<String>,
    next_id: u64,
}

impl Mcp {
    fn new(auth: AuthClient, url: String, version: String) -> Self {
        Self {
            auth,
            url,
            stateless: version == STATELESS_VERSION,
            version,
            session_id: None,
            next_id: 1,
        }
    }

    /// The 2025-11-25 handshake; nothing on the stateless wire.
    async fn connect(&mut self) -> Result<()> {
        if self.stateless {
            return Ok(());
        }
        let params = json!({
            "protocolVersion": self.version,
            "capabilities": {},
            "clientInfo": client_info(),
        });
        let result = self.request("initialize", params).await?;
        if let Some(negotiated) = result.get("protocolVersion").and_then(Value::as_str) {
            self.version = negotiated.to_owned();
        }
        self.post("notifications/initialized", None, json!({}))
            .await?;
        Ok(())
    }

    /// Sends a request and returns its result. A server that rejects the protocol version but
    /// lists it as supported gets one retry, with a new id.
    async fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let mut retried = false;
        loop {
            let id = self.next_id;
            self.next_id += 1;
            let resp = self.post(method, Some(id), params.clone()).await?;
            let message = response_message(resp, id)
                .await
                .map_err(|e| format!("{method}: {e}"))?;
            let Some(error) = message.get("error") else {
                return message
                    .get("result")
                    .cloned()
                    .ok_or_else(|| format!("{method}: response without a result").into());
            };
            let supported = error.pointer("/data/supported").and_then(Value::as_array);
            let speaks_ours = supported.is_some_and(|s| s.contains(&json!(self.version)));
            if !retried
                && error.get("code") == Some(&json!(UNSUPPORTED_PROTOCOL_VERSION))
                && speaks_ours
            {
                retried = true;
                continue;
            }
            return Err(format!("{method}: server answered with error {error}").into());
        }
    }

    /// POSTs one JSON-RPC message (a notification without `id`) through the [`AuthClient`].
    async fn post(
        &mut self,
        method: &str,
        id: Option<u64>,
        mut params: Value,
    ) -> Result<reqwest::Response> {
        let mut headers = vec![("mcp-method", method.to_owned())];
        let name_field = match method {
            "tools/call" | "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            _ => None,
        };
        if let Some(name) = name_field
            .and_then(|f| params.get(f))
            .and_then(Value::as_str)
        {
            headers.push(("mcp-name", name.to_owned()));
        }
        if method != "initialize" {
            headers.push(("mcp-protocol-version", self.version.clone()));
        }
        if let Some(session_id) = &self.session_id {
            headers.push(("mcp-session-id", session_id.clone()));
        }
        if let (true, Some(params)) = (self.stateless, params.as_object_mut()) {
            let meta = json!({
                "io.modelcontextprotocol/protocolVersion": self.version,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": client_info(),
            });
            params.insert("_meta".into(), meta);
        }
        let message = match id {
            Some(id) => json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }),
            None => json!({ "jsonrpc": "2.0", "method": method, "params": params }),
        };
        let body = serde_json::to_vec(&message)?;
        let resp = self
            .auth
            .execute(&self.url, |http| {
                let mut req = http
                    .post(&self.url)
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json, text/event-stream")
                    .body(body.clone());
                for (name, value) in &headers {
                    req = req.header(*name, value);
                }
                req
            })
            .await?;
        if let Some(Ok(session_id)) = resp.headers().get("mcp-session-id").map(|v| v.to_str()) {
            self.session_id = Some(session_id.to_owned());
        }
        if id.is_none() && !resp.status().is_success() {
            return Err(format!("{method}: HTTP {}", resp.status()).into());
        }
        Ok(resp)
    }
}

/// The JSON-RPC response with `id`, from a JSON body or an SSE stream. Error statuses count
/// when their body is the JSON-RPC error.
async fn response_message(resp: reqwest::Response, id: u64) -> Result<Value> {
    let status = resp.status();
    let sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = resp.text().await?;
    let messages: Vec<Value> = if sse {
        sse_data(&text)
            .iter()
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect()
    } else {
        serde_json::from_str(&text).into_iter().collect()
    };
    messages
        .into_iter()
        .find(|m| m.get("id") == Some(&json!(id)))
        .ok_or_else(|| {
            let excerpt: String = text.chars().take(200).collect();
            format!("HTTP {status} without a JSON-RPC response: {excerpt}").into()
        })
}

/// The `data` of each event in an SSE stream (multi-line data joined with `\n`).
fn sse_data(stream: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for line in stream.lines().chain([""]) {
        if line.is_empty() {
            if !data.is_empty() {
                events.push(data.join("\n"));
                data.clear();
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    events
}

fn client_info() -> Value {
    json!({ "name": "mcpauth-conformance", "version": env!("CARGO_PKG_VERSION") })
}
