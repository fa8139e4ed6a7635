//! Discovery: from an MCP server URL to its authorization server's metadata.
//!
//! The request/response pairs ([`protected_resource_metadata_request`],
//! [`authorization_server_metadata_request`], and their `process_*` functions) validate one
//! document each. [`Discovery`] is the state machine that runs them in the MCP order, with its
//! fallbacks, so that drivers only execute requests.

mod resource;
mod server;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, ProtocolError, Result, SecurityError};
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use crate::pkce::Pkce;
use crate::policy::{Policy, ResourceUri};
use crate::response::check_transport;

pub use resource::{
    process_protected_resource_metadata_response, protected_resource_metadata_request,
    protected_resource_metadata_urls,
};
pub use server::{
    authorization_server_metadata_request, authorization_server_metadata_urls,
    process_authorization_server_metadata_response,
};

/// Identifies one request of a machine ([`Discovery`], the [`flow`](crate::flow) machines), to
/// hand its outcome back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RequestId(u32);

impl RequestId {
    /// An id from its number (the flow machines number their own requests).
    pub(crate) const fn new(n: u32) -> Self {
        Self(n)
    }

    /// The id as a number, for drivers that key maps by it.
    #[must_use]
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// What discovery found: everything the later steps need about the server and its
/// authorization server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct Discovered {
    /// The MCP server's canonical URI, as the caller gave it: the key its grants are stored
    /// under.
    pub server: ResourceUri,
    /// The canonical URI to send as the RFC 8707 `resource` parameter: the protected resource
    /// metadata's `resource` (which may be an origin or path prefix of the server URL, see
    /// [`process_protected_resource_metadata_response`]), or the server URL itself when there is
    /// no such metadata.
    pub resource: ResourceUri,
    /// The protected resource metadata (RFC 9728). `None` in the 2025-03-26 fallback and when
    /// the issuer was configured with [`Discovery::with_issuer`].
    pub resource_metadata: Option<ProtectedResourceMetadata>,
    /// The issuer, exactly as listed in the protected resource metadata (or configured) and as
    /// the metadata document states it. Compare RFC 9207 `iss` values with it byte for byte.
    pub issuer: String,
    /// The authorization server metadata (RFC 8414), validated against `issuer`.
    pub metadata: AuthorizationServerMetadata,
    /// Whether the 2025-03-26 fallback produced this (see [`Policy::legacy_2025_03_26_fallbacks`]).
    pub legacy_2025_03_26: bool,
}

impl Discovered {
    /// A server configured by hand, where discovery is absent or unwanted: `metadata` holds
    /// the configured endpoints (see
    /// [`AuthorizationServerMetadata::with_default_endpoints`]) and the resource is the server.
    ///
    /// Configuring endpoints by hand asserts that the server follows OAuth 2.1, which requires
    /// PKCE; when the metadata does not list PKCE methods, S256 is recorded.
    #[must_use]
    pub fn configured(server: ResourceUri, mut metadata: AuthorizationServerMetadata) -> Self {
        if metadata.code_challenge_methods_supported.is_none() {
            metadata.code_challenge_methods_supported = Some(vec!["S256".into()]);
        }
        Self {
            resource: server.clone(),
            server,
            resource_metadata: None,
            issuer: metadata.issuer.clone(),
            metadata,
            legacy_2025_03_26: false,
        }
    }
}

