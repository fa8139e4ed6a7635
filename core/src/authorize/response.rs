//! Validation of the redirect back from the authorization endpoint (RFC 6749 §4.1.2,
//! RFC 9207 §2.4).

use super::PendingAuthorization;
use crate::error::{OAuthError, ProtocolError, Result, SecurityError};
use crate::secret::AuthorizationCode;

/// Where errors about the redirect back are located, in messages.
const RESPONSE: &str = "authorization response";

/// A validated authorization response: the code, ready for the exchange.
///
/// Only [`validate_authorization_response`] makes one, so holding one proves the state and
/// issuer checks passed. It is not `Clone`: a code is exchanged once
/// ([`authorization_code_grant_request`](crate::token::authorization_code_grant_request)
/// takes it by value).
#[derive(Debug)]
pub struct AuthorizationResponse {
    code: AuthorizationCode,
}

impl AuthorizationResponse {
    /// The code, consumed by the exchange.
    pub(crate) fn into_code(self) -> AuthorizationCode {
        self.code
    }
}

/// Validates the redirect back from the authorization endpoint (RFC 6749 §4.1.2, §4.1.2.1;
/// RFC 9207 §2.4; MCP "Authorization Response Validation").
///
/// `callback` is the full redirect URL, the request target (`/callback?code=...`), or its
/// query string with or without the leading `?`. A fragment is refused: the response to
/// `response_type=code` comes in the query.
///
/// Checks, in order: parameters parse and none of `code`, `state`, `iss`, `error`,
/// `error_description`, `error_uri` repeats (RFC 6749 §3.1); `state` is present and equal
/// (in constant time) to the one sent; `iss` per RFC 9207 §2.4 (compared by exact string
/// equality after form-decoding, also for error responses); then an `error` becomes an
/// [`OAuthError`] with status 0; finally `code` must be present.
///
/// | `iss_parameter_supported` | `iss` in response | action |
/// |---|---|---|
/// | true | present | compare |
/// | true | absent | [`SecurityError::IssMissing`] |
/// | false | present | compare |
/// | false | absent | proceed |
///
/// On an `iss` mismatch the server's `error`, `error_description` and `error_uri` are not
/// surfaced: they come from a server the client did not talk to. When `iss` is only missing,
/// the error is still refused with `ISS_MISSING`, but an `error` it carried is kept in
/// [`SecurityError::IssMissing`]'s `oauth_error` and leads its message, so the user reads
/// that the login was declined (`access_denied`) rather than only that `iss` was absent.
///
/// # Errors
/// [`SecurityError::StateMissing`], [`SecurityError::StateMismatch`],
/// [`SecurityError::IssMissing`], [`SecurityError::IssMismatch`]; [`OAuthError`] for an error
/// response; [`ProtocolError::MissingField`] without `code`; [`ProtocolError::InvalidField`]
/// for a fragment, a repeated parameter or an empty code.
pub fn validate_authorization_response(
    pending: &PendingAuthorization,
    callback: &str,
) -> Result<AuthorizationResponse> {
    let params = CallbackParams::parse(callback)?;
    let state = params.state.ok_or(SecurityError::StateMissing)?;
    if !pending.state.ct_eq(&state) {
        return Err(SecurityError::StateMismatch.into());
    }
    let reported = params.error.map(|error| OAuthError {
        error,
        error_description: params.error_description,
        error_uri: params.error_uri,
        status: 0,
        where_: RESPONSE.into(),
    });
    check_iss(pending, params.iss.as_deref(), reported.as_ref())?;
    if let Some(error) = reported {
        return Err(error.into());
    }
    let code = params.code.ok_or_else(|| ProtocolError::MissingField {
        url: RESPONSE.into(),
        field: "code",
    })?;
    if code.is_empty() {
        return Err(ProtocolError::InvalidField {
            url: RESPONSE.into(),
            field: "code",
            reason: "must not be empty".into(),
        }
        .into());
    }
    Ok(AuthorizationResponse {
        code: AuthorizationCode::new(code),
    })
}

