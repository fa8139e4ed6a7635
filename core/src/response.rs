//! The checks every JSON response goes through, in one fixed order (as oauth4webapi does):
//! size cap, redirect, status and OAuth error body, JSON object, then fields one by one with
//! messages that name the URL and the field.
//!
//! Token endpoint responses (and the device authorization endpoint's, which shares their
//! conventions) may also be form-encoded: GitHub answers `application/x-www-form-urlencoded`
//! unless the request insists on JSON, for tokens and errors alike. Such a body is read as the
//! JSON object it stands for, every value a string ([`success_json_or_form`],
//! [`oauth_error_json_or_form`]); every other endpoint (metadata, registration, userinfo)
//! keeps requiring JSON.

use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use crate::error::{OAuthError, ProtocolError, Result};
use crate::http::HttpResponse;

/// Refuses bodies past the cap and redirects; every response passes here first.
pub(crate) fn check_transport(url: &Url, resp: &HttpResponse, limit: usize) -> Result<()> {
    if resp.body.len() > limit {
        return Err(ProtocolError::ResponseTooLarge {
            url: url.to_string(),
            limit,
        }
        .into());
    }
    if (300..400).contains(&resp.status) {
        return Err(ProtocolError::UnexpectedRedirect {
            url: url.to_string(),
            status: resp.status,
        }
        .into());
    }
    Ok(())
}

/// The OAuth error in a body, if it is a JSON object with a string `error`.
pub(crate) fn oauth_error(url: &Url, resp: &HttpResponse) -> Option<OAuthError> {
    oauth_error_in(url, resp, Body::Json)
}

/// [`oauth_error`] for a token endpoint: the body may also be form-encoded, as its content
/// type says (`error=authorization_pending&error_description=...`, GitHub's way).
pub(crate) fn oauth_error_json_or_form(url: &Url, resp: &HttpResponse) -> Option<OAuthError> {
    oauth_error_in(url, resp, Body::JsonOrForm)
}

/// The `error` code of an OAuth error body, JSON or form-encoded (whatever the status), for
/// checks that need only the code.
pub(crate) fn oauth_error_code(resp: &HttpResponse) -> Option<String> {
    let map = Body::JsonOrForm.object(resp).ok()?;
    Some(map.get("error")?.as_str()?.to_owned())
}

fn oauth_error_in(url: &Url, resp: &HttpResponse, body: Body) -> Option<OAuthError> {
    oauth_error_of(url, resp, &body.object(resp).ok()?)
}

/// The OAuth error `map` states, if it has a string `error`.
fn oauth_error_of(url: &Url, resp: &HttpResponse, map: &Map<String, Value>) -> Option<OAuthError> {
    let error = map.get("error")?.as_str()?.to_owned();
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(OAuthError {
        error,
        error_description: text("error_description"),
        error_uri: text("error_uri"),
        status: resp.status,
        where_: url.to_string(),
    })
}

/// The delay of a `Retry-After` header given in seconds (RFC 9110 §10.2.3). An HTTP-date is
/// not converted (the core reads no clock to subtract it from) and yields `None`, as does a
/// malformed value.
pub(crate) fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let value = resp.header("retry-after")?.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// [`ProtocolError::TemporarilyUnavailable`] for a 503 or 429 response, with its
/// `Retry-After`; `None` for any other status.
pub(crate) fn temporarily_unavailable(url: &Url, resp: &HttpResponse) -> Option<ProtocolError> {
    matches!(resp.status, 429 | 503).then(|| ProtocolError::TemporarilyUnavailable {
        url: url.to_string(),
        status: resp.status,
        retry_after: retry_after(resp),
    })
}

/// Runs the transport and status checks and parses a JSON object.
///
/// A non-2xx status with an OAuth error body becomes [`OAuthError`]; without one, a 503 or
/// 429 (an overloaded server, or the proxy in front of it) becomes
/// [`ProtocolError::TemporarilyUnavailable`], so that every step reports "try again later"
/// under one code, and any other status [`ProtocolError::UnexpectedStatus`].
pub(crate) fn success_json(url: &Url, resp: &HttpResponse, limit: usize) -> Result<Json> {
    success_in(url, resp, limit, Body::Json)
}

