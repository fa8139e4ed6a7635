//! Canned servers and a synchronous driver over the exported functions.

use std::collections::BTreeMap;

use mcpauth_wasm::{machine_drain, machine_input, machine_new, machine_response};
use serde_json::{Value, json};

pub const SERVER: &str = "https://mcp.example.com/mcp";
pub const ISSUER: &str = "https://auth.example.com";
pub const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
pub const AS_URL: &str = "https://auth.example.com/.well-known/oauth-authorization-server";
pub const TOKEN_URL: &str = "https://auth.example.com/token";
pub const REGISTER_URL: &str = "https://auth.example.com/register";
pub const REVOKE_URL: &str = "https://auth.example.com/revoke";
pub const REDIRECT_URI: &str = "https://app.example.com/callback";
/// 2026-01-01, in milliseconds.
pub const NOW: f64 = 1_767_225_600_000.0;

/// `text` parsed.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A canned answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

/// The MCP server, its authorization server, and a token endpoint answering `tokens`.
pub fn routes(tokens: Value) -> BTreeMap<String, Reply> {
    let challenge = format!(r#"Bearer resource_metadata="{PRM_URL}""#);
    let mut routes = BTreeMap::new();
    routes.insert(
        SERVER.to_owned(),
        Reply {
            status: 401,
            headers: vec![("www-authenticate".into(), challenge)],
            body: String::new(),
        },
    );
    routes.insert(
        PRM_URL.to_owned(),
        reply(
            200,
            json!({"resource": SERVER, "authorization_servers": [ISSUER], "scopes_supported": ["mcp"]}),
        ),
    );
    routes.insert(
        AS_URL.to_owned(),
        reply(
            200,
            json!({
                "issuer": ISSUER,
                "authorization_endpoint": format!("{ISSUER}/authorize"),
                "token_endpoint": TOKEN_URL,
                "registration_endpoint": REGISTER_URL,
                "revocation_endpoint": REVOKE_URL,
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": true,
            }),
        ),
    );
    routes.insert(
        REGISTER_URL.to_owned(),
        reply(
            201,
            json!({"client_id": "client-1", "token_endpoint_auth_method": "none", "redirect_uris": [REDIRECT_URI]}),
        ),
    );
    routes.insert(TOKEN_URL.to_owned(), reply(200, tokens));
    routes.insert(REVOKE_URL.to_owned(), reply(200, json!({})));
    routes
}

/// A token response.
pub fn tokens(access: &str, refresh: &str, expires_in: u64) -> Value {
    json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in, "refresh_token": refresh, "scope": "mcp"})
}

/// A driver: sends nothing, answers every transmit from `routes` (404 when unknown), keeps the
/// store in memory, takes every lock at once, and records what it saw.
pub struct Drive {
    pub handle: u32,
    pub now: f64,
    pub routes: BTreeMap<String, Reply>,
    pub store: BTreeMap<String, String>,
    pub sent: Vec<Value>,
    pub events: Vec<Value>,
    /// Every drain, parsed.
    pub drains: Vec<Value>,
    /// The last drain's `timeout`.
    pub timeout: Option<f64>,
}

impl Drive {
    pub fn new(kind: &str, config: &Value, routes: BTreeMap<String, Reply>) -> Self {
        let mut drive = Self {
            handle: 0,
            now: NOW,
            routes,
            store: BTreeMap::new(),
            sent: Vec::new(),
            events: Vec::new(),
            drains: Vec::new(),
            timeout: None,
        };
        drive.start(kind, config);
        drive
    }

    /// Starts another machine over the same store and routes.
    pub fn start(&mut self, kind: &str, config: &Value) {
        self.handle = machine_new(kind, &config.to_string(), self.now, &[7; 64]);
    }

    /// Feeds an input; returns the answer.
    pub fn input(&mut self, input: Value) -> Value {
        parse(&machine_input(self.handle, &input.to_string(), self.now))
    }

    /// Drains and acts until the machine is done (its `done` event) or waits for something
    /// this driver does not give by itself (a callback, a redirect URI, the time).
    pub fn run(&mut self) -> Option<Value> {
        loop {
            let drained = parse(&machine_drain(self.handle, self.now));
            self.drains.push(drained.clone());
            self.timeout = drained["timeout"].as_f64();
            let transmits = drained["transmits"].as_array().unwrap().clone();
            let events = drained["events"].as_array().unwrap().clone();
            for transmit in &transmits {
                self.sent.push(transmit.clone());
                let url = transmit["url"].as_str().unwrap();
                let url = url.split('?').next().unwrap();
                let reply = self.routes.get(url).cloned().unwrap_or(Reply {
                    status: 404,
                    headers: Vec::new(),
                    body: "not found".into(),
                });
                let headers = serde_json::to_string(&reply.headers).unwrap();
                let id = u32::try_from(transmit["id"].as_u64().unwrap()).unwrap();
                let answer = machine_response(
                    self.handle,
                    id,
                    reply.status,
                    &headers,
                    reply.body.as_bytes(),
                    self.now,
                );
                assert_eq!(answer, "{}");
            }
            for event in &events {
                self.events.push(event.clone());
                let key = event["key"].as_str().map(str::to_owned);
                match event["kind"].as_str().unwrap() {
                    "load" => {
                        let key = key.unwrap();
                        let record = self.store.get(&key).cloned();
                        self.input(json!({"kind": "loaded", "key": key, "record": record}));
                    }
                    "save" => {
                        let record = event["record"].as_str().unwrap().to_owned();
                        self.store.insert(key.unwrap(), record);
                    }
                    "delete" => {
                        self.store.remove(&key.unwrap());
                    }
                    "lock" => {
                        self.input(json!({"kind": "locked"}));
                    }
                    "done" => return Some(event.clone()),
                    _ => {}
                }
            }
            if transmits.is_empty() && events.is_empty() {
                return None;
            }
        }
    }

    /// The events of `kind` seen so far.
    pub fn seen(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["kind"] == kind).collect()
    }

    /// The URL of the last `authorize` event.
    pub fn authorize_url(&self) -> url::Url {
        let event = self.seen("authorize").pop().expect("an authorize event");
        url::Url::parse(event["url"].as_str().unwrap()).unwrap()
    }
}

/// The redirect the authorization server sends for `authorize_url`, with `code`.
pub fn callback(authorize_url: &url::Url, state: Option<&str>) -> String {
    let real = authorize_url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let redirect = authorize_url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut url = url::Url::parse(&redirect).unwrap();
    url.query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", state.unwrap_or(&real))
        .append_pair("iss", ISSUER);
    url.to_string()
}

/// A login with a fixed redirect URI.
pub fn web_login() -> Value {
    json!({"server": SERVER, "redirect": {"kind": "fixed", "uri": REDIRECT_URI}, "clientName": "binding test"})
}

/// Logs in through the boundary and returns the driver, with the grant stored.
pub fn logged_in(expires_in: u64) -> Drive {
    let mut drive = Drive::new(
        "login",
        &web_login(),
        routes(tokens("at-1", "rt-1", expires_in)),
    );
    assert_eq!(drive.run(), None, "the login waits for its callback");
    let url = drive.authorize_url();
    let answer = drive.input(json!({"kind": "callback", "url": callback(&url, None)}));
    assert_eq!(answer, json!({"belongs": true}));
    let done = drive.run().expect("the login ends");
    assert!(done.get("ok").is_some(), "{done}");
    drive
}
