//! Owned HTTP values: what the core asks a driver to send, and what the driver hands back.
//!
//! The core never talks to the network. It returns [`HttpRequest`] values and validates the
//! [`HttpResponse`] a driver made of them. Both are plain owned data so they cross FFI and
//! wasm-bindgen boundaries without lifetimes.

use serde::{Deserialize, Serialize};
use url::Url;

/// The largest response body the core accepts by default (1 MiB).
///
/// OAuth metadata and token responses are a few kilobytes; anything far larger is a broken or
/// hostile server, and drivers stop reading at [`HttpRequest::max_response_bytes`].
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// An HTTP method the core uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`, for metadata documents.
    Get,
    /// `POST`, for token, registration, device and revocation endpoints.
    Post,
}

impl Method {
    /// The method's name as sent on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request the driver must send exactly as given.
///
/// Drivers must not follow redirects unless [`follow_redirects`](Self::follow_redirects) is set,
/// and must stop reading the body after [`max_response_bytes`](Self::max_response_bytes) (then
/// hand the core a truncated body or report the overflow; either is refused as too large).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: Url,
    /// Header names and values, in order. Names are lowercase.
    pub headers: Vec<(String, String)>,
    /// The body; empty for `GET`.
    pub body: Vec<u8>,
    /// Whether the driver may follow 3xx redirects. The core never sets this today: every
    /// OAuth endpoint must answer directly (RFC 9700 §4.11).
    pub follow_redirects: bool,
    /// The body size past which the response is refused.
    pub max_response_bytes: usize,
    /// JWTs to date, sign and attach before sending (a DPoP proof, a client assertion), in
    /// order; see [`jws`](crate::jws). Empty for most requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<crate::jws::JwsTemplate>,
}

impl HttpRequest {
    /// A `GET` that accepts JSON.
    #[must_use]
    pub fn get_json(url: Url) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
            follow_redirects: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            signatures: Vec::new(),
        }
    }

    /// A `POST` of an `application/x-www-form-urlencoded` body that accepts JSON.
    #[must_use]
    pub fn post_form(url: Url, form: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish()
            .into_bytes();
        Self {
            method: Method::Post,
            url,
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("accept".into(), "application/json".into()),
            ],
            body,
            follow_redirects: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            signatures: Vec::new(),
        }
    }

    /// A `POST` of a JSON body that accepts JSON.
    #[must_use]
    pub fn post_json(url: Url, body: Vec<u8>) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("accept".into(), "application/json".into()),
            ],
            body,
            follow_redirects: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            signatures: Vec::new(),
        }
    }

    /// Appends `name=value` to a form body, encoded as [`post_form`](Self::post_form) encodes
    /// its pairs, so that whatever the body held stays as it was.
    pub(crate) fn append_form_pair(&mut self, name: &str, value: &str) {
        let pair = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        if !self.body.is_empty() {
            self.body.push(b'&');
        }
        self.body.extend_from_slice(pair.as_bytes());
    }

    /// The URL as logs and messages may show it: scheme, host, port and path, then the query's
    /// parameter *names* only (`https://as.example/authorize?state&code_challenge`); no values,
    /// user info or fragment, which can carry codes, `state` or credentials.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        let mut url = self.url.clone();
        url.set_fragment(None);
        // Only URLs that cannot be a base refuse these, and those have no credentials.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let names: Vec<String> = url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        url.set_query(None);
        let mut shown = String::from(url.as_str());
        if !names.is_empty() {
            shown.push('?');
            shown.push_str(&names.join("&"));
        }
        shown
    }

    /// The first value of header `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Adds a header (name lowercased).
    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
    }
}

/// Requests carry secrets (codes, refresh tokens, client secrets) in bodies and headers, so
/// `Debug` shows only the method, the [redacted URL](Self::redacted_url) and header names.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.redacted_url())
            .field("headers", &names)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// A response as the driver received it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names and values, in order (any case).
    pub headers: Vec<(String, String)>,
    /// The body, at most the request's `max_response_bytes` (+1 to show an overflow).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with a status, headers and body.
    #[must_use]
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    /// A JSON response, handy in tests and fixtures.
    #[must_use]
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(
            status,
            vec![("content-type".into(), "application/json".into())],
            body,
        )
    }

    /// The first value of header `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    #[must_use]
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Token responses carry secrets, so `Debug` shows the status, header names and body size.
impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    #[test]
    fn redacted_url_and_debug_show_query_names_but_no_values_or_credentials() {
        let url = Url::parse("https://u:pw@as.example/r?code=c0de&state=st4te#fr4g").unwrap();
        let req = HttpRequest::get_json(url);
        assert_eq!(req.redacted_url(), "https://as.example/r?code&state");
        let debug = format!("{req:?}");
        for secret in ["c0de", "st4te", "fr4g", "pw"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("https://as.example/r?code&state"), "{debug}");
    }

    #[test]
    fn form_body_is_percent_encoded() {
        let req = HttpRequest::post_form(url(), &[("code", "a b&c"), ("x", "é")]);
        assert_eq!(req.body, b"code=a+b%26c&x=%C3%A9");
        assert_eq!(
            req.header("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(!req.follow_redirects);
    }

    #[test]
    fn debug_never_shows_bodies_or_header_values() {
        let mut req = HttpRequest::post_form(url(), &[("refresh_token", "SECRET-RT")]);
        req.push_header("Authorization", "Basic U0VDUkVU");
        let shown = format!("{req:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains("U0VDUkVU"), "{shown}");
        let resp = HttpResponse::json(200, r#"{"access_token":"SECRET-AT"}"#);
        assert!(!format!("{resp:?}").contains("SECRET"));
    }

    #[test]
    fn response_headers_are_case_insensitive() {
        let resp = HttpResponse::new(
            401,
            vec![
                ("WWW-Authenticate".into(), "Bearer a=1".into()),
                ("www-authenticate".into(), "Basic".into()),
            ],
            "",
        );
        assert_eq!(resp.header("www-authenticate"), Some("Bearer a=1"));
        assert_eq!(resp.header_all("WWW-AUTHENTICATE").count(), 2);
    }
}