/// Whether `callback` carries this login's `state` (compared in constant time) and parses.
///
/// Drivers that listen for the redirect (loopback servers) use it to decide whether a request
/// ends the wait: one that does not carry the state may be forged by any page that knows the
/// port, so it gets an error page and the wait goes on; one that does ends the login with
/// whatever [`validate_authorization_response`] makes of it (a code, the server's error, or a
/// failed `iss` check).
///
/// ```
/// use mcpauth_core::authorize::{PendingAuthorization, callback_belongs_to};
/// let pending: PendingAuthorization = serde_json::from_str(r#"{"issuer":"https://as.example",
///     "iss_parameter_supported":false,"token_endpoint":"https://as.example/token",
///     "client_id":"c","redirect_uri":"http://127.0.0.1:9/cb","resource":null,"scope":null,
///     "state":"s-123","verifier":"v"}"#).unwrap();
/// assert!(callback_belongs_to(&pending, "/cb?error=access_denied&state=s-123"));
/// assert!(!callback_belongs_to(&pending, "/cb?code=x&state=forged"));
/// assert!(!callback_belongs_to(&pending, "/cb?code=x"));
/// assert!(!callback_belongs_to(&pending, "/cb?state=s-123&state=s-123"));
/// ```
#[must_use]
pub fn callback_belongs_to(pending: &PendingAuthorization, callback: &str) -> bool {
    CallbackParams::parse(callback)
        .ok()
        .and_then(|params| params.state)
        .is_some_and(|state| pending.state.ct_eq(&state))
}

/// RFC 9207 §2.4: compare when present, refuse when advertised but absent.
///
/// `reported` is the OAuth error the response carries, if any. It is dropped on a mismatch
/// (it comes from a server the client did not talk to) and passed along, made safe for
/// display, when `iss` is only missing.
fn check_iss(
    pending: &PendingAuthorization,
    iss: Option<&str>,
    reported: Option<&OAuthError>,
) -> Result<()> {
    match iss {
        Some(iss) if iss == pending.issuer => Ok(()),
        Some(iss) => Err(SecurityError::IssMismatch {
            expected: pending.issuer.clone(),
            found: for_display(iss),
        }
        .into()),
        None if pending.iss_parameter_supported => Err(SecurityError::IssMissing {
            expected: pending.issuer.clone(),
            oauth_error: reported.map(|e| Box::new(unverified(e))),
        }
        .into()),
        None => Ok(()),
    }
}

/// An OAuth error from a response that failed the `iss` check, with every value passed
/// through [`for_display`].
fn unverified(error: &OAuthError) -> OAuthError {
    OAuthError {
        error: for_display(&error.error),
        error_description: error.error_description.as_deref().map(for_display),
        error_uri: error.error_uri.as_deref().map(for_display),
        status: error.status,
        where_: error.where_.clone(),
    }
}

/// A value from an untrusted party, made safe for a message: control characters escaped,
/// at most 200 characters kept.
fn for_display(value: &str) -> String {
    const MAX: usize = 200;
    let mut shown: String = value
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    shown
}

/// The parameters of an authorization response the core reads.
#[derive(Default)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_uri: Option<String>,
}

impl CallbackParams {
    /// Form-decodes the query of `callback`, refusing fragments and repeated parameters.
    fn parse(callback: &str) -> Result<Self> {
        let query = callback_query(callback)?;
        let mut params = Self::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let (slot, field) = match name.as_ref() {
                "code" => (&mut params.code, "code"),
                "state" => (&mut params.state, "state"),
                "iss" => (&mut params.iss, "iss"),
                "error" => (&mut params.error, "error"),
                "error_description" => (&mut params.error_description, "error_description"),
                "error_uri" => (&mut params.error_uri, "error_uri"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(ProtocolError::InvalidField {
                    url: RESPONSE.into(),
                    field,
                    reason: "appears more than once (RFC 6749 §3.1)".into(),
                }
                .into());
            }
            *slot = Some(value.into_owned());
        }
        Ok(params)
    }
}

