//! One request to the remote MCP server, through [`AuthClient::execute`]: the bearer token,
//! one refresh on 401, step-up on 403 `insufficient_scope`, a login when allowed.
//!
//! The body is [`Bytes`], so the builder that `execute` calls again for each retry sends the
//! same body without copying it. Only the response head has a deadline (the session's request
//! time-out): an SSE body may stay open for as long as the server streams.

use bytes::Bytes;
use reqwest::Method;

use crate::auth_client::AuthClient;
use crate::error::Result;
use crate::session::{LoginOptions, Session};

/// The remote MCP endpoint and the clients that reach it.
#[derive(Debug)]
pub(crate) struct Upstream {
    url: String,
    /// Logs in when a token cannot be had otherwise, if the bridge may.
    client: AuthClient,
    /// Never logs in: for the server-message stream and the closing `DELETE`, which must not
    /// start a login the host did not ask for.
    quiet: AuthClient,
    /// Headers the configuration adds to every request (an API gateway's key, say).
    extra: Vec<(String, String)>,
}

/// Whether a request may start a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MayLogIn {
    /// As the bridge's options say.
    AsConfigured,
    /// Never (background requests).
    Never,
}

impl Upstream {
    /// Clients over `session` for `url`; `login` allows logging in with those options.
    pub(crate) fn new(session: Session, url: &str, login: Option<LoginOptions>) -> Result<Self> {
        let quiet = AuthClient::with_session(session.clone())?;
        let mut client = AuthClient::with_session(session)?;
        if let Some(options) = login {
            client = client.with_login(options);
        }
        Ok(Self {
            url: url.to_owned(),
            client,
            quiet,
            extra: Vec::new(),
        })
    }

    /// Adds `headers` to every request.
    pub(crate) fn add_headers(&mut self, headers: impl IntoIterator<Item = (String, String)>) {
        self.extra.extend(headers);
    }

    /// Sends `method` with `headers` (and the configured ones) and `body`, returning the
    /// response as soon as its head is in.
    ///
    /// # Errors
    /// Whatever [`AuthClient::execute`] fails with: `LOGIN_REQUIRED`, transport errors, the
    /// response-head time-out, login errors.
    pub(crate) async fn send(
        &self,
        method: Method,
        headers: &[(String, String)],
        body: Option<Bytes>,
        may_log_in: MayLogIn,
    ) -> Result<reqwest::Response> {
        let client = match may_log_in {
            MayLogIn::AsConfigured => &self.client,
            MayLogIn::Never => &self.quiet,
        };
        client
            .execute(&self.url, |http| {
                let mut request = http.request(method.clone(), &self.url);
                for (name, value) in self.extra.iter().chain(headers) {
                    request = request.header(name.as_str(), value.as_str());
                }
                if let Some(body) = &body {
                    request = request.body(body.clone());
                }
                request
            })
            .await
    }
}

/// The media type of `response`, lowercased, without parameters.
pub(crate) fn media_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A response header as text, if present and readable.
pub(crate) fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The events of an SSE response body, read as its chunks arrive.
pub(crate) struct Events {
    response: reqwest::Response,
    parser: crate::bridge::sse::SseParser,
    ready: std::collections::VecDeque<crate::bridge::sse::SseEvent>,
}

impl Events {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            parser: crate::bridge::sse::SseParser::default(),
            ready: std::collections::VecDeque::new(),
        }
    }

    /// The next event; `None` when the body ended.
    ///
    /// # Errors
    /// The transport error that cut the body off.
    pub(crate) async fn next(
        &mut self,
    ) -> Option<Result<crate::bridge::sse::SseEvent, reqwest::Error>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.ready.extend(self.parser.push(&chunk)),
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The id of the last event that set one.
    pub(crate) fn last_event_id(&self) -> Option<String> {
        self.parser.last_event_id().map(str::to_owned)
    }

    /// The server's reconnection delay advice.
    pub(crate) fn retry(&self) -> Option<std::time::Duration> {
        self.parser.retry_ms().map(std::time::Duration::from_millis)
    }
}

/// Reads a whole (JSON) body, stopping at `limit` bytes: a body past it is cut, and then
/// fails to parse rather than filling memory.
///
/// # Errors
/// The transport error that cut the body off.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            break;
        }
    }
    Ok(body)
}
