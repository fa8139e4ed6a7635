//! The HTTP backend: executes the core's [`HttpRequest`]s with reqwest, exactly as given.
//!
//! It makes no protocol decision. It follows no redirect unless the request allows it (a 3xx
//! goes back to the core, which refuses it for OAuth endpoints, RFC 9700 §4.11), stops reading
//! a body at [`HttpRequest::max_response_bytes`] + 1 bytes so that a hostile server cannot make
//! it buffer more (the core then refuses the body as too large), and bounds every request,
//! body included, by one time-out.
//!
//! TLS is rustls with the *ring* provider and the platform's certificate verifier (the OS trust
//! store, so corporate roots work); there is no OpenSSL. `HTTP(S)_PROXY` and `NO_PROXY` are
//! honoured. The TLS configuration, and with it the read of the system's CA bundle, is built
//! once per process, when the first client is; a [`HttpDriver`] builds its one client (one
//! connection pool) on its first request, so work that sends nothing sets up nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mcpauth_core::{HttpRequest, HttpResponse, Method};

use crate::error::{Error, Result};

/// How many redirects a request that allows them may follow.
const MAX_REDIRECTS: usize = 5;

/// How many redirects a request sent inside [`following_redirects`] follows when the caller
/// does not say: reqwest's default, which the MCP requests of an
/// [`AuthClient`](crate::AuthClient) have always followed.
pub(crate) const DEFAULT_REDIRECTS: usize = 10;

tokio::task_local! {
    /// How many redirects the request being sent on this task may follow: the one client's
    /// redirect policy reads it, so requests with and without redirects share one connection
    /// pool. Outside [`following_redirects`], none.
    static REDIRECTS: usize;
}

/// Runs `send` with its requests following up to `limit` redirects (the policy of
/// [`HttpDriver::client`] follows none otherwise).
pub(crate) async fn following_redirects<F: std::future::Future>(
    limit: usize,
    send: F,
) -> F::Output {
    REDIRECTS.scope(limit, send).await
}

/// Sends the core's requests. Cheap to clone (the connection pool is shared).
///
/// Nothing network-related is set up when it is created: the HTTP client, and with it the TLS
/// configuration and the platform's trust roots, is built on the first request (so a command
/// that finds a valid token in the store never pays for it), once, and shared by every clone.
#[derive(Clone, Debug)]
pub struct HttpDriver {
    /// The one client of this driver and its clones, built on first use.
    client: Arc<OnceLock<std::result::Result<reqwest::Client, String>>>,
    timeout: Duration,
    /// Requests sent through this driver and its clones, for measurements.
    sent: Arc<AtomicU64>,
}

impl HttpDriver {
    /// A driver whose requests each get `timeout`, from connecting to the last body byte.
    ///
    /// # Errors
    /// None today: the client is built on the first request, and a TLS configuration or
    /// HTTP client that cannot be built (the platform's certificate store cannot be opened,
    /// say) is that request's [`Error::Transport`].
    pub fn new(timeout: Duration) -> Result<Self> {
        Ok(Self {
            client: Arc::new(OnceLock::new()),
            timeout,
            sent: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The driver's HTTP client, built now if no request has built it yet: one connection
    /// pool for the core's requests and for whatever else the caller sends with it (the MCP
    /// requests of [`AuthClient::with_session`](crate::AuthClient::with_session)). It follows
    /// no redirect, except for requests sent inside a scope that allows them.
    ///
    /// # Errors
    /// [`Error::Transport`] when the TLS configuration or the HTTP client cannot be built.
    pub fn client(&self) -> Result<reqwest::Client> {
        self.client
            .get_or_init(|| {
                tracing::debug!("building the HTTP client");
                client_builder()
                    .and_then(|b| {
                        b.redirect(scoped_redirects())
                            .build()
                            .map_err(|e| client_error(&e))
                    })
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| Error::Transport {
                url: "(client setup)".into(),
                reason,
            })
    }

    /// The per-request time-out.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many requests this driver (and its clones) has sent.
    #[must_use]
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends `req` exactly as given and returns the response, its body cut at
    /// `req.max_response_bytes + 1` bytes.
    ///
    /// A non-2xx status is not an error here: the core judges every response.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the request does not complete in time;
    /// [`Error::Transport`] when it cannot be sent or its response cannot be read.
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let what = describe(&req);
        let client = self.client()?;
        match tokio::time::timeout(self.timeout, self.exchange(client, req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) if e.is_timeout() => Err(Error::Timeout {
                what,
                after: self.timeout,
            }),
            Ok(Err(e)) => Err(Error::Transport {
                url: what,
                // The URL is in `what` already, without its query.
                reason: error_chain(&e.without_url()),
            }),
            Err(_elapsed) => Err(Error::Timeout {
                what,
                after: self.timeout,
            }),
        }
    }

    async fn exchange(
        &self,
        client: reqwest::Client,
        req: HttpRequest,
    ) -> reqwest::Result<HttpResponse> {
        if req.follow_redirects {
            return following_redirects(MAX_REDIRECTS, Self::transfer(client, req)).await;
        }
        Self::transfer(client, req).await
    }

    async fn transfer(client: reqwest::Client, req: HttpRequest) -> reqwest::Result<HttpResponse> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = client.request(method, req.url);
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        if !req.body.is_empty() {
            builder = builder.body(req.body);
        }
        let mut resp = builder.send().await?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), value)
            })
            .collect();
        let body = read_capped(&mut resp, req.max_response_bytes.saturating_add(1)).await?;
        Ok(HttpResponse::new(status, headers, body))
    }
}

