//! The TypeScript declarations generated from the core's records (`scripts/gen-types`, feature
//! `ts`) describe what serde really writes. For real values built through the public API:
//! every JSON key is a field of the generated type and every required field is there; a value
//! that is absent or `null` sits on an optional field only (serde-wasm-bindgen hands JavaScript
//! `undefined` for `None`, so the types say `field?: T`); strings, numbers, booleans and string
//! unions have the generated type, down through nested records.
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

use std::collections::BTreeMap;

use mcpauth_core::challenge::parse_www_authenticate;
use mcpauth_core::device::process_device_authorization_response;
use mcpauth_core::exchange::process_token_exchange_response;
use mcpauth_core::registration::process_registration_response;
use mcpauth_core::token::process_token_response;
use mcpauth_core::userinfo::id_token_identity;
use mcpauth_core::*;
use serde::Serialize;
use serde_json::Value;
use ts_rs::{Config, TS};
use url::Url;

#[test]
fn a_grant_from_a_token_response_has_the_generated_shape() {
    let types = Types::all();
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
    let grant = Grant::new(server, None, &metadata, client, tokens, now).unwrap();
    types.check("Grant", &grant);
    types.check("DisplayIdentity", &grant.display_identity().unwrap());
}

#[test]
fn a_discovered_server_has_the_generated_shape() {
    let types = Types::all();
    let (discovered, request_id) = discover();
    types.check("Discovered", &discovered);
    types.check("RequestId", &request_id);

    let configured = Discovered::configured(
        ResourceUri::parse("https://mcp.example/mcp").unwrap(),
        AuthorizationServerMetadata::with_default_endpoints("https://as.example"),
    );
    types.check("Discovered", &configured);
}

#[test]
fn a_pending_authorization_has_the_generated_shape() {
    let types = Types::all();
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
}

