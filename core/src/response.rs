//! The checks every JSON response goes through, in one fixed order (as oauth4webapi does):
//! size cap, redirect, status and OAuth error body, JSON object, then fields one by one with
//! messages that name the URL and the field.

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
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&resp.body) else {
        return None;
    };
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
    check_transport(url, resp, limit)?;
    if !resp.is_success() {
        if let Some(e) = oauth_error(url, resp) {
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
    Json::parse(url, &resp.body)
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

    #[test]
    fn non_object_json_is_refused() {
        let err = Json::parse(&url(), b"[1,2]").err().unwrap();
        assert!(err.to_string().contains("JSON array"), "{err}");
    }
}
