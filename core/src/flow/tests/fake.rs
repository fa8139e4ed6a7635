//! A fake MCP server with a co-hosted authorization server, and the test driver loop.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::flow::{Event, Failure, Login, Machine, RequestId};
use crate::http::{HttpRequest, HttpResponse};
use crate::jws::{JwsPlace, JwsTemplate};
use crate::time::Time;

pub(super) const MCP: &str = "https://mcp.example/mcp";
pub(super) const ISSUER: &str = "https://mcp.example";

/// Switches and state of the fake server.
#[derive(Debug, Default)]
pub(super) struct Fake {
    /// Refuse registrations that ask for more than one non-refresh grant type.
    pub one_grant_type: bool,
    /// Deny at /authorize with this error, leaving `iss` out of the error redirect.
    pub deny_without_iss: Option<&'static str>,
    /// Access token lifetime.
    pub lifetime: u64,
    /// Polls answered `authorization_pending` before the device grant is approved.
    pub pending_polls: u32,
    /// Answer device polls with access_denied.
    pub device_denied: bool,
    /// Never answer these paths.
    pub stall: Vec<&'static str>,
    /// Answer these paths 503 `temporarily_unavailable`.
    pub unavailable: Vec<&'static str>,
    /// Carry out successful refreshes but never answer them (the answer is lost).
    pub lose_refresh_answers: bool,
    /// `scopes_supported` of the resource metadata.
    pub prm_scopes: Vec<&'static str>,
    /// `scope` of the MCP endpoint's 401 challenge.
    pub challenge_scope: Option<&'static str>,
    /// Leave `code_challenge_methods_supported` out.
    pub no_pkce: bool,
    /// Every request, as `METHOD path`.
    pub log: Vec<String>,
    /// Registered clients: id → grant types.
    pub clients: BTreeMap<String, Vec<String>>,
    /// Live refresh tokens.
    pub refresh_live: Vec<String>,
    /// Revoked tokens.
    pub revoked: Vec<String>,
    /// The last authorization request's query.
    pub last_authorize: BTreeMap<String, String>,
    pub counter: u32,
    pub polls: u32,
    /// The machine grants' side ([`super::fake_machine`]).
    pub machine: super::fake_machine::MachineFake,
    /// The forms posted to the token and device authorization endpoints, as `(path, form)`.
    pub forms: Vec<(String, BTreeMap<String, String>)>,
    /// Answer the token and device authorization endpoints form-encoded, errors with HTTP 200
    /// (GitHub's way).
    pub form_encoded: bool,
    /// Issue `DPoP` tokens to token requests that carry a proof (else `Bearer`).
    pub dpop: bool,
    /// Issue `DPoP` tokens whether or not the request carries a proof.
    pub dpop_always: bool,
    /// Answer token requests whose proof lacks this nonce with `use_dpop_nonce`.
    pub as_nonce: Option<&'static str>,
    /// Answer every token request with `use_dpop_nonce` (and a new nonce).
    pub nonce_forever: bool,
    /// Answer this many token requests 503 before serving them.
    pub unavailable_for: u32,
    /// The `Retry-After` of those 503s.
    pub retry_after: Option<&'static str>,
    /// Every DPoP proof received: the path and the proof.
    pub proofs: Vec<(String, JwsTemplate)>,
    /// Headers added to both metadata documents' responses (caching headers).
    pub metadata_headers: Vec<(&'static str, String)>,
    /// Serve registration at this path (and advertise it) instead of `/register`, which then
    /// answers 404: a server that moved its endpoint.
    pub register_path: Option<&'static str>,
    /// Headers added to the protected resource metadata's response only, after
    /// [`metadata_headers`](Self::metadata_headers).
    pub prm_headers: Vec<(&'static str, String)>,
}

impl Fake {
    pub(super) fn new() -> Self {
        Self {
            lifetime: 3600,
            prm_scopes: vec!["mcp:read"],
            ..Self::default()
        }
    }

    pub(super) fn count(&self, what: &str) -> usize {
        self.log.iter().filter(|l| l.as_str() == what).count()
    }

    pub(super) fn next_token(&mut self, prefix: &str) -> String {
        self.next(prefix)
    }

    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}-{}", self.counter)
    }

    fn tokens(&mut self, scope: Option<&str>, proof: bool) -> HttpResponse {
        let refresh = self.next("rt");
        self.refresh_live.push(refresh.clone());
        let bound = self.dpop_always || (self.dpop && proof);
        let mut body = json!({
            "access_token": self.next("at"),
            "token_type": if bound { "DPoP" } else { "Bearer" },
            "expires_in": self.lifetime,
            "refresh_token": refresh,
        });
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        self.answer(200, &body)
    }

