//! Tests of the device authorization grant, written from RFC 8628.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

mod polling;
use crate::client::TokenEndpointAuthMethod;
use crate::error::SecurityError;
use crate::secret::ClientSecret;

const ISSUER: &str = "https://server.example.com";

fn server() -> AuthorizationServerMetadata {
    let mut s = AuthorizationServerMetadata::with_default_endpoints(ISSUER);
    s.device_authorization_endpoint =
        Some(Url::parse("https://server.example.com/device_authorization").unwrap());
    s
}

fn client() -> ClientCredentials {
    ClientCredentials::public(ISSUER, "1406020730")
}

fn device_url() -> Url {
    Url::parse("https://server.example.com/device_authorization").unwrap()
}

fn token_url() -> Url {
    Url::parse("https://server.example.com/token").unwrap()
}

fn t(secs: u64) -> Time {
    Time::from_unix_secs(secs)
}

fn form(req: &HttpRequest) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

fn authorize(body: &str) -> Result<DeviceAuthorization> {
    process_device_authorization_response(
        t(1000),
        &device_url(),
        &HttpResponse::json(200, body),
        &Policy::default(),
    )
}

/// The RFC 8628 §3.2 example response.
const RFC_RESPONSE: &str = r#"{
    "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://example.com/device",
    "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
    "expires_in": 1800,
    "interval": 5
}"#;

fn rfc_authorization() -> DeviceAuthorization {
    authorize(RFC_RESPONSE).unwrap()
}

/// A machine started at t=1000 for the RFC example: polls due every 5 s, deadline t=2800.
fn machine() -> DevicePoll {
    DevicePoll::new(t(1000), rfc_authorization(), token_url(), client(), None)
}

fn error(code: &str) -> HttpResponse {
    HttpResponse::json(400, format!(r#"{{"error":"{code}"}}"#))
}

fn ok_tokens() -> HttpResponse {
    HttpResponse::json(
        200,
        r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}"#,
    )
}

/// Sends the poll due at `at` and feeds `resp` back.
fn poll_once(m: &mut DevicePoll, at: Time, resp: &HttpResponse) -> Result<DeviceStatus> {
    assert!(m.poll_transmit(at).is_some(), "a poll is due at {at:?}");
    m.handle_response(at, resp, &Policy::default())
}

// ---- §3.1 device authorization request ----

#[test]
fn rfc8628_section_3_1_example_request() {
    let req = device_authorization_request(
        &server(),
        &client(),
        Some("example_scope"),
        None,
        None,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(req.method, crate::http::Method::Post);
    assert_eq!(req.url, device_url());
    // The RFC shows `client_id=1406020730&scope=example_scope`; order is not significant.
    assert_eq!(req.body, b"scope=example_scope&client_id=1406020730");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[test]
fn request_carries_resource_and_confidential_client_auth() {
    let confidential = ClientCredentials::confidential(
        ISSUER,
        "s6BhdRkqt3",
        ClientSecret::new("gX1fBat3bV"),
        TokenEndpointAuthMethod::ClientSecretBasic,
    );
    let resource = ResourceUri::parse("https://mcp.example.com/mcp/").unwrap();
    let policy = Policy {
        max_response_bytes: 4096,
        ..Policy::default()
    };
    let req = device_authorization_request(
        &server(),
        &confidential,
        None,
        Some(&resource),
        None,
        &policy,
    )
    .unwrap();
    assert_eq!(req.body, b"resource=https%3A%2F%2Fmcp.example.com%2Fmcp");
    assert_eq!(
        req.header("authorization"),
        Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")
    );
    assert_eq!(req.max_response_bytes, 4096);
}

#[test]
fn request_carries_audience_only_when_given() {
    let resource = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
    let policy = Policy::default();
    let req = device_authorization_request(
        &server(),
        &client(),
        Some("mcp"),
        Some(&resource),
        Some("https://api.example.com"),
        &policy,
    )
    .unwrap();
    assert_eq!(
        req.body,
        b"scope=mcp&resource=https%3A%2F%2Fmcp.example.com%2Fmcp\
          &audience=https%3A%2F%2Fapi.example.com&client_id=1406020730"
    );
    let without =
        device_authorization_request(&server(), &client(), Some("mcp"), None, None, &policy)
            .unwrap();
    assert!(!String::from_utf8_lossy(&without.body).contains("audience"));
}

#[test]
fn request_needs_the_endpoint_matching_credentials_and_https() {
    let bare = AuthorizationServerMetadata::with_default_endpoints(ISSUER);
    let err = device_authorization_request(&bare, &client(), None, None, None, &Policy::default())
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Usage(UsageError::MissingEndpoint {
            endpoint: "device_authorization_endpoint",
            ..
        })
    ));
    let other = ClientCredentials::public("https://other.example.com", "x");
    let err = device_authorization_request(&server(), &other, None, None, None, &Policy::default())
        .unwrap_err();
    assert_eq!(err.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
    let mut insecure = server();
    insecure.device_authorization_endpoint =
        Some(Url::parse("http://server.example.com/device").unwrap());
    let err =
        device_authorization_request(&insecure, &client(), None, None, None, &Policy::default())
            .unwrap_err();
    assert_eq!(err.code(), "INSECURE_URL");
}

// ---- §3.2 device authorization response ----

#[test]
fn rfc8628_section_3_2_example_response() {
    let a = rfc_authorization();
    assert_eq!(
        a.device_code.secret(),
        "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
    );
    assert_eq!(a.user_code, "WDJB-MJHT");
    assert_eq!(a.verification_uri.as_str(), "https://example.com/device");
    assert_eq!(
        a.verification_uri_complete.as_ref().map(Url::as_str),
        Some("https://example.com/device?user_code=WDJB-MJHT")
    );
    assert_eq!(a.expires_at, t(2800));
    assert_eq!(a.interval, Duration::from_secs(5));
}

#[test]
fn interval_defaults_to_five_seconds_when_absent() {
    let a = authorize(
        r#"{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device","expires_in":600}"#,
    )
    .unwrap();
    assert_eq!(a.interval, DEFAULT_INTERVAL);
    assert_eq!(a.verification_uri_complete, None);
}

#[test]
fn zero_interval_is_raised_to_one_second() {
    let a = authorize(
        r#"{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device",
            "expires_in":600,"interval":0}"#,
    )
    .unwrap();
    assert_eq!(a.interval, MIN_INTERVAL);
}

fn with_timing(expires_in: &str, interval: &str) -> Result<DeviceAuthorization> {
    authorize(&format!(
        r#"{{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device",
            "expires_in":{expires_in},"interval":{interval}}}"#
    ))
}

