//! The TypeScript declarations generated from the core's records (`scripts/gen-types`, feature
//! `ts`) describe what serde really writes. For real values built through the public API:
//! every JSON key is a field of the generated type and every required field is there; an absent
//! value sits on an optional field only (`name?: T`), and a `null` on a field whose type admits
//! it (`T | null`: the records cross to JavaScript as JSON text, where serde_json writes `None`
//! as `null`); strings, numbers, booleans and string unions have the generated type, down
//! through nested records.
//!
//! The declarations checked are the ones ts-rs writes into `npm/src/generated/`;
//! `scripts/gen-types --check` keeps the committed files equal to them.
#![cfg(feature = "ts")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // tests

use mcpauth_core::challenge::parse_www_authenticate;
use mcpauth_core::device::process_device_authorization_response;
use mcpauth_core::exchange::process_token_exchange_response;
use mcpauth_core::registration::process_registration_response;
use mcpauth_core::token::process_token_response;
use mcpauth_core::userinfo::id_token_identity;
use mcpauth_core::*;
use url::Url;

#[path = "support/ts_shape.rs"]
mod ts_shape;
use ts_shape::Types;

#[test]
fn a_grant_from_a_token_response_has_the_generated_shape() {
    let types = all_types();
    let metadata = AuthorizationServerMetadata::for_tests("https://as.example");
    let server = ResourceUri::parse("https://mcp.example/mcp").unwrap();
    let now = Time::from_unix_secs(1_700_000_000);

    // A public client, no ID token: `None`s on the way.
    let tokens = token_response(
        r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"mcp"}"#,
    );
    let client = ClientCredentials::public("https://as.example", "cid");
    let grant = Grant::new(
        server.clone(),
        Some(server.clone()),
        &metadata,
        client,
        tokens,
        now,
    )
    .unwrap();
    types.check("Grant", &grant);

    // A confidential client and every optional token field present.
    let tokens = token_response(&format!(
        r#"{{"access_token":"at-2","token_type":"Bearer","expires_in":60,"refresh_token":"rt-2","scope":"mcp","id_token":"{ID_TOKEN}"}}"#
    ));
    let client = ClientCredentials::confidential(
        "https://as.example",
        "cid",
        ClientSecret::new("s3cret"),
        TokenEndpointAuthMethod::ClientSecretBasic,
    );
    let mut grant = Grant::new(server, None, &metadata, client, tokens, now).unwrap();
    types.check("Grant", &grant);
    types.check("DisplayIdentity", &grant.display_identity().unwrap());

    // The login's audience, kept for refreshes.
    grant.audience = Some("https://api.example".into());
    // A DPoP-bound grant: its key is stored with it.
    grant.dpop_key = Some(jws::DpopKey::new(
        jws::EcPublicJwk::p256("x", "y"),
        jws::KeyHandle::Stored { id: "k".into() },
    ));
    grant.tokens.token_type = "DPoP".into();
    types.check("Grant", &grant);
}

#[test]
fn a_discovered_server_has_the_generated_shape() {
    let types = all_types();
    let (discovered, request_id) = discover();
    types.check("Discovered", &discovered);
    types.check("RequestId", &request_id);

    let configured = Discovered::configured(
        ResourceUri::parse("https://mcp.example/mcp").unwrap(),
        AuthorizationServerMetadata::with_default_endpoints("https://as.example"),
    );
    types.check("Discovered", &configured);

    let policy = Policy::default();
    let now = Time::from_unix_secs(1_700_000_000);
    let kept = flow::store::DiscoveryRecord::new(discovered, now, None, None, &policy);
    types.check("DiscoveryRecord", &kept);
    let kept = flow::store::DiscoveryRecord::new(
        configured,
        now,
        Some("https://mcp.example/.well-known/oauth-protected-resource".into()),
        Some("https://as.example".into()),
        &policy,
    );
    types.check("DiscoveryRecord", &kept);
}