    /// A token or device authorization endpoint's answer: JSON, or form-encoded with errors
    /// at HTTP 200 when [`form_encoded`](Self::form_encoded).
    fn answer(&self, status: u16, body: &Value) -> HttpResponse {
        answer(self.form_encoded, status, body)
    }

    /// Answers `req` at `now`; `None` for a stalled request.
    pub(super) fn handle(&mut self, req: &HttpRequest) -> Option<HttpResponse> {
        let path = req.url.path().to_owned();
        self.log.push(format!("{} {path}", req.method.as_str()));
        let proof = req
            .signatures
            .iter()
            .find(|t| t.place == JwsPlace::Header("dpop".into()))
            .cloned();
        if let Some(proof) = &proof {
            self.proofs.push((path.clone(), proof.clone()));
        }
        if self.stall.iter().any(|p| *p == path) {
            return None;
        }
        if self.unavailable.iter().any(|p| *p == path) {
            let body = json!({ "error": "temporarily_unavailable" }).to_string();
            return Some(HttpResponse::json(503, body));
        }
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some(answer) = self.machine_answer(req, &form) {
            return Some(answer);
        }
        let error = |status: u16, error: &str| {
            HttpResponse::json(status, json!({ "error": error }).to_string())
        };
        let route = match self.register_path {
            Some(moved) if path == moved => "/register",
            Some(_) if path == "/register" => "/moved",
            _ => path.as_str(),
        };
        let metadata_headers: Vec<(String, String)> = self
            .metadata_headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let metadata = |body: Value| {
            let mut resp = HttpResponse::json(200, body.to_string());
            resp.headers.extend(metadata_headers.clone());
            resp
        };
        Some(match route {
            "/mcp" => {
                let mut challenge = format!(
                    r#"Bearer resource_metadata="{ISSUER}/.well-known/oauth-protected-resource/mcp""#
                );
                if let Some(scope) = self.challenge_scope {
                    challenge.push_str(&format!(r#", scope="{scope}""#));
                }
                HttpResponse::new(
                    401,
                    vec![("www-authenticate".into(), challenge)],
                    Vec::new(),
                )
            }
            "/.well-known/oauth-protected-resource/mcp" => {
                let mut resp = metadata(json!({
                    "resource": MCP, "authorization_servers": [ISSUER],
                    "scopes_supported": self.prm_scopes,
                }));
                let own = self.prm_headers.iter();
                resp.headers
                    .extend(own.map(|(n, v)| ((*n).to_owned(), v.clone())));
                resp
            }
            "/.well-known/oauth-authorization-server" => {
                let mut meta = json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": format!("{ISSUER}/token"),
                    "registration_endpoint":
                        format!("{ISSUER}{}", self.register_path.unwrap_or("/register")),
                    "device_authorization_endpoint": format!("{ISSUER}/device"),
                    "revocation_endpoint": format!("{ISSUER}/revoke"),
                    "userinfo_endpoint": format!("{ISSUER}/userinfo"),
                    "response_types_supported": ["code"],
                    "authorization_response_iss_parameter_supported": true,
                });
                if !self.no_pkce {
                    meta["code_challenge_methods_supported"] = json!(["S256"]);
                }
                metadata(meta)
            }
            "/register" => {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let grants: Vec<String> = body["grant_types"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|g| g.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let main = grants.iter().filter(|g| *g != "refresh_token").count();
                if self.one_grant_type && main > 1 {
                    return Some(error(400, "invalid_client_metadata"));
                }
                let id = self.next("client");
                self.clients.insert(id.clone(), grants);
                let mut answer = body.clone();
                answer["client_id"] = json!(id);
                HttpResponse::json(201, answer.to_string())
            }
            "/device" => {
                self.forms.push((path.clone(), form.clone()));
                let client = form.get("client_id").cloned().unwrap_or_default();
                if !self.allows(&client, "urn:ietf:params:oauth:grant-type:device_code") {
                    return Some(self.answer(400, &json!({ "error": "unauthorized_client" })));
                }
                let code = self.next("dc");
                self.answer(
                    200,
                    &json!({ "device_code": code, "user_code": "ABCD-EFGH",
                             "verification_uri": format!("{ISSUER}/verify"),
                             "expires_in": 600, "interval": 5 }),
                )
            }
            "/token" if self.unavailable_for > 0 => {
                self.unavailable_for -= 1;
                let body = json!({ "error": "temporarily_unavailable" }).to_string();
                let mut resp = HttpResponse::json(503, body);
                if let Some(after) = self.retry_after {
                    resp.headers.push(("retry-after".into(), after.into()));
                }
                resp
            }
            "/token"
                if self.nonce_forever || self.as_nonce.is_some_and(|n| !carries(&proof, n)) =>
            {
                let nonce = match self.as_nonce {
                    Some(n) if !self.nonce_forever => n.to_owned(),
                    _ => self.next("nonce"),
                };
                let body = json!({ "error": "use_dpop_nonce" }).to_string();
                let mut resp = HttpResponse::json(400, body);
                resp.headers.push(("dpop-nonce".into(), nonce));
                resp
            }
            "/token" => {
                self.forms.push((path.clone(), form.clone()));
                let answer = self.token(&form, proof.is_some());
                let refresh = form.get("grant_type").map(String::as_str) == Some("refresh_token");
                if refresh && answer.is_success() && self.lose_refresh_answers {
                    return None;
                }
                answer
            }
            "/revoke" => {
                let token = form.get("token").cloned().unwrap_or_default();
                self.refresh_live.retain(|t| *t != token);
                self.revoked.push(token);
                HttpResponse::new(200, Vec::new(), Vec::new())
            }
            "/userinfo" => HttpResponse::json(200, r#"{"sub":"1"}"#),
            _ => error(404, "not_found"),
        })
    }

    fn allows(&self, client: &str, grant: &str) -> bool {
        self.clients
            .get(client)
            .is_some_and(|g| g.iter().any(|x| x == grant))
    }

    fn token(&mut self, form: &BTreeMap<String, String>, proof: bool) -> HttpResponse {
        let client = form.get("client_id").cloned().unwrap_or_default();
        let grant = form
            .get("grant_type")
            .map(String::as_str)
            .unwrap_or_default();
        let form_encoded = self.form_encoded;
        let error = |error: &str| answer(form_encoded, 400, &json!({ "error": error }));
        match grant {
            "authorization_code" if !self.allows(&client, grant) => error("unauthorized_client"),
            "authorization_code" => {
                let scope = self.last_authorize.get("scope").cloned();
                self.tokens(scope.as_deref(), proof)
            }
            "refresh_token" => {
                let old = form.get("refresh_token").cloned().unwrap_or_default();
                if !self.refresh_live.contains(&old) {
                    return error("invalid_grant");
                }
                self.refresh_live.retain(|t| *t != old);
                self.tokens(None, proof)
            }
            "urn:ietf:params:oauth:grant-type:device_code" => {
                if !self.allows(&client, grant) {
                    return error("unauthorized_client");
                }
                if self.device_denied {
                    return error("access_denied");
                }
                self.polls += 1;
                if self.polls <= self.pending_polls {
                    return error("authorization_pending");
                }
                self.tokens(None, proof)
            }
            _ => error("unsupported_grant_type"),
        }
    }

    /// What /authorize does with `url`: the redirect the browser would follow.
    pub(super) fn authorize(&mut self, url: &str) -> String {
        let url = url::Url::parse(url).unwrap();
        self.log.push(format!("GET {}", url.path()));
        self.last_authorize = url.query_pairs().into_owned().collect();
        let q = &self.last_authorize;
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        let state = q.get("state").cloned().unwrap_or_default();
        let state = url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>();
        match self.deny_without_iss {
            Some(error) => format!("{redirect}?error={error}&state={state}"),
            None => {
                let code = self.next("code");
                format!("{redirect}?code={code}&state={state}&iss={ISSUER}")
            }
        }
    }
}

/// [`Fake::answer`] without borrowing the fake.
fn answer(form_encoded: bool, status: u16, body: &Value) -> HttpResponse {
    if !form_encoded {
        return HttpResponse::json(status, body.to_string());
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in body.as_object().into_iter().flatten() {
        match value {
            Value::String(s) => form.append_pair(name, s),
            other => form.append_pair(name, &other.to_string()),
        };
    }
    HttpResponse::new(
        200,
        vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        form.finish(),
    )
}

/// Whether `proof` carries `nonce`.
fn carries(proof: &Option<JwsTemplate>, nonce: &str) -> bool {
    proof
        .as_ref()
        .and_then(|p| p.claims.get("nonce"))
        .and_then(Value::as_str)
        == Some(nonce)
}

/// The driver's side: a store, a clock, the fake server.
#[derive(Debug)]
pub(super) struct Env {
    pub now: Time,
    pub store: BTreeMap<String, String>,
    pub fake: Fake,
    pub events: Vec<String>,
    pub stalled: Vec<RequestId>,
    /// When each request was sent, as `METHOD path`.
    pub sent: Vec<(Time, String)>,
}

impl Env {
    pub(super) fn new(fake: Fake) -> Self {
        Self {
            now: Time::from_unix_secs(1_000_000),
            store: BTreeMap::new(),
            fake,
            events: Vec::new(),
            stalled: Vec::new(),
            sent: Vec::new(),
        }
    }

    pub(super) fn advance(&mut self, secs: u64) {
        self.now = self.now.add(Duration::from_secs(secs));
    }

    /// `n` callers of [`Access`](crate::flow::Access) for [`MCP`] that have each read the
    /// stored grant and asked for the refresh lock, before any of them holds it.
    pub(super) fn waiters_at_the_lock(&self, n: usize) -> Vec<crate::flow::Access> {
        let server = crate::policy::ResourceUri::parse(MCP).unwrap();
        let mut waiters: Vec<_> = (0..n)
            .map(|_| crate::flow::Access::new(server.clone(), None, Default::default()))
            .collect();
        for w in &mut waiters {
            let Some(Event::Load { key }) = w.poll_event() else {
                panic!("an access reads the grant first")
            };
            w.handle_loaded(self.now, &key, self.store.get(&key).cloned());
            assert!(matches!(w.poll_event(), Some(Event::Lock { .. })));
        }
        waiters
    }

    /// Runs `m` to its end. `hook` sees every event the loop does not handle itself.
    pub(super) fn drive<M: Machine>(
        &mut self,
        m: &mut M,
        mut hook: impl FnMut(&mut M, &mut Env, &Event<M::Output>),
    ) -> crate::Result<M::Output> {
        for _ in 0..10_000 {
            while let Some((id, req)) = m.poll_transmit() {
                let what = format!("{} {}", req.method.as_str(), req.url.path());
                self.sent.push((self.now, what));
                match self.fake.handle(&req) {
                    Some(resp) => m.handle_response(self.now, id, resp),
                    None => self.stalled.push(id),
                }
            }
            if let Some(event) = m.poll_event() {
                match &event {
                    Event::Load { key } => {
                        self.events.push(format!("load {key}"));
                        let record = self.store.get(key).cloned();
                        m.handle_loaded(self.now, key, record);
                    }
                    Event::Save { key, record } => {
                        self.events.push(format!("save {key}"));
                        self.store.insert(key.clone(), record.clone());
                    }
                    Event::Delete { key } => {
                        self.events.push(format!("delete {key}"));
                        self.store.remove(key);
                    }
                    Event::Lock { key } => {
                        self.events.push(format!("lock {key}"));
                        m.handle_locked(self.now);
                    }
                    Event::Done(_) => {
                        let Event::Done(result) = event else {
                            unreachable!()
                        };
                        return result;
                    }
                    _ => hook(m, self, &event),
                }
                continue;
            }
            let at = m
                .poll_timeout()
                .expect("a machine with nothing to do must have ended");
            self.now = self.now.max(at);
            m.handle_timeout(self.now);
        }
        panic!("the machine did not end");
    }

    /// Runs a login, answering Listen with port 50000 (or the one asked) and Authorize with
    /// the fake server's redirect.
    pub(super) fn login(&mut self, m: &mut Login) -> crate::Result<crate::flow::LoginOutcome> {
        self.drive(m, |m, env, event| match event {
            Event::Listen { port, .. } => {
                env.events.push(format!("listen {port:?}"));
                let uri = format!("http://127.0.0.1:{}/callback", port.unwrap_or(50000));
                m.set_redirect_uri(env.now, &uri);
            }
            Event::Authorize { url } => {
                let callback = env.fake.authorize(url);
                m.handle_callback(env.now, &callback);
            }
            Event::DeviceCode(_) => env.events.push("device code".into()),
            Event::ForeignCallback => env.events.push("foreign callback".into()),
            Event::Warning(e) => env.events.push(format!("warning {}", e.code())),
            _ => {}
        })
    }

    /// Fails every stalled request as the driver's transport would.
    #[allow(dead_code)]
    pub(super) fn fail_stalled<M: Machine>(&mut self, m: &mut M) {
        for id in std::mem::take(&mut self.stalled) {
            m.handle_failure(self.now, id, Failure::Timeout);
        }
    }
}