#[test]
fn expires_in_and_interval_accept_numbers_and_numeric_strings_alike() {
    for (expires_in, interval) in [("600", "7"), (r#""600""#, r#""7""#), ("600.0", "7.0")] {
        let a = with_timing(expires_in, interval).unwrap();
        assert_eq!(a.expires_at, t(1600), "{expires_in}");
        assert_eq!(a.interval, Duration::from_secs(7), "{interval}");
    }
    let largest = crate::token::MAX_DURATION_SECS;
    let a = with_timing(&largest.to_string(), "5").unwrap();
    assert_eq!(a.expires_at, t(1000 + largest));
}

#[test]
fn malformed_or_absurd_expires_in_and_interval_are_refused_by_name() {
    let bad = [
        r#""600.5""#,
        "600.5",
        "-1",
        r#""-1""#,
        r#""abc""#,
        r#""10m""#,
        r#"" 600""#,
        r#""""#,
        "true",
        "4294967296",
        "18446744073709551615",
        r#""99999999999999999999999""#,
        "1e20",
    ];
    for value in bad {
        for (field, body) in [
            ("expires_in", with_timing(value, "5")),
            ("interval", with_timing("600", value)),
        ] {
            match body {
                Err(Error::Protocol(ProtocolError::InvalidField { field: f, url, .. })) => {
                    assert_eq!((f, url.as_str()), (field, device_url().as_str()), "{value}");
                }
                other => panic!("{field} = {value}: unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn googles_verification_url_is_accepted_as_verification_uri() {
    let a = authorize(
        r#"{"device_code":"d","user_code":"GQVQ-JKEC","verification_url":"https://www.google.com/device","expires_in":1800,"interval":5}"#,
    )
    .unwrap();
    assert_eq!(a.verification_uri.as_str(), "https://www.google.com/device");
    // The RFC name wins when both are present.
    let both = authorize(
        r#"{"device_code":"d","user_code":"u","verification_uri":"https://a.example/device",
            "verification_url":"https://b.example/device","expires_in":60}"#,
    )
    .unwrap();
    assert_eq!(both.verification_uri.as_str(), "https://a.example/device");
    // A bad alias is reported under its own name.
    let err =
        authorize(r#"{"device_code":"d","user_code":"u","verification_url":5,"expires_in":60}"#)
            .unwrap_err();
    assert!(err.to_string().contains("`verification_url`"), "{err}");
}

#[test]
fn missing_required_fields_are_named() {
    let full: serde_json::Value = serde_json::from_str(RFC_RESPONSE).unwrap();
    for field in ["device_code", "user_code", "verification_uri", "expires_in"] {
        let mut body = full.clone();
        body.as_object_mut().unwrap().remove(field);
        let err = authorize(&body.to_string()).unwrap_err();
        match err {
            Error::Protocol(ProtocolError::MissingField { field: f, url }) => {
                assert_eq!(f, field);
                assert_eq!(url, device_url().as_str());
            }
            other => panic!("{field}: unexpected {other:?}"),
        }
    }
}

#[test]
fn mistyped_fields_are_named() {
    let full: serde_json::Value = serde_json::from_str(RFC_RESPONSE).unwrap();
    let cases = [
        ("device_code", serde_json::json!(42)),
        ("device_code", serde_json::json!("")),
        ("user_code", serde_json::json!(["WDJB"])),
        ("verification_uri", serde_json::json!("/device")),
        ("verification_uri_complete", serde_json::json!({})),
        ("expires_in", serde_json::json!(-1)),
        ("expires_in", serde_json::json!("soon")),
        ("interval", serde_json::json!(2.5)),
    ];
    for (field, value) in cases {
        let mut body = full.clone();
        body.as_object_mut()
            .unwrap()
            .insert(field.into(), value.clone());
        let err = authorize(&body.to_string()).unwrap_err();
        match err {
            Error::Protocol(ProtocolError::InvalidField { field: f, .. }) => {
                assert_eq!(f, field, "{value}");
            }
            other => panic!("{field}={value}: unexpected {other:?}"),
        }
    }
}

#[test]
fn verification_uris_must_be_https_without_credentials() {
    let with_uri = |uri: &str| {
        authorize(&format!(
            r#"{{"device_code":"d","user_code":"u","verification_uri":"{uri}","expires_in":60}}"#
        ))
    };
    for bad in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "http://example.com/device",
    ] {
        let err = with_uri(bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Security(SecurityError::InsecureUrl {
                    what: "verification_uri",
                    ..
                })
            ),
            "{bad}: {err:?}"
        );
    }
    let err = with_uri("https://accounts.example.com@evil.example/device").unwrap_err();
    assert_eq!(err.code(), "INVALID_FIELD");
    assert!(with_uri("http://localhost:8080/device").is_ok());
    let err = authorize(
        r#"{"device_code":"d","user_code":"u","verification_uri":"https://example.com/device",
            "verification_uri_complete":"javascript:alert(1)","expires_in":60}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("verification_uri_complete"),
        "{err}"
    );
}

#[test]
fn error_response_to_device_authorization_is_typed() {
    let err = process_device_authorization_response(
        t(0),
        &device_url(),
        &error("invalid_client"),
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.oauth().unwrap().error, "invalid_client");
}

/// A response as GitHub sends it unless asked for JSON.
fn form_response(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        status,
        vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body,
    )
}

#[test]
fn a_form_encoded_device_authorization_reads_as_its_json_would() {
    // GitHub's device code answer (docs.github.com, "Authorizing OAuth apps", device flow).
    let a = process_device_authorization_response(
        t(1000),
        &device_url(),
        &form_response(
            200,
            "device_code=3584d83530557fdd1f46af8289938c8ef79f9dc5&expires_in=900&interval=5\
             &user_code=WDJB-MJHT&verification_uri=https%3A%2F%2Fgithub.com%2Flogin%2Fdevice",
        ),
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(
        a.device_code.secret(),
        "3584d83530557fdd1f46af8289938c8ef79f9dc5"
    );
    assert_eq!(a.user_code, "WDJB-MJHT");
    assert_eq!(
        a.verification_uri.as_str(),
        "https://github.com/login/device"
    );
    assert_eq!(a.expires_at, t(1900));
    assert_eq!(a.interval, Duration::from_secs(5));
}

#[test]
fn form_encoded_polling_errors_at_http_200_keep_the_flow_going() {
    let mut m = machine();
    // GitHub's polling answers: HTTP 200, form-encoded.
    let pending = form_response(
        200,
        "error=authorization_pending&error_description=The+authorization+request+is+still+pending.\
         &error_uri=https%3A%2F%2Fdocs.github.com",
    );
    assert_eq!(
        poll_once(&mut m, t(1005), &pending),
        Ok(DeviceStatus::Pending)
    );
    let slow = form_response(200, "error=slow_down&interval=10");
    assert!(matches!(
        poll_once(&mut m, t(1010), &slow),
        Ok(DeviceStatus::SlowDown { .. })
    ));
    let tokens = form_response(200, "access_token=gho_x&token_type=bearer&scope=");
    let Ok(DeviceStatus::Tokens(granted)) = poll_once(&mut m, t(1020), &tokens) else {
        panic!("tokens");
    };
    assert_eq!(granted.access_token.secret(), "gho_x");
    let mut m = machine();
    let denied = form_response(200, "error=access_denied");
    assert_eq!(
        poll_once(&mut m, t(1005), &denied),
        Ok(DeviceStatus::Denied)
    );
}

#[test]
fn debug_hides_the_device_code() {
    let a = rfc_authorization();
    let shown = format!("{a:?}");
    assert!(!shown.contains("GmRhmhcx"), "{shown}");
    assert!(
        shown.contains("WDJB-MJHT"),
        "the user code is meant to be shown"
    );
    let m = machine();
    assert!(!format!("{m:?}").contains("GmRhmhcx"));
}

#[test]
fn authorization_and_machine_round_trip_through_serde() {
    let a = rfc_authorization();
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["interval"], 5000);
    assert_eq!(
        json["device_code"],
        "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"
    );
    assert_eq!(
        serde_json::from_value::<DeviceAuthorization>(json).unwrap(),
        a
    );

    let mut m = machine();
    let _ = m.poll_transmit(t(1005)).unwrap();
    let back: DevicePoll = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}

// ---- properties ----

pub(super) fn arb_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(400),
        Just(401),
        Just(429),
        Just(500),
        Just(503),
        Just(302),
        0u16..1000
    ]
}