#[test]
fn a_pending_authorization_has_the_generated_shape() {
    let types = all_types();
    let (discovered, _) = discover();
    let client = ClientCredentials::public("https://as.example", "cid");
    let mut sevens = |b: &mut [u8]| b.fill(7);
    let (_, pending) = start_authorization(
        &discovered,
        &client,
        "http://127.0.0.1:9/cb",
        &LoginOptions::default(),
        &mut sevens,
        &Policy::default(),
    )
    .unwrap();
    types.check("PendingAuthorization", &pending);

    let mut options = LoginOptions::default();
    options.audience = Some("https://api.example".into());
    let (_, pending) = start_authorization(
        &discovered,
        &client,
        "http://127.0.0.1:9/cb",
        &options,
        &mut sevens,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(pending.audience.as_deref(), Some("https://api.example"));
    types.check("PendingAuthorization", &pending);
}

#[test]
fn the_other_records_have_the_generated_shape() {
    let types = all_types();
    let policy = Policy::default();
    let now = Time::from_unix_secs(1_700_000_000);
    let metadata = AuthorizationServerMetadata::for_tests("https://as.example");

    let url = Url::parse("https://as.example/register").unwrap();
    let response = HttpResponse::json(
        201,
        r#"{"client_id":"cid","client_secret":"s","client_id_issued_at":1700000000,
        "client_secret_expires_at":0,"token_endpoint_auth_method":"client_secret_post",
        "registration_access_token":"rat","registration_client_uri":"https://as.example/register/cid"}"#,
    );
    let registration = process_registration_response(&metadata, &url, &response, &policy).unwrap();
    types.check("Registration", &registration);
    let response = HttpResponse::json(201, r#"{"client_id":"cid"}"#);
    let registration = process_registration_response(&metadata, &url, &response, &policy).unwrap();
    types.check("Registration", &registration);

    // Unset fields are skipped, not null.
    types.check("ClientMetadata", &ClientMetadata::default());
    types.check(
        "ClientMetadata",
        &ClientMetadata::native("My CLI", vec!["http://127.0.0.1:9/cb".into()])
            .with_device_code_grant(),
    );

    let url = Url::parse("https://as.example/device").unwrap();
    let response = HttpResponse::json(
        200,
        r#"{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://as.example/device",
        "verification_uri_complete":"https://as.example/device?user_code=WDJB-MJHT","expires_in":600,"interval":5}"#,
    );
    let device = process_device_authorization_response(now, &url, &response, &policy).unwrap();
    types.check("DeviceAuthorization", &device);

    let url = Url::parse("https://as.example/token").unwrap();
    let response = HttpResponse::json(
        200,
        r#"{"access_token":"x","token_type":"N_A","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}"#,
    );
    let exchanged = process_token_exchange_response(now, &url, &response, &policy).unwrap();
    types.check("ExchangedToken", &exchanged);

    let identity = id_token_identity(&IdToken::new(ID_TOKEN)).unwrap();
    types.check("DisplayIdentity", &identity);

    let challenges = parse_www_authenticate(
        r#"Bearer realm="mcp", error="insufficient_scope", scope="a b", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource", Negotiate abc=="#,
    )
    .unwrap();
    for challenge in &challenges {
        types.check("Challenge", challenge);
    }
    let bearer = BearerChallenge::from_challenge(&challenges[0]).unwrap();
    types.check("BearerChallenge", &bearer);
    types.check("BearerChallenge", &BearerChallenge::default());

    types.check("Policy", &policy);
    types.check("Policy", &Policy::dangerously_insecure_for_tests());
}

/// `Policy` deserializes with `#[serde(default)]`: JavaScript passes only what it changes.
#[test]
fn every_policy_field_is_optional() {
    let types = all_types();
    for field in types.fields("Policy") {
        assert!(field.optional, "Policy.{} must be optional", field.name);
    }
}

/// An unverified ID token whose payload is `{"sub":"u-1","email":"alice@example.com"}`.
const ID_TOKEN: &str =
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LTEiLCJlbWFpbCI6ImFsaWNlQGV4YW1wbGUuY29tIn0.sig";

fn token_response(body: &str) -> TokenSet {
    let url = Url::parse("https://as.example/token").unwrap();
    let response = HttpResponse::json(200, body.to_owned());
    process_token_response(
        Time::from_unix_secs(1_700_000_000),
        &url,
        &response,
        &Policy::default(),
    )
    .unwrap()
}

/// Discovery of `https://mcp.example/mcp` answered from canned documents, and the id of its
/// first request.
fn discover() -> (Discovered, discovery::RequestId) {
    let prm = r#"{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],
        "scopes_supported":["mcp"],"resource_name":"Example"}"#;
    let meta = r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize",
        "token_endpoint":"https://as.example/token","code_challenge_methods_supported":["S256"],
        "scopes_supported":["mcp","offline_access"],"authorization_response_iss_parameter_supported":true}"#;
    let mut d = Discovery::new("https://mcp.example/mcp", None, Policy::default()).unwrap();
    let mut first = None;
    for _ in 0..8 {
        while let Some((id, req)) = d.poll_transmit() {
            first.get_or_insert(id);
            let body = match (req.url.host_str(), req.url.path()) {
                (Some("mcp.example"), "/.well-known/oauth-protected-resource/mcp") => prm,
                (Some("as.example"), "/.well-known/oauth-authorization-server") => meta,
                _ => "",
            };
            let status = if body.is_empty() { 404 } else { 200 };
            d.handle_response(id, HttpResponse::json(status, body));
        }
        if let Some(result) = d.poll_result() {
            return (result.unwrap(), first.unwrap());
        }
    }
    panic!("discovery did not finish");
}

/// Every exported record and every type they reference.
fn all_types() -> Types {
    let mut types = Types::new();
    macro_rules! add {
        ($($t:ty),* $(,)?) => { $( types.add::<$t>(); )* };
    }
    add!(
        AccessToken,
        ApplicationType,
        AuthorizationServerMetadata,
        BearerChallenge,
        Challenge,
        ClientCredentials,
        ClientMetadata,
        ClientSecret,
        flow::CredentialSource,
        DeviceAuthorization,
        DeviceCode,
        Discovered,
        flow::store::DiscoveryRecord,
        jws::DpopKey,
        jws::EcPublicJwk,
        flow::EnterpriseIdp,
        userinfo::DisplayIdentity,
        ExchangedToken,
        Grant,
        IdToken,
        jws::JwsAlg,
        jws::KeyHandle,
        flow::MachineGrant,
        PendingAuthorization,
        PkceVerifier,
        Policy,
        jws::PrivateKeyValue,
        ProtectedResourceMetadata,
        RefreshToken,
        Registration,
        RegistrationAccessToken,
        discovery::RequestId,
        ResourceUri,
        secret::SecurityToken,
        State,
        Time,
        TokenEndpointAuthMethod,
        TokenSet,
        jws::JwsAlg,
        jws::DpopKey,
        jws::EcPublicJwk,
        jws::KeyHandle,
        flow::MachineGrant,
        flow::CredentialSource,
        flow::EnterpriseIdp,
    );
    types
}