/// Sans-IO discovery of an MCP server's authorization server (MCP authorization server
/// discovery; RFC 9728; RFC 8414; OpenID Connect Discovery 1.0).
///
/// # Order
/// 1. Protected resource metadata (PRM): the challenge's `resource_metadata` URL, then the
///    path-inserted and root well-known URLs ([`protected_resource_metadata_urls`]). A non-2xx
///    status, a transport failure or an unusable document moves on to the next URL; a
///    [`SecurityError`] (a `resource` that is not this server's, an insecure issuer) ends
///    discovery at once.
/// 2. The PRM lists authorization servers; RFC 9728 §7.6 leaves the choice to the client, and
///    the **first** one is used: a fixed rule keeps the choice predictable for users and for
///    credentials keyed by issuer, and it is what the MCP SDKs do. Callers that want another
///    one can run [`Discovery::with_issuer`] with an issuer from
///    [`Discovered::resource_metadata`].
/// 3. Its metadata URLs ([`authorization_server_metadata_urls`]) in order. A failing status,
///    transport failure or unusable document moves on; so does an issuer mismatch (RFC 8414
///    §3.3: "do not use this document"). When every URL fails, the error is the most specific
///    one seen: a [`SecurityError`] (such as [`SecurityError::IssuerMismatch`]) if there was
///    one, otherwise [`ProtocolError::DiscoveryFailed`] listing each URL and why it failed.
///
/// # Saving round trips
/// Authorization servers are often co-hosted with the MCP server. Along with the first PRM
/// request, `Discovery` yields a speculative request for the RFC 8414 metadata of the server's
/// origin as a root issuer (`{origin}/.well-known/oauth-authorization-server`), unless the
/// policy refuses that origin. If the PRM then names an issuer whose first metadata URL is that
/// same URL, the response (or the request still in flight) is used instead of sending it
/// again, and validated against the PRM's issuer exactly like a fresh one. Otherwise it is
/// ignored. A co-hosted server is thus discovered with two requests in one round trip.
///
/// The well-known URLs of one search are sent together, not one after the other: the
/// path-inserted and root PRM URLs (once the challenge's `resource_metadata`, which is sent
/// alone, is absent or has failed), and the metadata URLs of the issuer (from the first one
/// that is not already on its way as the speculative request above). Their answers are
/// still taken strictly in the MCP order: a URL's document is used only once every URL before
/// it has failed, and a security error ends the search only when its turn comes, so the result
/// is the one trying them in turn would give, and a server that answers at the first URL
/// costs one round trip for the search instead of one per URL tried. The price is a GET of
/// public metadata that may go unused (the OpenID URL next to an RFC 8414 document, say).
///
/// # The 2025-03-26 fallback
/// Only with [`Policy::legacy_2025_03_26_fallbacks`] (off by default; without it, no PRM means
/// [`ProtocolError::DiscoveryFailed`]). When no PRM is found, the MCP server's origin is taken
/// as the issuer, as the 2025-03-26 revision did:
/// - `{origin}/.well-known/oauth-authorization-server` (the speculative response, if any). Its
///   `issuer` must be the origin, byte for byte, or the origin with one trailing `/` (the form
///   URL-normalizing servers such as the Python SDK publish; 2025-03-26 had no issuer check, and
///   both strings name the same origin). The issuer is then kept exactly as the document states
///   it, for the RFC 9207 comparison. Any other issuer is a [`SecurityError::IssuerMismatch`]:
///   the document names another server, so neither it nor the default endpoints are used.
/// - a 4xx there means "no metadata": the default endpoints `/authorize`, `/token` and
///   `/register` at the origin ([`AuthorizationServerMetadata::with_default_endpoints`]), with
///   the origin as issuer.
/// - 5xx, transport failures and unusable documents end discovery with an error.
///
/// 2025-03-26 required PKCE S256 of every server, so in this fallback (and only there) a
/// missing `code_challenge_methods_supported` is filled in as `["S256"]`, and
/// [`pkce::ensure_s256`](crate::pkce::ensure_s256) passes. A document that lists methods
/// without S256 is left as it is and still refused.
///
/// # Driving it
/// Drain [`poll_transmit`](Self::poll_transmit) after [`new`](Self::new) and after every
/// `handle_*` call; send each request (those of one batch concurrently), hand each outcome back
/// with [`handle_response`](Self::handle_response) or [`handle_failure`](Self::handle_failure),
/// and check [`poll_result`](Self::poll_result). The canonical shape:
///
/// ```
/// use std::collections::HashMap;
/// use mcpauth_core::{HttpResponse, Policy};
/// use mcpauth_core::discovery::Discovery;
///
/// // A pretend network: URL -> response. Everything else is a 404.
/// let net: HashMap<&str, HttpResponse> = HashMap::from([
///     ("https://mcp.example.com/.well-known/oauth-protected-resource/mcp", HttpResponse::json(200,
///         r#"{"resource":"https://mcp.example.com/mcp",
///             "authorization_servers":["https://auth.example.com"]}"#)),
///     ("https://auth.example.com/.well-known/oauth-authorization-server", HttpResponse::json(200,
///         r#"{"issuer":"https://auth.example.com",
///             "authorization_endpoint":"https://auth.example.com/authorize",
///             "token_endpoint":"https://auth.example.com/token",
///             "code_challenge_methods_supported":["S256"]}"#)),
/// ]);
///
/// let mut discovery = Discovery::new("https://mcp.example.com/mcp", None, Policy::default())?;
/// let discovered = loop {
///     // 1. Drain every request. They are independent: a real driver sends them concurrently.
///     let mut batch = Vec::new();
///     while let Some(transmit) = discovery.poll_transmit() {
///         batch.push(transmit);
///     }
///     // 2. Hand each outcome back as it arrives (a transport error goes to handle_failure).
///     for (id, request) in batch {
///         let response = net.get(request.url.as_str()).cloned()
///             .unwrap_or_else(|| HttpResponse::new(404, vec![], "not found"));
///         discovery.handle_response(id, response);
///     }
///     // 3. Stop when discovery has finished.
///     if let Some(result) = discovery.poll_result() {
///         break result?;
///     }
/// };
/// assert_eq!(discovered.issuer, "https://auth.example.com");
/// assert_eq!(discovered.resource.as_str(), "https://mcp.example.com/mcp");
/// # Ok::<(), mcpauth_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Discovery {
    policy: Policy,
    server: ResourceUri,
    next_id: u32,
    outbox: VecDeque<(RequestId, HttpRequest)>,
    step: Step,
    /// Requests sent ahead of their turn (the origin's RFC 8414 metadata, the well-known URLs
    /// after the first of a search), taken by URL when their turn comes.
    speculative: Vec<Speculative>,
    /// Each URL that failed in the current search, and why.
    tried: Vec<String>,
    /// The first security error of the current search, reported in preference to `tried`.
    security: Option<Error>,
    /// The caching headers of each response the result rests on.
    sources: Vec<Vec<(String, String)>>,
}

