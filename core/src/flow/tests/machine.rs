//! Machine and enterprise logins end to end: client credentials (basic, post,
//! private_key_jwt), workload identity (JWT bearer), enterprise-managed (ID-JAG), obtaining
//! the token again on expiry, and what a protected request does with such a grant.

use std::cell::RefCell;
use std::collections::VecDeque;

use super::fake::{Env, Fake, ISSUER, MCP};
use super::fake_machine::IDP_TOKEN;
use crate::client::TokenEndpointAuthMethod;
use crate::flow::access::{Access, Decision, decide};
use crate::flow::login::{
    CredentialSource, EnterpriseIdp, Login, LoginConfig, LoginOutcome, MachineGrant, PreRegistered,
};
use crate::flow::protected::{McpAction, ProtectedRequest};
use crate::flow::store::{GrantRecord, grant_key};
use crate::flow::{Event, Machine};
use crate::grant::Grant;
use crate::jws::{DpopKey, EcPublicJwk, JwsAlg, KeyHandle};
use crate::policy::ResourceUri;
use crate::scope::StepUpTracker;
use crate::secret::{ClientSecret, SecurityToken};

fn client(id: &str, secret: Option<&str>) -> PreRegistered {
    PreRegistered {
        issuer: None,
        client_id: id.into(),
        client_secret: secret.map(ClientSecret::new),
        auth_method: None,
        key_alg: None,
        key_id: None,
    }
}

fn machine_config(grant: MachineGrant, client: PreRegistered) -> LoginConfig {
    LoginConfig {
        grant: Some(grant),
        preregistered: vec![client],
        ..LoginConfig::new(MCP)
    }
}

fn fake_with_secret(id: &str, secret: &str) -> Fake {
    let mut fake = Fake::new();
    fake.machine.secrets.insert(id.into(), secret.into());
    fake
}

/// The credentials the driver reads, in turn; every read is recorded.
#[derive(Default)]
struct Credentials {
    values: RefCell<VecDeque<Result<String, String>>>,
    reads: RefCell<Vec<CredentialSource>>,
}

impl Credentials {
    fn new(values: &[Result<&str, &str>]) -> Self {
        let values = values
            .iter()
            .map(|v| v.map(str::to_owned).map_err(str::to_owned))
            .collect();
        Self {
            values: RefCell::new(values),
            reads: RefCell::default(),
        }
    }

    /// Drives `m`, answering [`Event::Credential`] with the next value.
    fn drive<M: Machine>(&self, env: &mut Env, m: &mut M) -> crate::Result<M::Output> {
        env.drive(m, |m, env, event| match event {
            Event::Credential { source } => {
                self.reads.borrow_mut().push(source.clone());
                let next = self.values.borrow_mut().pop_front();
                m.handle_credential(env.now, next.unwrap_or(Err("no more values".into())));
            }
            Event::Warning(e) => env.events.push(format!("warning {}", e.code())),
            _ => {}
        })
    }

    fn login(&self, env: &mut Env, config: LoginConfig) -> crate::Result<LoginOutcome> {
        let mut seven = |b: &mut [u8]| b.fill(7);
        let mut m = Login::new(config, env.now, &mut seven)?;
        self.drive(env, &mut m)
    }

    fn access(&self, env: &mut Env) -> crate::Result<Grant> {
        let mut m = Access::new(ResourceUri::parse(MCP).unwrap(), None, Default::default());
        self.drive(env, &mut m)
    }
}

fn stored_grant(env: &Env) -> Grant {
    let key = grant_key(&ResourceUri::parse(MCP).unwrap(), None);
    GrantRecord::parse(&key, &env.store[&key]).unwrap().grant
}

fn no_user_steps(env: &Env) {
    for step in [
        "POST /register",
        "GET /authorize",
        "POST /device",
        "GET /userinfo",
    ] {
        assert_eq!(env.fake.count(step), 0, "{step}: {:?}", env.fake.log);
    }
}

// ----- client credentials -----