/// [`success_json`] for a token endpoint (and the device authorization endpoint): a body whose
/// `Content-Type` is `application/x-www-form-urlencoded` is read as the JSON object it stands
/// for, each parameter a string member, for the success and the OAuth error alike. And a 2xx
/// body with a string `error` is that [`OAuthError`], not a token response missing its
/// fields: GitHub answers token errors (`bad_verification_code`, `bad_refresh_token`) with
/// HTTP 200.
pub(crate) fn success_json_or_form(url: &Url, resp: &HttpResponse, limit: usize) -> Result<Json> {
    success_in(url, resp, limit, Body::JsonOrForm)
}

fn success_in(url: &Url, resp: &HttpResponse, limit: usize, body: Body) -> Result<Json> {
    check_transport(url, resp, limit)?;
    if !resp.is_success() {
        if let Some(e) = oauth_error_in(url, resp, body) {
            return Err(e.into());
        }
        if let Some(unavailable) = temporarily_unavailable(url, resp) {
            return Err(unavailable.into());
        }
        return Err(ProtocolError::UnexpectedStatus {
            url: url.to_string(),
            status: resp.status,
            expected: "2xx",
        }
        .into());
    }
    let map = body
        .object(resp)
        .map_err(|reason| ProtocolError::InvalidJson {
            url: url.to_string(),
            reason,
        })?;
    if body == Body::JsonOrForm {
        if let Some(e) = oauth_error_of(url, resp, &map) {
            return Err(e.into());
        }
    }
    Ok(Json {
        url: url.to_string(),
        map,
    })
}

/// The bodies an endpoint may answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// A JSON object, whatever the content type says.
    Json,
    /// A JSON object, or a form-encoded body when the content type says so.
    JsonOrForm,
}

/// The media type of a form-encoded body.
const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

impl Body {
    /// The body of `resp` as an object, or why it is not one.
    fn object(self, resp: &HttpResponse) -> std::result::Result<Map<String, Value>, String> {
        if self == Self::JsonOrForm && is_form(resp) {
            return form_object(&resp.body);
        }
        match serde_json::from_slice::<Value>(&resp.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(format!("the body is a JSON {}", kind(&other))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Whether the `Content-Type` of `resp` is `application/x-www-form-urlencoded` (in any case,
/// with any parameters such as `charset`).
fn is_form(resp: &HttpResponse) -> bool {
    resp.header("content-type")
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(FORM_MEDIA_TYPE))
}

/// A form-encoded body (the URL Standard's `application/x-www-form-urlencoded` parser, with
/// `+` for a space) as the JSON object it stands for: each `name=value` a string member.
///
/// Refuses what a JSON parser would refuse in its own terms: a name or value that is not
/// UTF-8 once decoded (instead of replacing bytes, which would corrupt a token), and a
/// repeated name, since "request and response parameters MUST NOT be included more than once"
/// (RFC 6749 §3.1) and a second `access_token` must not silently win.
pub(crate) fn form_object(body: &[u8]) -> std::result::Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let mut halves = pair.splitn(2, |&b| b == b'=');
        let name = form_decode(halves.next().unwrap_or_default())
            .ok_or("a parameter name of the form-encoded body is not UTF-8")?;
        let value = form_decode(halves.next().unwrap_or_default()).ok_or_else(|| {
            format!(
                "the value of `{}` in the form-encoded body is not UTF-8",
                shown(&name)
            )
        })?;
        if map.contains_key(&name) {
            return Err(format!(
                "the form-encoded body repeats `{}`; a parameter appears at most once \
                 (RFC 6749 §3.1)",
                shown(&name)
            ));
        }
        map.insert(name, Value::String(value));
    }
    Ok(map)
}

/// One name or value of a form body: `+` is a space, then percent-decoding, then UTF-8.
fn form_decode(part: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = part
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A server-chosen name, cut short for a message.
fn shown(name: &str) -> String {
    name.chars().take(40).collect()
}

/// A JSON object and the URL it came from, with typed field readers.
pub(crate) struct Json {
    url: String,
    map: Map<String, Value>,
}

impl Json {
    /// Parses `body` as a JSON object.
    pub(crate) fn parse(url: &Url, body: &[u8]) -> Result<Self> {
        let reason = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                return Ok(Self {
                    url: url.to_string(),
                    map,
                });
            }
            Ok(other) => format!("the body is a JSON {}", kind(&other)),
            Err(e) => e.to_string(),
        };
        Err(ProtocolError::InvalidJson {
            url: url.to_string(),
            reason,
        }
        .into())
    }

    /// The URL the document came from, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> crate::Error {
        ProtocolError::InvalidField {
            url: self.url.clone(),
            field,
            reason: reason.into(),
        }
        .into()
    }