/// Where discovery stands.
#[derive(Debug)]
enum Step {
    /// Fetching protected resource metadata: the URL awaited and those left.
    Resource {
        waiting: (RequestId, Url),
        left: VecDeque<Url>,
    },
    /// Fetching authorization server metadata for `issuer`.
    AuthServer {
        target: Target,
        issuer: String,
        waiting: Option<(RequestId, Url)>,
        left: VecDeque<Url>,
    },
    /// Finished.
    Done(Box<Result<Discovered>>),
}

/// Why authorization server metadata is being fetched.
#[derive(Debug)]
enum Target {
    /// For the issuer a PRM named; `resource` is the PRM's, canonical.
    Listed {
        resource: ResourceUri,
        prm: Box<ProtectedResourceMetadata>,
    },
    /// For an issuer the caller configured.
    Configured,
    /// For the MCP server's origin, in the 2025-03-26 fallback.
    Legacy,
}

/// A request sent ahead of its turn.
#[derive(Debug)]
struct Speculative {
    id: RequestId,
    url: Url,
    state: SpecState,
}

#[derive(Debug)]
enum SpecState {
    /// Sent, no outcome yet, nobody waiting for it.
    InFlight,
    /// Sent, and the metadata step waits for it.
    Awaited,
    /// Its outcome arrived before anyone needed it.
    Arrived(Outcome),
    /// Used, or no longer useful.
    Spent,
}

/// What became of one request.
#[derive(Debug)]
enum Outcome {
    Response(HttpResponse),
    Failure(String),
}

impl Discovery {
    /// Starts discovery for an MCP server URL, optionally with the `resource_metadata` URL of a
    /// 401 challenge (RFC 9728 §5.1).
    ///
    /// # Errors
    /// [`UsageError::InvalidUrl`](crate::UsageError::InvalidUrl) for a server URL that is not an
    /// absolute http(s) URL, or a malformed `resource_metadata`; [`SecurityError::InsecureUrl`]
    /// when either is plain http on a public host.
    pub fn new(server_url: &str, resource_metadata: Option<&str>, policy: Policy) -> Result<Self> {
        let server = ResourceUri::parse(server_url)?;
        let mut urls: VecDeque<Url> =
            protected_resource_metadata_urls(&server, resource_metadata, &policy)?.into();
        let Some(first) = urls.pop_front() else {
            // protected_resource_metadata_urls always returns the root URL at least.
            return Err(ProtocolError::DiscoveryFailed {
                what: "protected resource metadata",
                tried: Vec::new(),
            }
            .into());
        };
        let mut this = Self::empty(server, policy);
        let id = this.send(protected_resource_metadata_request(
            first.clone(),
            &this.policy,
        ));
        this.speculate();
        // The challenge's URL goes alone: it is where the server says its metadata is.
        if resource_metadata.is_none() {
            this.prefetch_resources(&urls);
        }
        this.step = Step::Resource {
            waiting: (id, first),
            left: urls,
        };
        Ok(this)
    }