proptest! {
    #[test]
    fn arbitrary_authorization_responses_never_panic(
        status in arb_status(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = process_device_authorization_response(
            t(1), &device_url(), &HttpResponse::json(status, body), &Policy::default());
    }

    #[test]
    fn json_shaped_authorization_responses_never_panic(
        device_code in prop_oneof![Just(r#""d""#), Just(r#""""#), Just("7"), Just("null")],
        uri in prop_oneof![
            Just(r#""https://ex.com/d""#), Just(r#""javascript:x""#), Just(r#""ex.com""#),
            Just(r#""http://127.0.0.1/d""#), Just("[]"),
        ],
        uri_key in prop_oneof![Just("verification_uri"), Just("verification_url"), Just("other")],
        expires in prop_oneof![
            Just("0"), Just("600"), Just("-5"), Just(r#""60""#), Just("1.5"),
            Just("18446744073709551615"), Just("1e999"),
        ],
        interval in prop_oneof![
            Just(None), Just(Some("0")), Just(Some("5")), Just(Some("18446744073709551615")),
            Just(Some("\"x\"")),
        ],
        now in any::<u64>(),
    ) {
        let interval = interval.map(|i| format!(r#","interval":{i}"#)).unwrap_or_default();
        let body = format!(
            r#"{{"device_code":{device_code},"user_code":"U","{uri_key}":{uri},"expires_in":{expires}{interval}}}"#
        );
        let now = Time::from_unix_millis(now);
        if let Ok(a) = process_device_authorization_response(
            now, &device_url(), &HttpResponse::json(200, body), &Policy::default())
        {
            prop_assert!(a.interval >= MIN_INTERVAL);
            prop_assert!(a.expires_at >= now);
            prop_assert!(matches!(a.verification_uri.scheme(), "https" | "http"));
        }
    }
}