#[test]
fn the_other_records_have_the_generated_shape() {
    let types = Types::all();
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
    let types = Types::all();
    let Decl::Object(fields) = &types.decls["Policy"] else {
        panic!("Policy is not an object type");
    };
    for field in fields {
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

/// The generated declarations, by TypeScript name.
struct Types {
    decls: BTreeMap<String, Decl>,
}

/// A generated declaration, reduced to what the checks need.
enum Decl {
    /// `{ name: type, name?: type, ... }`.
    Object(Vec<Field>),
    /// `"a" | "b" | ...`.
    Strings(Vec<String>),
    /// Any other type expression, such as `string` for a newtype.
    Alias(String),
}

/// One member of an object type.
struct Field {
    name: String,
    optional: bool,
    ty: String,
}

impl Types {
    /// Every exported record and every type they reference.
    fn all() -> Self {
        let cfg = Config::from_env();
        let mut types = Self {
            decls: BTreeMap::new(),
        };
        let mut add = |name: String, decl: String| {
            types.decls.insert(name, parse_decl(&decl));
        };
        macro_rules! add {
            ($($t:ty),* $(,)?) => { $( add(<$t>::ident(&cfg), <$t>::decl(&cfg)); )* };
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
            DeviceAuthorization,
            DeviceCode,
            Discovered,
            userinfo::DisplayIdentity,
            ExchangedToken,
            Grant,
            IdToken,
            PendingAuthorization,
            PkceVerifier,
            Policy,
            ProtectedResourceMetadata,
            RefreshToken,
            Registration,
            RegistrationAccessToken,
            discovery::RequestId,
            ResourceUri,
            State,
            Time,
            TokenEndpointAuthMethod,
            TokenSet,
        );
        types
    }

    /// Serializes `value` with serde_json and checks it against the type named `ty`.
    fn check(&self, ty: &str, value: &impl Serialize) {
        let json = serde_json::to_value(value).unwrap();
        self.check_value(ty, &json, ty);
    }

    fn check_value(&self, ty: &str, value: &Value, at: &str) {
        let ty = ty.trim();
        assert!(
            !split_top_level(ty, '|').iter().any(|t| t == "null"),
            "{at}: `{ty}` admits null, but JavaScript gets `undefined` for `None`: \
             make the field `name?: T` (`#[ts(optional_fields)]` on the struct)"
        );
        let ok = match ty {
            "string" => value.is_string(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ if ty.starts_with("Array<") && ty.ends_with('>') => {
                let item = &ty["Array<".len()..ty.len() - 1];
                let items = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{at}: not an array"));
                for (i, v) in items.iter().enumerate() {
                    self.check_value(item, v, &format!("{at}[{i}]"));
                }
                true
            }
            _ if ty.starts_with('[') && ty.ends_with(']') => {
                let parts = split_top_level(&ty[1..ty.len() - 1], ',');
                let items = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{at}: not an array"));
                assert_eq!(items.len(), parts.len(), "{at}: tuple length");
                for (i, (part, v)) in parts.iter().zip(items).enumerate() {
                    self.check_value(part, v, &format!("{at}[{i}]"));
                }
                true
            }
            _ => match self.decls.get(ty) {
                None => panic!("{at}: type `{ty}` is not registered in Types::all"),
                Some(Decl::Alias(inner)) => {
                    self.check_value(inner, value, at);
                    true
                }
                Some(Decl::Strings(names)) => {
                    value.as_str().is_some_and(|s| names.iter().any(|n| n == s))
                }
                Some(Decl::Object(fields)) => {
                    self.check_object(ty, fields, value, at);
                    true
                }
            },
        };
        assert!(ok, "{at}: {value} is not a `{ty}`");
    }

    fn check_object(&self, ty: &str, fields: &[Field], value: &Value, at: &str) {
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("{at}: {value} is not an object (`{ty}`)"));
        for key in object.keys() {
            assert!(
                fields.iter().any(|f| &f.name == key),
                "{at}: serde writes `{key}`, which the generated `{ty}` does not have"
            );
        }
        for field in fields {
            let path = format!("{at}.{}", field.name);
            match object.get(&field.name) {
                None | Some(Value::Null) => assert!(
                    field.optional,
                    "{path} can be absent or null, so the generated `{ty}` must mark it optional \
                     (`#[ts(optional_fields)]` on the struct, or `#[ts(as = \"Option<_>\", optional)]` \
                     on a defaulted field)"
                ),
                Some(v) => self.check_value(&field.ty, v, &path),
            }
        }
    }
}

/// Reads `type Name = <body>;` as ts-rs declares it (doc comments included).
fn parse_decl(decl: &str) -> Decl {
    let decl = strip_comments(decl);
    let (_, body) = decl
        .split_once('=')
        .unwrap_or_else(|| panic!("no `=` in {decl}"));
    let body = body.trim().trim_end_matches(';').trim();
    if let Some(members) = body.strip_prefix('{').and_then(|b| b.strip_suffix('}')) {
        let fields = split_top_level(members, ',')
            .into_iter()
            .map(|member| {
                let (name, ty) = member
                    .split_once(':')
                    .unwrap_or_else(|| panic!("no `:` in member `{member}`"));
                let name = name.trim();
                let optional = name.ends_with('?');
                let name = name.trim_end_matches('?').trim_matches('"').to_owned();
                Field {
                    name,
                    optional,
                    ty: ty.trim().to_owned(),
                }
            })
            .collect();
        return Decl::Object(fields);
    }
    let alternatives = split_top_level(body, '|');
    if alternatives.iter().all(|a| a.starts_with('"')) {
        return Decl::Strings(
            alternatives
                .iter()
                .map(|a| a.trim_matches('"').to_owned())
                .collect(),
        );
    }
    Decl::Alias(body.to_owned())
}

/// `s` without its `/* ... */` comments.
fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("*/")
            .unwrap_or_else(|| panic!("unclosed comment in {s}"));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Splits `s` at the `sep`s outside brackets and quotes; drops empty parts.
fn split_top_level(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' | '[' | '<' | '(' if !quoted => depth += 1,
            '}' | ']' | '>' | ')' if !quoted => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}