    /// Starts discovery with an issuer configured by hand: no protected resource metadata is
    /// fetched, and `resource` is the server URL itself.
    ///
    /// # Errors
    /// [`UsageError::InvalidUrl`](crate::UsageError::InvalidUrl) for a server URL or issuer
    /// that is not valid; [`SecurityError::InsecureUrl`] for plain http on a public host.
    pub fn with_issuer(server_url: &str, issuer: &str, policy: Policy) -> Result<Self> {
        let server = ResourceUri::parse(server_url)?;
        let urls = authorization_server_metadata_urls(issuer, &policy)?;
        let mut this = Self::empty(server, policy);
        this.step = Step::AuthServer {
            target: Target::Configured,
            issuer: issuer.to_owned(),
            waiting: None,
            left: urls.into(),
        };
        this.advance_auth_server();
        Ok(this)
    }

    /// The next request to send, if any.
    ///
    /// Drain it until `None` after [`new`](Self::new) and after every `handle_*` call. All
    /// requests returned between two `handle_*` calls are independent and SHOULD be sent
    /// concurrently. Send each exactly as given (no redirects, body capped at
    /// [`HttpRequest::max_response_bytes`]).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(RequestId, HttpRequest)> {
        self.outbox.pop_front()
    }

    /// Hands back the response to request `id`. Unknown ids, and responses after discovery has
    /// finished, are ignored.
    pub fn handle_response(&mut self, id: RequestId, response: HttpResponse) {
        self.handle(id, Outcome::Response(response));
    }

    /// Reports that request `id` failed in transport (connection refused, timeout, body over
    /// the cap...), with `reason` describing it for messages. Unknown ids, and failures after
    /// discovery has finished, are ignored.
    pub fn handle_failure(&mut self, id: RequestId, reason: &str) {
        self.handle(id, Outcome::Failure(reason.to_owned()));
    }

    /// `Some` once discovery has finished, successfully or not; it then keeps returning the
    /// same result.
    #[must_use]
    pub fn poll_result(&mut self) -> Option<Result<Discovered>> {
        match &self.step {
            Step::Done(result) => Some(Result::clone(result)),
            _ => None,
        }
    }

    fn empty(server: ResourceUri, policy: Policy) -> Self {
        Self {
            policy,
            server,
            next_id: 0,
            outbox: VecDeque::new(),
            step: Step::Done(Box::new(Err(unreachable_state()))),
            speculative: Vec::new(),
            tried: Vec::new(),
            security: None,
            sources: Vec::new(),
        }
    }

    /// The caching headers (`Cache-Control`, `Expires`, `Date`, `Age`) of each response the
    /// result rests on: the protected resource metadata and the authorization server metadata
    /// used (not those of URLs that failed). A cache of the result may keep it only as long as
    /// all of them allow.
    #[must_use]
    pub fn source_headers(&self) -> &[Vec<(String, String)>] {
        &self.sources
    }

    /// Notes that the result rests on `resp`.
    fn rest_on(&mut self, resp: &HttpResponse) {
        let caching = resp
            .headers
            .iter()
            .filter(|(name, _)| {
                ["cache-control", "expires", "date", "age"]
                    .iter()
                    .any(|wanted| name.eq_ignore_ascii_case(wanted))
            })
            .cloned()
            .collect();
        self.sources.push(caching);
    }

    fn send(&mut self, request: HttpRequest) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.outbox.push_back((id, request));
        id
    }

    /// Queues the speculative request for the origin's RFC 8414 metadata, if the policy allows
    /// that origin.
    fn speculate(&mut self) {
        let origin = self.server.origin();
        let Ok(urls) = authorization_server_metadata_urls(origin.as_str(), &self.policy) else {
            return;
        };
        let Some(url) = urls.into_iter().next() else {
            return;
        };
        let request = authorization_server_metadata_request(url.clone(), &self.policy);
        self.prefetch(url, request);
    }

    /// Sends `request` for `url` ahead of its turn, unless a request for `url` is pending.
    fn prefetch(&mut self, url: Url, request: HttpRequest) {
        let pending = self
            .speculative
            .iter()
            .any(|s| s.url == url && !matches!(s.state, SpecState::Spent));
        if pending {
            return;
        }
        let id = self.send(request);
        self.speculative.push(Speculative {
            id,
            url,
            state: SpecState::InFlight,
        });
    }

    /// Sends each PRM URL of `urls` ahead of its turn.
    fn prefetch_resources(&mut self, urls: &VecDeque<Url>) {
        for url in urls {
            let request = protected_resource_metadata_request(url.clone(), &self.policy);
            self.prefetch(url.clone(), request);
        }
    }

    /// Sends each metadata URL of `urls` ahead of its turn.
    fn prefetch_auth_servers(&mut self, urls: &VecDeque<Url>) {
        for url in urls {
            let request = authorization_server_metadata_request(url.clone(), &self.policy);
            self.prefetch(url.clone(), request);
        }
    }

    /// Takes the request sent ahead for `url`, if one is pending: its outcome if it arrived,
    /// else its id, now awaited.
    fn take_prefetched(&mut self, url: &Url) -> Option<Result<Outcome, RequestId>> {
        let spec = self
            .speculative
            .iter_mut()
            .find(|s| s.url == *url && !matches!(s.state, SpecState::Spent))?;
        match std::mem::replace(&mut spec.state, SpecState::Spent) {
            SpecState::Arrived(outcome) => Some(Ok(outcome)),
            SpecState::InFlight | SpecState::Awaited => {
                spec.state = SpecState::Awaited;
                Some(Err(spec.id))
            }
            SpecState::Spent => None,
        }
    }

    fn handle(&mut self, id: RequestId, outcome: Outcome) {
        if matches!(self.step, Step::Done(_)) {
            return;
        }
        if let Some(spec) = self.speculative.iter_mut().find(|s| s.id == id) {
            match spec.state {
                SpecState::InFlight => {
                    spec.state = SpecState::Arrived(outcome);
                    return;
                }
                SpecState::Awaited => spec.state = SpecState::Spent,
                SpecState::Arrived(_) | SpecState::Spent => return,
            }
        }
        match &mut self.step {
            Step::Resource { waiting, .. } if waiting.0 == id => {
                let url = waiting.1.clone();
                self.on_resource(&url, outcome);
            }
            Step::AuthServer {
                waiting: Some(w), ..
            } if w.0 == id => {
                let url = w.1.clone();
                if self.on_auth_server(&url, outcome) {
                    self.advance_auth_server();
                }
            }
            _ => {}
        }
    }

    // ----- protected resource metadata -----

    fn on_resource(&mut self, url: &Url, outcome: Outcome) {
        let resp = match outcome {
            Outcome::Response(resp) => resp,
            Outcome::Failure(reason) => {
                self.record(url, reason, None);
                return self.next_resource();
            }
        };
        match process_protected_resource_metadata_response(&self.server, url, &resp, &self.policy) {
            Ok(prm) => {
                self.rest_on(&resp);
                self.start_listed(url, prm);
            }
            Err(e @ Error::Security(_)) => self.finish(Err(e)),
            Err(e) => {
                self.record(url, reason_of(&e, url), None);
                self.next_resource();
            }
        }
    }

    fn next_resource(&mut self) {
        let Step::Resource { left, .. } = &mut self.step else {
            return;
        };
        match left.pop_front() {
            Some(next) => {
                // After a failed challenge URL: the well-known ones, all at once.
                let mut batch = VecDeque::from([next.clone()]);
                batch.extend(left.iter().cloned());
                self.prefetch_resources(&batch);
                match self.take_prefetched(&next) {
                    Some(Ok(outcome)) => self.on_resource(&next, outcome),
                    Some(Err(id)) => {
                        if let Step::Resource { waiting, .. } = &mut self.step {
                            *waiting = (id, next);
                        }
                    }
                    None => {}
                }
            }
            None if self.policy.legacy_2025_03_26_fallbacks => self.start_legacy(),
            None => {
                let error = self.failure("protected resource metadata");
                self.finish(Err(error));
            }
        }
    }

    /// A PRM was found: look up its first authorization server.
    fn start_listed(&mut self, url: &Url, prm: ProtectedResourceMetadata) {
        let (resource, issuer) = match (
            ResourceUri::parse(&prm.resource),
            prm.authorization_servers.first(),
        ) {
            (Ok(resource), Some(issuer)) => (resource, issuer.clone()),
            // process_protected_resource_metadata_response checked both; keep the machine total.
            _ => {
                let error = ProtocolError::InvalidField {
                    url: url.to_string(),
                    field: "authorization_servers",
                    reason: "must list at least one authorization server".into(),
                };
                return self.finish(Err(error.into()));
            }
        };
        self.tried.clear();
        self.security = None;
        self.start_auth_server(
            Target::Listed {
                resource,
                prm: Box::new(prm),
            },
            issuer,
        );
    }

    /// No PRM anywhere: the 2025-03-26 rules, with the origin as issuer.
    fn start_legacy(&mut self) {
        let origin = self.server.origin().as_str().to_owned();
        self.start_auth_server(Target::Legacy, origin);
    }

    // ----- authorization server metadata -----

    fn start_auth_server(&mut self, target: Target, issuer: String) {
        let urls = match authorization_server_metadata_urls(&issuer, &self.policy) {
            Ok(urls) => urls,
            Err(e) => return self.finish(Err(e)),
        };
        // 2025-03-26 defined only the RFC 8414 URL at the origin.
        let left: VecDeque<Url> = match target {
            Target::Legacy => urls.into_iter().take(1).collect(),
            _ => urls.into(),
        };
        self.step = Step::AuthServer {
            target,
            issuer,
            waiting: None,
            left,
        };
        self.advance_auth_server();
    }

    /// Sends (or takes from the speculation) the next metadata URL, until one is awaited or
    /// discovery has finished.
    fn advance_auth_server(&mut self) {
        loop {
            let Step::AuthServer { left, .. } = &mut self.step else {
                return;
            };
            let Some(url) = left.pop_front() else {
                let is_legacy = matches!(
                    self.step,
                    Step::AuthServer {
                        target: Target::Legacy,
                        ..
                    }
                );
                let what = if is_legacy {
                    "authorization server (no protected resource metadata; 2025-03-26 fallback)"
                } else {
                    "authorization server metadata"
                };
                let error = self.failure(what);
                return self.finish(Err(error));
            };
            match self.take_prefetched(&url) {
                Some(Err(id)) => {
                    if let Step::AuthServer { waiting, .. } = &mut self.step {
                        *waiting = Some((id, url));
                    }
                    return;
                }
                Some(Ok(outcome)) => {
                    if !self.on_auth_server(&url, outcome) {
                        return;
                    }
                }
                None => {
                    self.send_auth_server(url);
                    return;
                }
            }
        }
    }

    /// Sends `url`, and with it every metadata URL left after it.
    fn send_auth_server(&mut self, url: Url) {
        let mut batch = VecDeque::from([url.clone()]);
        if let Step::AuthServer { left, .. } = &self.step {
            batch.extend(left.iter().cloned());
        }
        self.prefetch_auth_servers(&batch);
        if let Some(Err(id)) = self.take_prefetched(&url) {
            if let Step::AuthServer { waiting, .. } = &mut self.step {
                *waiting = Some((id, url));
            }
        }
    }

    /// Processes one metadata outcome. Returns whether to go on with the next URL.
    fn on_auth_server(&mut self, url: &Url, outcome: Outcome) -> bool {
        let Step::AuthServer { target, issuer, .. } = &self.step else {
            return false;
        };
        let resp = match outcome {
            Outcome::Response(resp) => resp,
            Outcome::Failure(reason) => {
                self.record(url, reason, None);
                return true;
            }
        };
        if matches!(target, Target::Legacy) {
            let issuer = issuer.clone();
            self.on_legacy(url, &issuer, &resp);
            return false;
        }
        match process_authorization_server_metadata_response(issuer, url, &resp, &self.policy) {
            Ok(metadata) => {
                self.rest_on(&resp);
                let discovered = self.discovered(metadata);
                self.finish(discovered);
                false
            }
            Err(e) => {
                let reason = reason_of(&e, url);
                self.record(url, reason, Some(e));
                true
            }
        }
    }

    /// The legacy outcome: metadata at the origin, the default endpoints after a 4xx, or an
    /// error. Always finishes.
    fn on_legacy(&mut self, url: &Url, origin: &str, resp: &HttpResponse) {
        let result = match check_transport(url, resp, self.policy.max_response_bytes) {
            Err(e) => Err(e),
            Ok(()) if (400..500).contains(&resp.status) => {
                Ok(AuthorizationServerMetadata::with_default_endpoints(origin))
            }
            Ok(()) => legacy_metadata(origin, url, resp, &self.policy),
        };
        match result {
            Ok(mut metadata) => {
                self.rest_on(resp);
                if metadata.code_challenge_methods_supported.is_none() {
                    metadata.code_challenge_methods_supported = Some(vec![Pkce::METHOD.into()]);
                }
                let discovered = Discovered {
                    server: self.server.clone(),
                    resource: self.server.clone(),
                    resource_metadata: None,
                    issuer: metadata.issuer.clone(),
                    metadata,
                    legacy_2025_03_26: true,
                };
                self.finish(Ok(discovered));
            }
            Err(e) => {
                let reason = reason_of(&e, url);
                self.record(url, reason, Some(e));
                let error = self.failure(
                    "authorization server (no protected resource metadata; 2025-03-26 fallback)",
                );
                self.finish(Err(error));
            }
        }
    }

    /// The result for validated metadata of a listed or configured issuer.
    fn discovered(&mut self, metadata: AuthorizationServerMetadata) -> Result<Discovered> {
        let step = std::mem::replace(
            &mut self.step,
            Step::Done(Box::new(Err(unreachable_state()))),
        );
        let Step::AuthServer { target, issuer, .. } = step else {
            return Err(unreachable_state());
        };
        let (resource, resource_metadata) = match target {
            Target::Listed { resource, prm } => (resource, Some(*prm)),
            Target::Configured | Target::Legacy => (self.server.clone(), None),
        };
        Ok(Discovered {
            server: self.server.clone(),
            resource,
            resource_metadata,
            issuer,
            metadata,
            legacy_2025_03_26: false,
        })
    }

    // ----- bookkeeping -----

    fn record(&mut self, url: &Url, reason: String, error: Option<Error>) {
        self.tried.push(format!("{url} ({reason})"));
        if let Some(e @ Error::Security(_)) = error {
            self.security.get_or_insert(e);
        }
    }

    /// The error for a search where every URL failed.
    fn failure(&mut self, what: &'static str) -> Error {
        self.security.take().unwrap_or_else(|| {
            ProtocolError::DiscoveryFailed {
                what,
                tried: std::mem::take(&mut self.tried),
            }
            .into()
        })
    }

    fn finish(&mut self, result: Result<Discovered>) {
        self.step = Step::Done(Box::new(result));
        self.outbox.clear();
        for spec in &mut self.speculative {
            spec.state = SpecState::Spent;
        }
    }
}

/// Legacy metadata at the origin: the issuer must be the origin, or the origin and one `/`.
fn legacy_metadata(
    origin: &str,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<AuthorizationServerMetadata> {
    match process_authorization_server_metadata_response(origin, url, resp, policy) {
        Err(Error::Security(SecurityError::IssuerMismatch { found, .. }))
            if found.strip_suffix('/') == Some(origin) =>
        {
            process_authorization_server_metadata_response(&found, url, resp, policy)
        }
        other => other,
    }
}

/// The error of states the machine never reaches; it keeps the code total without panics.
fn unreachable_state() -> Error {
    ProtocolError::DiscoveryFailed {
        what: "authorization server",
        tried: Vec::new(),
    }
    .into()
}

/// An error's message without a leading copy of `url`, for the `tried` list.
fn reason_of(error: &Error, url: &Url) -> String {
    let text = error.to_string();
    let stripped = text
        .strip_prefix(url.as_str())
        .map(|rest| rest.trim_start_matches(':').trim_start());
    match stripped {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => text,
    }
}