/// The raw query of a redirect URL, request target or query string.
fn callback_query(callback: &str) -> Result<&str> {
    if callback.contains('#') {
        return Err(ProtocolError::InvalidField {
            url: RESPONSE.into(),
            field: "fragment",
            reason: "is not accepted: the response to response_type=code is in the query \
                     (RFC 6749 §4.1.2)"
                .into(),
        }
        .into());
    }
    if let Some(query) = callback.strip_prefix('?') {
        return Ok(query);
    }
    if callback.starts_with('/') || has_scheme(callback) {
        return Ok(callback.split_once('?').map_or("", |(_, query)| query));
    }
    Ok(callback)
}

/// Whether `s` starts with a URL scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`,
/// RFC 3986 §3.1). No response parameter name contains `:`, so a query string never does.
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthorizationServerMetadata;
    use crate::Policy;
    use crate::authorize::tests::{ISSUER, STATE, pending, pending_at};
    use proptest::prelude::*;

    fn validate(pending: &PendingAuthorization, callback: &str) -> Result<String> {
        validate_authorization_response(pending, callback)
            .map(|r| r.into_code().secret().to_owned())
    }

    fn err(pending: &PendingAuthorization, callback: &str) -> crate::Error {
        validate(pending, callback).unwrap_err()
    }

    #[test]
    fn code_is_returned_from_url_request_target_or_query() {
        let p = pending(false);
        for callback in [
            format!("http://127.0.0.1:8123/cb?code=c0de&state={STATE}"),
            format!("/cb?code=c0de&state={STATE}"),
            format!("?code=c0de&state={STATE}"),
            format!("code=c0de&state={STATE}"),
            format!("state={STATE}&session_state=x&code=c0de"),
        ] {
            assert_eq!(validate(&p, &callback).unwrap(), "c0de", "{callback}");
        }
        assert_eq!(
            validate(&p, &format!("code=a%2Bb+c&state={STATE}")).unwrap(),
            "a+b c"
        );
    }

    #[test]
    fn state_missing_or_different_is_refused() {
        let p = pending(false);
        assert_eq!(err(&p, "code=c0de").code(), "STATE_MISSING");
        assert_eq!(err(&p, "http://127.0.0.1:8123/cb").code(), "STATE_MISSING");
        for other in ["x", "", &STATE[1..], &format!("{STATE}x")] {
            let e = err(&p, &format!("code=c0de&state={other}"));
            assert_eq!(e.code(), "STATE_MISMATCH", "{other}");
        }
        // An error response with a wrong state is not surfaced either.
        let e = err(&p, "error=access_denied&state=x");
        assert_eq!(e.code(), "STATE_MISMATCH");
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let p = pending(false);
        for (callback, field) in [
            (format!("code=a&state={STATE}&state={STATE}"), "state"),
            (format!("code=a&code=b&state={STATE}"), "code"),
            (
                format!("code=a&state={STATE}&iss={ISSUER}&iss={ISSUER}"),
                "iss",
            ),
            (format!("error=a&error=b&state={STATE}"), "error"),
        ] {
            let e = err(&p, &callback);
            assert!(
                matches!(&e, crate::Error::Protocol(ProtocolError::InvalidField { field: f, .. }) if *f == field),
                "{callback}: {e}"
            );
        }
    }

    #[test]
    fn code_is_required_and_not_empty() {
        let p = pending(false);
        let e = err(&p, &format!("state={STATE}"));
        assert_eq!(
            e.to_string(),
            "authorization response: required field `code` is missing"
        );
        assert_eq!(
            err(&p, &format!("code=&state={STATE}")).code(),
            "INVALID_FIELD"
        );
    }

    #[test]
    fn responses_in_the_fragment_are_refused() {
        let p = pending(false);
        for callback in [
            format!("http://127.0.0.1:8123/cb#code=c0de&state={STATE}"),
            format!("http://127.0.0.1:8123/cb?code=c0de&state={STATE}#"),
            format!("#code=c0de&state={STATE}"),
        ] {
            let e = err(&p, &callback);
            assert_eq!(e.code(), "INVALID_FIELD", "{callback}");
            assert!(e.to_string().contains("fragment"), "{e}");
        }
    }

    /// RFC 9207 §2.4 and the MCP four-row table, plus error responses.
    #[test]
    fn iss_table_supported_and_present_compares() {
        let p = pending(true);
        let ok = format!("code=c0de&state={STATE}&iss=https%3A%2F%2Fas.example");
        assert_eq!(validate(&p, &ok).unwrap(), "c0de");
        let e = err(
            &p,
            &format!("code=c0de&state={STATE}&iss=https://evil.example"),
        );
        assert_eq!(e.code(), "ISS_MISMATCH");
        assert_eq!(
            e.to_string(),
            "the authorization response comes from issuer `https://evil.example`, expected `https://as.example` (possible mix-up attack)"
        );
    }

    #[test]
    fn iss_table_supported_and_absent_is_refused() {
        let e = err(&pending(true), &format!("code=c0de&state={STATE}"));
        assert_eq!(e.code(), "ISS_MISSING");
    }

    #[test]
    fn iss_table_unsupported_and_present_still_compares() {
        let p = pending(false);
        assert_eq!(
            validate(&p, &format!("code=c0de&state={STATE}&iss={ISSUER}")).unwrap(),
            "c0de"
        );
        let e = err(
            &p,
            &format!("code=c0de&state={STATE}&iss=https://evil.example"),
        );
        assert_eq!(e.code(), "ISS_MISMATCH");
        let e = err(&p, &format!("code=c0de&state={STATE}&iss="));
        assert_eq!(e.code(), "ISS_MISMATCH");
    }

    #[test]
    fn iss_table_unsupported_and_absent_proceeds() {
        assert_eq!(
            validate(&pending(false), &format!("code=c0de&state={STATE}")).unwrap(),
            "c0de"
        );
    }

    #[test]
    fn iss_is_compared_exactly_without_normalization() {
        for p in [pending(true), pending(false)] {
            for other in [
                "https://as.example/",
                "https%3A%2F%2Fas.example%2F",
                "HTTPS://AS.EXAMPLE",
                "https://as.example:443",
                "https://as.example%252F",
                "https://as.example ",
            ] {
                let e = err(&p, &format!("code=c0de&state={STATE}&iss={other}"));
                assert_eq!(e.code(), "ISS_MISMATCH", "{other}");
            }
            // Form-decoding happens exactly once before the comparison.
            let encoded = format!("code=c0de&state={STATE}&iss=https%3A%2F%2Fas%2Eexample");
            assert_eq!(validate(&p, &encoded).unwrap(), "c0de");
        }
    }

    #[test]
    fn iss_applies_to_error_responses_and_hides_their_text_on_mismatch() {
        let error = "error=access_denied&error_description=Click+evil.example+now\
                     &error_uri=https%3A%2F%2Fevil.example%2Fhelp";
        for p in [pending(true), pending(false)] {
            let e = err(
                &p,
                &format!("{error}&state={STATE}&iss=https://evil.example"),
            );
            assert_eq!(e.code(), "ISS_MISMATCH");
            assert!(e.oauth().is_none());
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains("access_denied") && !shown.contains("Click"),
                "{shown}"
            );
            assert!(!shown.contains("help"), "{shown}");
        }
        let e = err(
            &pending(true),
            &format!("{error}&state={STATE}&iss={ISSUER}"),
        );
        let oauth = e.oauth().unwrap();
        assert_eq!(oauth.error, "access_denied");
        assert_eq!(
            oauth.error_description.as_deref(),
            Some("Click evil.example now")
        );
        assert_eq!(
            oauth.error_uri.as_deref(),
            Some("https://evil.example/help")
        );
        assert_eq!(
            (oauth.status, oauth.where_.as_str()),
            (0, "authorization response")
        );
    }

    #[test]
    fn error_redirect_without_iss_is_refused_but_names_the_servers_error() {
        let e = err(
            &pending(true),
            &format!(
                "error=access_denied&error_description=The+user+declined\
                 &error_uri=https%3A%2F%2Fas.example%2Fhelp&state={STATE}"
            ),
        );
        assert_eq!(e.code(), "ISS_MISSING");
        assert!(e.oauth().is_none(), "unverified, so not an OAUTH_ERROR");
        assert_eq!(
            e.to_string(),
            "authorization response returned OAuth error `access_denied`: The user declined \
             (unverified: authorization server `https://as.example` advertises \
             authorization_response_iss_parameter_supported, but the response has no iss)"
        );
        let crate::Error::Security(SecurityError::IssMissing {
            oauth_error: Some(reported),
            ..
        }) = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(reported.error, "access_denied");
        assert_eq!(
            reported.error_description.as_deref(),
            Some("The user declined")
        );
        assert_eq!(
            reported.error_uri.as_deref(),
            Some("https://as.example/help")
        );
        assert_eq!(
            (reported.status, reported.where_.as_str()),
            (0, "authorization response")
        );
    }

    #[test]
    fn unverified_error_text_is_escaped_in_the_iss_missing_message() {
        let e = err(
            &pending(true),
            &format!("error=access_denied&error_description=a%0Ab%1B%5B31m&state={STATE}"),
        );
        assert_eq!(e.code(), "ISS_MISSING");
        let shown = e.to_string();
        assert!(shown.contains("a\\nb\\u{1b}[31m"), "{shown}");
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
    }

    #[test]
    fn success_redirect_without_iss_is_refused_with_the_plain_message() {
        let e = err(&pending(true), &format!("code=c0de&state={STATE}"));
        assert_eq!(e.code(), "ISS_MISSING");
        assert!(matches!(
            &e,
            crate::Error::Security(SecurityError::IssMissing {
                oauth_error: None,
                ..
            })
        ));
        assert_eq!(
            e.to_string(),
            "authorization server `https://as.example` advertises \
             authorization_response_iss_parameter_supported, but the response has no iss"
        );
    }

    #[test]
    fn error_redirect_with_the_right_iss_is_an_oauth_error() {
        let e = err(
            &pending(true),
            &format!("error=access_denied&error_description=no&state={STATE}&iss={ISSUER}"),
        );
        assert_eq!(e.code(), "OAUTH_ERROR");
        let oauth = e.oauth().unwrap();
        assert_eq!(oauth.error, "access_denied");
        assert_eq!(oauth.error_description.as_deref(), Some("no"));
        assert_eq!(
            e.to_string(),
            "authorization response returned OAuth error `access_denied`: no"
        );
    }

    #[test]
    fn error_response_without_iss_is_typed_when_iss_is_not_advertised() {
        let e = err(
            &pending(false),
            &format!("error=access_denied&state={STATE}&code=c"),
        );
        assert_eq!(e.oauth().unwrap().error, "access_denied");
    }

    /// The six RFC 9207 scenarios of the MCP conformance suite, with its mock's metadata and
    /// redirect (issuer `http://localhost:A`, no trailing slash; `iss` form-encoded).
    #[test]
    fn conformance_iss_scenarios() {
        let metadata = |supported: Option<bool>| {
            let flag = supported
                .map(|b| format!(r#","authorization_response_iss_parameter_supported":{b}"#))
                .unwrap_or_default();
            let body = format!(
                r#"{{"issuer":"http://localhost:4000","authorization_endpoint":"http://localhost:4000/authorize",
                "token_endpoint":"http://localhost:4000/token","code_challenge_methods_supported":["S256"]{flag}}}"#
            );
            let url =
                url::Url::parse("http://localhost:4000/.well-known/oauth-authorization-server")
                    .unwrap();
            crate::discovery::process_authorization_server_metadata_response(
                "http://localhost:4000",
                &url,
                &crate::HttpResponse::json(200, body),
                &Policy::default(),
            )
            .unwrap()
        };
        let redirect = |iss: Option<&str>| {
            let mut location =
                format!("http://localhost:8976/callback?code=test-auth-code&state={STATE}");
            if let Some(iss) = iss {
                let iss: String = url::form_urlencoded::byte_serialize(iss.as_bytes()).collect();
                location.push_str(&format!("&iss={iss}"));
            }
            location
        };
        let scenarios = [
            (
                "iss-supported",
                Some(true),
                Some("http://localhost:4000"),
                None,
            ),
            ("iss-not-advertised", None, None, None),
            (
                "iss-supported-missing",
                Some(true),
                None,
                Some("ISS_MISSING"),
            ),
            (
                "iss-wrong-issuer",
                Some(true),
                Some("https://evil.example.com"),
                Some("ISS_MISMATCH"),
            ),
            (
                "iss-unexpected",
                None,
                Some("https://evil.example.com"),
                Some("ISS_MISMATCH"),
            ),
            (
                "iss-normalized",
                Some(true),
                Some("http://localhost:4000/"),
                Some("ISS_MISMATCH"),
            ),
        ];
        for (name, supported, iss, want) in scenarios {
            let server: AuthorizationServerMetadata = metadata(supported);
            let p = pending_at(&server, &Policy::default());
            let got = validate(&p, &redirect(iss));
            match want {
                None => assert_eq!(got.unwrap(), "test-auth-code", "{name}"),
                Some(code) => assert_eq!(got.unwrap_err().code(), code, "{name}"),
            }
        }
    }

    #[test]
    fn state_is_checked_before_iss() {
        let e = err(
            &pending(true),
            "code=c0de&state=wrong&iss=https://evil.example",
        );
        assert_eq!(e.code(), "STATE_MISMATCH");
    }

    #[test]
    fn errors_never_show_the_code_or_state() {
        let p = pending(true);
        for callback in [
            format!("code=SECRETCODE&state={STATE}&iss=x"),
            format!("code=SECRETCODE&state={STATE}&state={STATE}"),
            format!("code=SECRETCODE&state={STATE}x"),
            format!("code=SECRETCODE&state={STATE}#f"),
        ] {
            let e = err(&p, &callback);
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains("SECRETCODE") && !shown.contains(STATE),
                "{shown}"
            );
        }
        let ok = validate_authorization_response(
            &p,
            &format!("code=SECRETCODE&state={STATE}&iss={ISSUER}"),
        );
        assert!(!format!("{ok:?}").contains("SECRETCODE"));
    }

    #[test]
    fn foreign_iss_is_escaped_and_truncated_in_messages() {
        assert_eq!(for_display("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        let long = "x".repeat(500);
        assert_eq!(for_display(&long).chars().count(), 201);
        assert_eq!(for_display(ISSUER), ISSUER);
    }

    #[test]
    fn schemes_are_told_from_query_strings() {
        assert!(has_scheme("http://x/?a=b"));
        assert!(has_scheme("com.example.app:/cb?code=1"));
        assert!(!has_scheme("code=a:b&state=c"));
        assert!(!has_scheme("1http://x"));
        assert!(!has_scheme(""));
        assert!(!has_scheme(":x"));
    }

    proptest! {
        #[test]
        fn arbitrary_callbacks_never_panic(callback in any::<String>()) {
            let p = pending(true);
            let _ = validate_authorization_response(&p, &callback);
        }

        #[test]
        fn query_like_callbacks_never_panic(
            callback in "[?/#:a-z_=&%+0-9A-F]{0,80}",
        ) {
            let _ = validate_authorization_response(&pending(false), &callback);
        }

        /// Whatever the code, a well-formed response yields exactly that code.
        #[test]
        fn encoded_code_round_trips(code in ".{1,64}", with_iss in any::<bool>()) {
            let p = pending(with_iss);
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("code", &code).append_pair("state", STATE);
            if with_iss {
                query.append_pair("iss", ISSUER);
            }
            let query = query.finish();
            prop_assert_eq!(validate(&p, &query).unwrap(), code.clone());
            prop_assert_eq!(validate(&p, &format!("https://app.example/cb?{query}")).unwrap(), code);
        }
    }
}