/// A reqwest client builder with mcpauth's TLS set up (rustls with *ring*, the OS trust store)
/// and its user agent: for the client an [`AuthClient`](crate::AuthClient) sends MCP requests
/// with.
///
/// The crate builds reqwest without a default TLS provider, so a plain
/// `reqwest::Client::builder()` would panic on its first https request; start from this one.
/// It follows redirects by default (reqwest's policy); set `.redirect(..)` to change that.
///
/// # Errors
/// [`Error::Transport`] when the platform's certificate store cannot be opened.
pub fn client_builder() -> Result<reqwest::ClientBuilder> {
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?.clone())
        .user_agent(concat!("mcpauth/", env!("CARGO_PKG_VERSION"))))
}

/// Reads at most `limit` bytes of the body, chunk by chunk, then drops the connection.
async fn read_capped(resp: &mut reqwest::Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    const INITIAL_CAPACITY: usize = 16 * 1024;
    let hint = resp
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut body = Vec::with_capacity(hint.min(limit).min(INITIAL_CAPACITY));
    while body.len() < limit {
        let Some(chunk) = resp.chunk().await? else {
            break;
        };
        let room = limit - body.len(); // body.len() < limit, checked by the loop
        body.extend(chunk.iter().take(room));
    }
    Ok(body)
}

/// The redirect policy of a [`HttpDriver`]'s client: as many as the task's
/// [`following_redirects`] scope allows, none outside one.
fn scoped_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        match REDIRECTS.try_with(|limit| *limit).unwrap_or(0) {
            0 => attempt.stop(),
            // reqwest's own limit: the same error past it as a client built with it.
            limit => reqwest::redirect::Policy::limited(limit).redirect(attempt),
        }
    })
}

/// rustls with *ring* and the OS trust store; HTTP/1.1 only (the core's exchanges are single
/// small requests, and it keeps the dependency tree small).
///
/// Built once per process, on first use: the platform verifier reads the whole system CA
/// bundle when it is created, which costs milliseconds, so every client shares this one
/// (a `ClientConfig` clone shares its verifier and the roots it loaded).
fn tls_config() -> Result<&'static rustls::ClientConfig> {
    static CONFIG: OnceLock<std::result::Result<rustls::ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls_platform_verifier::BuilderVerifierExt as _;
            tracing::debug!("loading the platform's trust roots");
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_platform_verifier())
                .map_err(|e| e.to_string())?
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(config)
        })
        .as_ref()
        .map_err(|reason| Error::Transport {
            url: "(tls setup)".into(),
            reason: reason.clone(),
        })
}

fn client_error(e: &reqwest::Error) -> Error {
    Error::Transport {
        url: "(client setup)".into(),
        reason: error_chain(e),
    }
}

/// `GET https://as.example/path`, without query or fragment (which could carry parameters
/// that do not belong in messages).
fn describe(req: &HttpRequest) -> String {
    let mut url = req.url.clone();
    url.set_query(None);
    url.set_fragment(None);
    format!("{} {url}", req.method.as_str())
}

/// reqwest's message plus its sources, which say what actually failed ("connection refused").
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_drop_query_and_fragment() {
        let url = url::Url::parse("https://as.example/cb?code=SECRET#frag").unwrap();
        let req = HttpRequest::get_json(url);
        assert_eq!(describe(&req), "GET https://as.example/cb");
    }

    #[test]
    fn tls_builds_with_ring_and_the_platform_verifier_once() {
        let driver = HttpDriver::new(Duration::from_secs(1)).unwrap();
        driver.client().unwrap();
        client_builder().unwrap().build().unwrap();
        // Every client shares the one configuration, roots and all.
        let config: *const rustls::ClientConfig = tls_config().unwrap();
        assert!(std::ptr::eq(config, tls_config().unwrap()));
    }
}