#[test]
fn a_client_credentials_login_with_basic_stores_a_grant_that_knows_how_to_get_tokens_again() {
    let mut env = Env::new(fake_with_secret("svc", "s3cret"));
    let config = machine_config(
        MachineGrant::ClientCredentials,
        client("svc", Some("s3cret")),
    );
    let outcome = Credentials::default().login(&mut env, config).unwrap();
    let grant = outcome.grant;
    assert_eq!(grant.acquire, Some(MachineGrant::ClientCredentials));
    assert_eq!(grant.tokens.refresh_token, None);
    assert_eq!(grant.tokens.scope.as_deref(), Some("mcp:read"));
    assert_eq!(grant.issuer, ISSUER);
    assert_eq!(stored_grant(&env), grant);
    let [seen] = env.fake.machine.token_requests.as_slice() else {
        panic!("one token request: {:?}", env.fake.machine.token_requests);
    };
    assert_eq!(seen.auth, "basic");
    assert_eq!(seen.form["grant_type"], "client_credentials");
    assert_eq!(seen.form["scope"], "mcp:read");
    assert_eq!(seen.form["resource"], MCP);
    assert!(!seen.form.contains_key("audience"));
    no_user_steps(&env);
}

#[test]
fn client_secret_post_and_private_key_jwt_authenticate_the_client_credentials_request() {
    let mut env = Env::new(fake_with_secret("svc", "s3cret"));
    let mut post = client("svc", Some("s3cret"));
    post.auth_method = Some(TokenEndpointAuthMethod::ClientSecretPost);
    let mut config = machine_config(MachineGrant::ClientCredentials, post);
    config.audience = Some("https://api.example".into());
    let grant = Credentials::default()
        .login(&mut env, config)
        .unwrap()
        .grant;
    assert_eq!(grant.audience.as_deref(), Some("https://api.example"));
    let seen = env.fake.machine.token_requests.last().unwrap().clone();
    assert_eq!(
        (seen.auth, seen.form["audience"].as_str()),
        ("post", "https://api.example")
    );

    let mut keyed = client("svc", None);
    keyed.key_alg = Some(JwsAlg::ES256);
    keyed.key_id = Some("key-1".into());
    Credentials::default()
        .login(
            &mut env,
            machine_config(MachineGrant::ClientCredentials, keyed),
        )
        .unwrap();
    let seen = env.fake.machine.token_requests.last().unwrap();
    assert_eq!(seen.auth, "private_key_jwt");
    let claims = seen.assertion.as_ref().unwrap();
    assert_eq!(claims["iss"], "svc");
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["aud"], ISSUER);
    assert!(claims["exp"].as_u64() > claims["iat"].as_u64());
    assert!(!seen.form.contains_key("client_secret"));
    assert_eq!(
        env.fake.revoked.len(),
        1,
        "the second login's grant replaced the first, which was revoked"
    );
}