    fn present(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// A string field that must be present.
    pub(crate) fn req_str(&self, field: &'static str) -> Result<String> {
        self.str(field)?.ok_or_else(|| {
            ProtocolError::MissingField {
                url: self.url.clone(),
                field,
            }
            .into()
        })
    }

    /// An optional string field; `null` counts as absent.
    pub(crate) fn str(&self, field: &'static str) -> Result<Option<String>> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.invalid(field, format!("must be a string, got {}", kind(v)))),
        }
    }

    /// An optional boolean field.
    pub(crate) fn bool(&self, field: &'static str) -> Result<Option<bool>> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.invalid(field, format!("must be a boolean, got {}", kind(v)))),
        }
    }

    /// An optional non-negative integer; a string of digits is accepted too, because some
    /// deployed servers send `"expires_in": "3600"`.
    pub(crate) fn u64(&self, field: &'static str) -> Result<Option<u64>> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                self.invalid(field, format!("must be a non-negative integer, got {n}"))
            }),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(field, "is out of range")),
            Some(v) => Err(self.invalid(field, format!("must be a number, got {}", kind(v)))),
        }
    }

    /// An optional duration in whole seconds (`expires_in`, `interval`), read by one rule for
    /// every endpoint: a JSON number with no fractional part (`3600`, `3600.0`) or a string of
    /// ASCII digits only (`"3600"`, as some deployed servers send), at most
    /// [`MAX_DURATION_SECS`](crate::token::MAX_DURATION_SECS). Anything else (`"3600.5"`,
    /// `-1`, `"1h"`, `" 60"`, `""`, `true`, larger values) is
    /// [`ProtocolError::InvalidField`] naming the URL and the field.
    pub(crate) fn seconds(&self, field: &'static str) -> Result<Option<Duration>> {
        const RULE: &str =
            "must be a whole number of seconds (a JSON number or a string of digits)";
        let secs = match self.present(field) {
            None => return Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
                (Some(secs), _) => Some(secs),
                // An integral float (`3600.0`); the cast is exact once bounded by the maximum.
                (None, Some(f)) if f.fract() == 0.0 && f >= 0.0 => {
                    (f <= crate::token::MAX_DURATION_SECS as f64).then_some(f as u64)
                }
                _ => return Err(self.invalid(field, format!("{RULE}, got {n}"))),
            },
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u64>().ok()
            }
            Some(Value::String(s)) => {
                let shown: String = s.chars().take(20).collect();
                return Err(self.invalid(field, format!("{RULE}, got the string {shown:?}")));
            }
            Some(v) => return Err(self.invalid(field, format!("{RULE}, got {}", kind(v)))),
        };
        // `secs` is `None` for an integral value too large to convert.
        match secs.filter(|&s| s <= crate::token::MAX_DURATION_SECS) {
            Some(secs) => Ok(Some(Duration::from_secs(secs))),
            None => Err(self.invalid(
                field,
                format!(
                    "is more than {} seconds (about 136 years), which is taken for a server bug",
                    crate::token::MAX_DURATION_SECS
                ),
            )),
        }
    }

    /// An optional array of strings.
    pub(crate) fn str_array(&self, field: &'static str) -> Result<Option<Vec<String>>> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.invalid(
                        field,
                        format!("must hold only strings, found {}", kind(other)),
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.invalid(field, format!("must be an array, got {}", kind(v)))),
        }
    }

    /// An optional absolute URL field.
    pub(crate) fn url_field(&self, field: &'static str) -> Result<Option<Url>> {
        self.str(field)?
            .map(|s| {
                Url::parse(&s)
                    .map_err(|e| self.invalid(field, format!("is not an absolute URL: {e}")))
            })
            .transpose()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn url() -> Url {
        Url::parse("https://as.example/.well-known/oauth-authorization-server").unwrap()
    }

    #[test]
    fn oauth_error_body_wins_over_status() {
        let resp = HttpResponse::json(
            400,
            r#"{"error":"invalid_client","error_description":"nope"}"#,
        );
        let err = success_json(&url(), &resp, 1024).err().unwrap();
        let oauth = err.oauth().unwrap();
        assert_eq!(oauth.error, "invalid_client");
        assert_eq!(oauth.status, 400);
    }

    #[test]
    fn non_json_error_is_unexpected_status() {
        let resp = HttpResponse::new(500, vec![], "<html>oops</html>");
        let err = success_json(&url(), &resp, 1024).err().unwrap();
        assert_eq!(err.code(), "UNEXPECTED_STATUS");
        assert!(err.to_string().contains("HTTP 500"), "{err}");
    }

    #[test]
    fn a_503_or_429_without_an_oauth_error_is_temporarily_unavailable() {
        for status in [503, 429] {
            let resp = HttpResponse::new(status, vec![], "<html>Service Unavailable</html>");
            let err = success_json(&url(), &resp, 1024).err().unwrap();
            assert_eq!(err.code(), "TEMPORARILY_UNAVAILABLE");
            assert!(err.to_string().contains(&format!("HTTP {status}")), "{err}");
        }
        for status in [500, 502] {
            let resp = HttpResponse::new(status, vec![], "<html>Bad Gateway</html>");
            let err = success_json(&url(), &resp, 1024).err().unwrap();
            assert_eq!(err.code(), "UNEXPECTED_STATUS", "{status}");
        }
        let oauth = HttpResponse::json(503, br#"{"error":"temporarily_unavailable"}"#.to_vec());
        let err = success_json(&url(), &oauth, 1024).err().unwrap();
        assert_eq!(
            err.code(),
            "OAUTH_ERROR",
            "the server's own error comes first"
        );
    }

    #[test]
    fn oversized_and_redirect_are_refused_before_parsing() {
        let big = HttpResponse::json(200, vec![b' '; 2000]);
        assert_eq!(
            success_json(&url(), &big, 1000).err().unwrap().code(),
            "RESPONSE_TOO_LARGE"
        );
        let redirect = HttpResponse::new(302, vec![("location".into(), "https://evil".into())], "");
        assert_eq!(
            success_json(&url(), &redirect, 1000).err().unwrap().code(),
            "UNEXPECTED_REDIRECT"
        );
    }

    #[test]
    fn field_errors_name_url_and_field() {
        let json = Json::parse(
            &url(),
            br#"{"issuer": 5, "n": "12", "bad": -1, "arr": ["a", 1]}"#,
        )
        .unwrap();
        let err = json.str("issuer").unwrap_err();
        assert_eq!(
            err.to_string(),
            "https://as.example/.well-known/oauth-authorization-server: field `issuer` must be a string, got number"
        );
        assert_eq!(json.u64("n").unwrap(), Some(12));
        assert!(matches!(
            json.u64("bad"),
            Err(Error::Protocol(ProtocolError::InvalidField {
                field: "bad",
                ..
            }))
        ));
        assert!(json.str_array("arr").is_err());
        assert!(matches!(
            json.req_str("absent"),
            Err(Error::Protocol(ProtocolError::MissingField {
                field: "absent",
                ..
            }))
        ));
    }

    #[test]
    fn retry_after_reads_delay_seconds_only() {
        let with = |v: &str| HttpResponse::new(503, vec![("Retry-After".into(), v.into())], "");
        assert_eq!(retry_after(&with("120")), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&with(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&with("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(&with("-1")), None);
        assert_eq!(retry_after(&with("99999999999999999999999")), None);
        assert_eq!(retry_after(&HttpResponse::new(503, vec![], "")), None);
        let err = temporarily_unavailable(&url(), &with("30")).unwrap();
        assert_eq!(err.code(), "TEMPORARILY_UNAVAILABLE");
        assert!(
            err.to_string().ends_with("(HTTP 503); retry after 30 s"),
            "{err}"
        );
        assert!(temporarily_unavailable(&url(), &HttpResponse::new(500, vec![], "")).is_none());
    }

    fn form(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(
            status,
            vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body,
        )
    }

    #[test]
    fn only_token_endpoints_read_form_encoded_bodies() {
        let ok = form(200, "access_token=at&expires_in=3600");
        let json = success_json_or_form(&url(), &ok, 1024).unwrap();
        assert_eq!(json.req_str("access_token").unwrap(), "at");
        assert_eq!(json.u64("expires_in").unwrap(), Some(3600));
        // Metadata, registration and userinfo keep requiring JSON.
        let e = success_json(&url(), &ok, 1024).err().unwrap();
        assert_eq!(e.code(), "INVALID_JSON");
        let error = form(400, "error=invalid_client");
        assert_eq!(
            success_json(&url(), &error, 1024).err().unwrap().code(),
            "UNEXPECTED_STATUS"
        );
        assert!(oauth_error(&url(), &error).is_none());
        let e = success_json_or_form(&url(), &error, 1024).err().unwrap();
        assert_eq!(e.oauth().unwrap().error, "invalid_client");
        assert_eq!(
            oauth_error_json_or_form(&url(), &error).unwrap().status,
            400
        );
    }

    #[test]
    fn form_bodies_decode_plus_percent_and_bare_names() {
        let map = form_object(b"a=1+2&&b=%26%3D%2B&c&d=&=e").unwrap();
        let text = |k: &str| map.get(k).and_then(Value::as_str);
        assert_eq!(text("a"), Some("1 2"));
        assert_eq!(text("b"), Some("&=+"));
        assert_eq!(text("c"), Some(""));
        assert_eq!(text("d"), Some(""));
        assert_eq!(text(""), Some("e"));
        assert_eq!(map.len(), 5, "empty segments are skipped: {map:?}");
        assert!(form_object(b"").unwrap().is_empty());
        assert!(
            form_object(b"a=1&a=1").is_err(),
            "a repeat, even of the same value"
        );
        assert!(form_object(b"%C3%28=x").is_err(), "not UTF-8");
    }

    #[test]
    fn an_error_code_is_read_from_json_or_form_bodies() {
        assert_eq!(
            oauth_error_code(&form(400, "error=use_dpop_nonce")).as_deref(),
            Some("use_dpop_nonce")
        );
        assert_eq!(
            oauth_error_code(&HttpResponse::json(400, r#"{"error":"x"}"#)).as_deref(),
            Some("x")
        );
        assert_eq!(oauth_error_code(&form(400, "error_description=x")), None);
        assert_eq!(oauth_error_code(&HttpResponse::json(400, "error=x")), None);
    }

    proptest::proptest! {
        #[test]
        fn any_parameters_survive_form_encoding(
            params in proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..8),
        ) {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish();
            let map = form_object(body.as_bytes()).unwrap();
            let expected: Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            proptest::prop_assert_eq!(map, expected);
        }

        #[test]
        fn arbitrary_form_bodies_never_panic(
            status in proptest::sample::select(vec![200u16, 400, 503]),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let resp = HttpResponse { body, ..form(status, "") };
            let parsed = success_json_or_form(&url(), &resp, 1024);
            let _ = oauth_error_json_or_form(&url(), &resp);
            let _ = oauth_error_code(&resp);
            if let Err(e) = parsed {
                let code = e.code();
                proptest::prop_assert!(
                    ["OAUTH_ERROR", "INVALID_JSON", "TEMPORARILY_UNAVAILABLE", "UNEXPECTED_STATUS"]
                        .contains(&code),
                    "{}", code
                );
            }
        }
    }

    #[test]
    fn non_object_json_is_refused() {
        let err = Json::parse(&url(), b"[1,2]").err().unwrap();
        assert!(err.to_string().contains("JSON array"), "{err}");
    }
}