#[test]
fn a_client_credentials_login_without_a_secret_or_key_asks_for_no_token() {
    let mut env = Env::new(Fake::new());
    let config = machine_config(MachineGrant::ClientCredentials, client("svc", None));
    let err = Credentials::default().login(&mut env, config).unwrap_err();
    assert_eq!(err.code(), "NO_CLIENT_IDENTITY");
    let err = Credentials::default()
        .login(
            &mut env,
            LoginConfig {
                preregistered: Vec::new(),
                ..machine_config(MachineGrant::ClientCredentials, client("x", None))
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "NO_CLIENT_IDENTITY");
    assert_eq!(env.fake.count("POST /token"), 0);
    assert_eq!(env.fake.count("POST /register"), 0);
}

#[test]
fn a_dpop_machine_login_proves_its_key_and_answers_the_servers_nonce_once() {
    let mut env = Env::new(fake_with_secret("svc", "s"));
    env.fake.machine.dpop_nonce = Some("n-1");
    let mut config = machine_config(MachineGrant::ClientCredentials, client("svc", Some("s")));
    config.dpop = true;
    config.dpop_key = Some(DpopKey::new(
        EcPublicJwk::p256("x", "y"),
        KeyHandle::Stored { id: "k".into() },
    ));
    Credentials::default().login(&mut env, config).unwrap();
    assert_eq!(
        env.fake.count("POST /token"),
        2,
        "the nonce challenge and the retry"
    );
    let [seen] = env.fake.machine.token_requests.as_slice() else {
        panic!("one request got past the nonce check");
    };
    let proof = seen.proof.as_ref().expect("a DPoP proof");
    assert_eq!(proof["htm"], "POST");
    assert_eq!(proof["htu"], format!("{ISSUER}/token"));
    assert_eq!(proof["nonce"], "n-1");
}

// ----- workload identity (JWT bearer) -----

fn wif(path: &str) -> LoginConfig {
    machine_config(
        MachineGrant::JwtBearer {
            assertion: CredentialSource::File { path: path.into() },
        },
        client("conformance-wif-workload", None),
    )
}

#[test]
fn a_workload_login_presents_the_token_read_from_its_file_as_a_public_client() {
    let mut env = Env::new(Fake::new());
    let creds = Credentials::new(&[Ok("  eyJ.workload.1\n")]);
    let grant = creds.login(&mut env, wif("/var/run/token")).unwrap().grant;
    assert_eq!(
        *creds.reads.borrow(),
        [CredentialSource::File {
            path: "/var/run/token".into()
        }]
    );
    let seen = &env.fake.machine.token_requests[0];
    assert_eq!(
        seen.form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(seen.form["assertion"], "eyJ.workload.1", "trimmed");
    assert_eq!(seen.form["client_id"], "conformance-wif-workload");
    assert_eq!(seen.form["resource"], MCP);
    assert!(matches!(
        grant.acquire,
        Some(MachineGrant::JwtBearer { .. })
    ));
    no_user_steps(&env);
}

#[test]
fn a_workload_token_given_as_a_value_is_presented_without_a_read() {
    let mut env = Env::new(Fake::new());
    let config = machine_config(
        MachineGrant::JwtBearer {
            assertion: CredentialSource::Value {
                value: SecurityToken::new("eyJ.inline"),
            },
        },
        client("w", None),
    );
    let creds = Credentials::default();
    creds.login(&mut env, config).unwrap();
    assert!(creds.reads.borrow().is_empty());
    assert_eq!(
        env.fake.machine.token_requests[0].form["assertion"],
        "eyJ.inline"
    );
}

#[test]
fn workload_grant_errors_end_the_login_without_a_retry_or_another_grant_type() {
    for code in ["invalid_grant", "invalid_scope", "unauthorized_client"] {
        let mut env = Env::new(Fake::new());
        env.fake.machine.jwt_bearer_error = Some(code);
        let err = Credentials::new(&[Ok("wl")])
            .login(&mut env, wif("/t"))
            .unwrap_err();
        assert_eq!(err.oauth().map(|e| e.error.as_str()), Some(code), "{err}");
        assert_eq!(env.fake.count("POST /token"), 1, "{code}: no retry");
        assert_eq!(env.fake.count("POST /register"), 0);
        assert!(!env.store.keys().any(|k| k.starts_with("grant#")));
    }
}

#[test]
fn an_unreadable_workload_token_names_its_source_and_never_its_value() {
    let mut env = Env::new(Fake::new());
    let err = Credentials::new(&[Err("permission denied")])
        .login(&mut env, wif("/var/run/secret"))
        .unwrap_err();
    assert_eq!(err.code(), "CREDENTIAL_UNAVAILABLE");
    let text = err.to_string();
    assert!(
        text.contains("/var/run/secret") && text.contains("permission denied"),
        "{text}"
    );
    let err = Credentials::new(&[Ok("  \n")])
        .login(
            &mut env,
            machine_config(
                MachineGrant::JwtBearer {
                    assertion: CredentialSource::Env {
                        name: "WORKLOAD_TOKEN".into(),
                    },
                },
                client("w", None),
            ),
        )
        .unwrap_err();
    assert_eq!(err.code(), "CREDENTIAL_UNAVAILABLE");
    assert!(err.to_string().contains("WORKLOAD_TOKEN"), "{err}");
    assert_eq!(env.fake.count("POST /token"), 0);
}

// ----- enterprise-managed (ID-JAG) -----

fn enterprise(idp_secret: Option<&str>) -> LoginConfig {
    let mut idp = EnterpriseIdp::new(IDP_TOKEN, "idp-client");
    idp.client_secret = idp_secret.map(ClientSecret::new);
    machine_config(
        MachineGrant::EnterpriseManaged {
            id_token: CredentialSource::Env {
                name: "ID_TOKEN".into(),
            },
            idp,
        },
        client("xaa-client", Some("xaa-secret")),
    )
}

#[test]
fn an_enterprise_login_exchanges_the_id_token_for_an_id_jag_and_presents_it() {
    let mut env = Env::new(fake_with_secret("xaa-client", "xaa-secret"));
    env.fake
        .machine
        .secrets
        .insert("idp-client".into(), "idp-secret".into());
    let grant = Credentials::new(&[Ok("eyJ.id.token")])
        .login(&mut env, enterprise(Some("idp-secret")))
        .unwrap()
        .grant;
    let [exchange] = env.fake.machine.idp_requests.as_slice() else {
        panic!("one exchange at the IdP");
    };
    assert_eq!(
        exchange.auth, "basic",
        "the IdP client authenticates with its secret"
    );
    assert_eq!(exchange.form["subject_token"], "eyJ.id.token");
    assert_eq!(exchange.form["audience"], ISSUER);
    assert_eq!(exchange.form["resource"], MCP);
    let [presented] = env.fake.machine.token_requests.as_slice() else {
        panic!("one token request at the authorization server");
    };
    assert_eq!(presented.auth, "basic");
    assert_eq!(
        presented.form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(presented.form["assertion"], env.fake.machine.id_jags[0]);
    assert!(matches!(
        grant.acquire,
        Some(MachineGrant::EnterpriseManaged { .. })
    ));
    no_user_steps(&env);
}

#[test]
fn an_idp_answer_that_is_not_an_id_jag_ends_the_login_before_the_authorization_server() {
    let mut env = Env::new(fake_with_secret("xaa-client", "xaa-secret"));
    env.fake.machine.idp_issued_type = Some("urn:ietf:params:oauth:token-type:access_token");
    let err = Credentials::new(&[Ok("eyJ.id.token")])
        .login(&mut env, enterprise(None))
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_FIELD");
    assert!(err.to_string().contains("issued_token_type"), "{err}");
    assert_eq!(
        env.fake.machine.idp_requests[0].form["client_id"],
        "idp-client"
    );
    assert_eq!(env.fake.count("POST /token"), 0);
}

// ----- access: obtaining the token again -----

#[test]
fn an_expired_workload_grant_is_obtained_again_with_the_token_read_anew() {
    let mut env = Env::new(Fake::new());
    let creds = Credentials::new(&[Ok("wl-1"), Ok("wl-2")]);
    let first = creds.login(&mut env, wif("/t")).unwrap().grant;
    assert_eq!(
        creds.access(&mut env).unwrap(),
        first,
        "fresh: used as it is"
    );
    env.advance(3600);
    let second = creds.access(&mut env).unwrap();
    assert_ne!(second.tokens.access_token, first.tokens.access_token);
    assert_eq!(stored_grant(&env), second, "stored before it is handed out");
    let assertions: Vec<_> = env
        .fake
        .machine
        .token_requests
        .iter()
        .map(|s| s.form["assertion"].clone())
        .collect();
    assert_eq!(assertions, ["wl-1", "wl-2"]);
    assert_eq!(creds.reads.borrow().len(), 2);
    assert_eq!(second.tokens.scope, first.tokens.scope);
    assert_eq!(second.acquire, first.acquire);
}

#[test]
fn waiters_on_an_expired_machine_grant_make_one_token_request() {
    let mut env = Env::new(fake_with_secret("svc", "s"));
    let creds = Credentials::default();
    creds
        .login(
            &mut env,
            machine_config(MachineGrant::ClientCredentials, client("svc", Some("s"))),
        )
        .unwrap();
    env.advance(3600);
    let mut waiters = env.waiters_at_the_lock(2);
    let mut tokens = Vec::new();
    for w in &mut waiters {
        w.handle_locked(env.now);
        tokens.push(creds.drive(&mut env, w).unwrap().tokens.access_token);
    }
    assert_eq!(env.fake.count("POST /token"), 2, "the login's and one more");
    assert_eq!(tokens[0], tokens[1]);
}

#[test]
fn a_failed_acquisition_keeps_the_grant_and_uses_a_still_valid_token() {
    let mut env = Env::new(Fake::new());
    let creds = Credentials::new(&[Ok("wl-1"), Err("gone"), Err("gone")]);
    let grant = creds.login(&mut env, wif("/t")).unwrap().grant;
    env.advance(3600 - 10);
    let got = creds.access(&mut env).unwrap();
    assert_eq!(got.tokens.access_token, grant.tokens.access_token);
    assert!(
        env.events
            .contains(&"warning CREDENTIAL_UNAVAILABLE".to_owned())
    );
    env.advance(10);
    assert_eq!(
        creds.access(&mut env).unwrap_err().code(),
        "CREDENTIAL_UNAVAILABLE"
    );
    assert_eq!(stored_grant(&env), grant, "kept for the next attempt");
}

#[test]
fn a_machine_grant_is_due_for_a_new_token_where_a_refreshable_one_is_due_for_a_refresh() {
    let mut env = Env::new(fake_with_secret("svc", "s"));
    let grant = Credentials::default()
        .login(
            &mut env,
            machine_config(MachineGrant::ClientCredentials, client("svc", Some("s"))),
        )
        .unwrap()
        .grant;
    let now = env.now;
    let token = grant.tokens.access_token.clone();
    assert_eq!(decide(&grant, now, None, None), Decision::Use);
    assert_eq!(decide(&grant, now, None, Some(&token)), Decision::Reacquire);
    let near = now.add(std::time::Duration::from_secs(3600 - 29));
    assert_eq!(decide(&grant, near, None, None), Decision::Reacquire);
    let other = crate::AccessToken::new("other");
    assert_eq!(decide(&grant, now, None, Some(&other)), Decision::Use);
}

// ----- protected requests -----

#[test]
fn a_machine_grant_gets_one_new_token_for_a_401_and_never_a_login_or_step_up() {
    let mut env = Env::new(fake_with_secret("svc", "s"));
    let creds = Credentials::default();
    let config = || machine_config(MachineGrant::ClientCredentials, client("svc", Some("s")));
    let first = creds.login(&mut env, config()).unwrap().grant;
    let second = creds.login(&mut env, config()).unwrap().grant;
    let mut tracker = StepUpTracker::default();
    let server = ResourceUri::parse(MCP).unwrap();

    let mut p = ProtectedRequest::new(server.clone(), &[], true);
    let _ = p.start(&tracker, Ok(first.clone()));
    assert!(matches!(
        p.handle_response(&mut tracker, 401, &[], None),
        McpAction::Refresh { .. }
    ));
    assert!(matches!(
        p.handle_refreshed(&mut tracker, Ok(second)),
        McpAction::Send { .. }
    ));
    let McpAction::Fail(err) = p.handle_response(&mut tracker, 401, &[], None) else {
        panic!("no login for a machine grant");
    };
    assert_eq!(err.code(), "PERSISTENT_UNAUTHORIZED");

    let mut p = ProtectedRequest::new(server.clone(), &[], true);
    let _ = p.start(&tracker, Ok(first.clone()));
    let _ = p.handle_response(&mut tracker, 401, &[], None);
    let McpAction::Fail(err) = p.handle_refreshed(&mut tracker, Ok(first.clone())) else {
        panic!("the same token again is no cure");
    };
    assert_eq!(err.code(), "LOGIN_REQUIRED");

    let mut p = ProtectedRequest::new(server, &[], true);
    let _ = p.start(&tracker, Ok(first));
    let scope = ["Bearer error=\"insufficient_scope\", scope=\"mcp:admin\"".to_owned()];
    assert!(matches!(
        p.handle_response(&mut tracker, 403, &scope, None),
        McpAction::Return
    ));
}
