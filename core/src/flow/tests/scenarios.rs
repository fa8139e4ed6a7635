//! One test per behaviour the flow promises; the names say which.

use super::fake::{Env, Fake, ISSUER, MCP};
use crate::flow::access::{Access, Decision, decide};
use crate::flow::login::{Login, LoginConfig, Redirect};
use crate::flow::logout::Logout;
use crate::flow::profile::Profile;
use crate::flow::protected::{McpAction, ProtectedRequest};
use crate::flow::store::{GrantRecord, grant_key, refresh_lock};
use crate::flow::{Event, Machine};
use crate::grant::Grant;
use crate::policy::ResourceUri;
use crate::scope::StepUpTracker;

fn config(redirect: Redirect) -> LoginConfig {
    LoginConfig {
        redirect,
        ..LoginConfig::new(MCP)
    }
}

fn login(env: &mut Env, config: LoginConfig) -> crate::Result<crate::flow::LoginOutcome> {
    let mut zero = |b: &mut [u8]| b.fill(7);
    let mut m = Login::new(config, env.now, &mut zero)?;
    env.login(&mut m)
}

fn browser() -> Redirect {
    Redirect::Loopback { port: None }
}

fn stored_grant(env: &Env) -> Grant {
    let key = grant_key(&ResourceUri::parse(MCP).unwrap(), None);
    GrantRecord::parse(&key, &env.store[&key]).unwrap().grant
}

fn access(env: &mut Env) -> crate::Result<Grant> {
    let mut m = Access::new(ResourceUri::parse(MCP).unwrap(), None, Default::default());
    env.drive(&mut m, |_, env, event| {
        if let Event::Warning(e) = event {
            env.events.push(format!("warning {}", e.code()));
        }
    })
}

#[test]
fn browser_login_discovers_registers_and_stores_one_grant() {
    let mut env = Env::new(Fake::new());
    let outcome = login(&mut env, config(browser())).unwrap();
    assert_eq!(outcome.grant.issuer, ISSUER);
    assert_eq!(stored_grant(&env), outcome.grant);
    assert_eq!(env.fake.count("POST /register"), 1);
    assert_eq!(env.fake.count("POST /mcp"), 1, "one probe");
}

#[test]
fn browser_login_on_a_one_grant_type_server_registers_only_the_code_grant() {
    let mut env = Env::new(Fake {
        one_grant_type: true,
        ..Fake::new()
    });
    login(&mut env, config(browser())).unwrap();
    let grants: Vec<_> = env.fake.clients.values().flatten().cloned().collect();
    assert_eq!(grants, ["authorization_code", "refresh_token"]);
}

#[test]
fn device_login_does_not_reuse_a_client_registered_for_the_code_flow() {
    let mut env = Env::new(Fake {
        one_grant_type: true,
        ..Fake::new()
    });
    login(&mut env, config(browser())).unwrap();
    login(&mut env, config(Redirect::Device)).unwrap();
    assert_eq!(env.fake.count("POST /register"), 2);
    login(&mut env, config(Redirect::Device)).unwrap();
    assert_eq!(
        env.fake.count("POST /register"),
        2,
        "the device client is reused"
    );
}

#[test]
fn a_cached_client_the_server_refuses_is_dropped() {
    let mut env = Env::new(Fake::new());
    login(&mut env, config(Redirect::Device)).unwrap();
    env.fake.clients.clear();
    let err = login(&mut env, config(Redirect::Device)).unwrap_err();
    assert_eq!(err.oauth().unwrap().error, "unauthorized_client");
    assert!(
        !env.store.keys().any(|k| k.starts_with("client#")),
        "{:?}",
        env.store.keys()
    );
    login(&mut env, config(Redirect::Device)).unwrap();
}

#[test]
fn a_loopback_registration_is_reused_on_its_port_and_renewed_on_another() {
    let mut env = Env::new(Fake::new());
    login(&mut env, config(browser())).unwrap();
    login(&mut env, config(browser())).unwrap();
    assert!(
        env.events.contains(&"listen Some(50000)".to_owned()),
        "{:?}",
        env.events
    );
    assert_eq!(env.fake.count("POST /register"), 1);
    login(&mut env, config(Redirect::Loopback { port: Some(50001) })).unwrap();
    assert_eq!(env.fake.count("POST /register"), 2);
}

#[test]
fn a_new_login_replaces_the_old_grant_and_revokes_it() {
    let mut env = Env::new(Fake::new());
    let first = login(&mut env, config(browser())).unwrap();
    let second = login(&mut env, config(browser())).unwrap();
    let old = first.grant.tokens.refresh_token.unwrap();
    assert_eq!(env.fake.revoked, [old.secret().to_owned()]);
    assert_eq!(stored_grant(&env), second.grant);
    assert_eq!(
        env.store.keys().filter(|k| k.starts_with("grant#")).count(),
        1
    );
}

#[test]
fn a_forged_callback_does_not_end_the_login_and_the_timeout_says_so() {
    let mut env = Env::new(Fake::new());
    let mut zero = |b: &mut [u8]| b.fill(7);
    let mut m = Login::new(
        LoginConfig {
            timeout_ms: Some(60_000),
            ..config(browser())
        },
        env.now,
        &mut zero,
    )
    .unwrap();
    let err = env
        .drive(&mut m, |m, env, event| match event {
            Event::Listen { .. } => m.set_redirect_uri(env.now, "http://127.0.0.1:5/callback"),
            Event::Authorize { .. } => {
                assert!(!m.handle_callback(env.now, "/callback?code=x&state=forged"));
                env.events.push("authorize".into());
            }
            Event::ForeignCallback => env.events.push("foreign".into()),
            _ => {}
        })
        .unwrap_err();
    assert_eq!(err.code(), "TIMEOUT");
    assert!(err.to_string().contains("mismatched state"), "{err}");
    assert!(
        env.events
            .ends_with(&["authorize".into(), "foreign".into()])
    );
}

#[test]
fn device_login_honours_the_overall_timeout_as_a_local_timeout() {
    let mut env = Env::new(Fake {
        pending_polls: u32::MAX,
        ..Fake::new()
    });
    let start = env.now;
    let err = login(
        &mut env,
        LoginConfig {
            timeout_ms: Some(20_000),
            ..config(Redirect::Device)
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "TIMEOUT");
    assert!(err.oauth().is_none());
    assert_eq!(start.until(env.now).as_secs(), 20);
    assert_eq!(env.fake.count("POST /token"), 3, "polls at 5, 10 and 15 s");
}

#[test]
fn device_denial_names_the_token_endpoint() {
    let mut env = Env::new(Fake {
        device_denied: true,
        ..Fake::new()
    });
    let err = login(&mut env, config(Redirect::Device)).unwrap_err();
    let oauth = err.oauth().unwrap();
    assert_eq!(oauth.error, "access_denied");
    assert_eq!(oauth.where_, format!("{ISSUER}/token"));
}

#[test]
fn a_stalled_server_fails_the_login_with_a_request_timeout() {
    let mut env = Env::new(Fake {
        stall: vec!["/register"],
        ..Fake::new()
    });
    let start = env.now;
    let err = login(&mut env, config(browser())).unwrap_err();
    assert_eq!(err.code(), "TIMEOUT");
    assert!(
        err.to_string().contains("/register did not answer"),
        "{err}"
    );
    assert_eq!(start.until(env.now).as_secs(), 30);
}

#[test]
fn first_login_scope_is_the_challenges_then_the_resources_and_empty_sends_none() {
    let mut env = Env::new(Fake {
        challenge_scope: Some("mcp:write"),
        ..Fake::new()
    });
    login(&mut env, config(browser())).unwrap();
    assert_eq!(env.fake.last_authorize["scope"], "mcp:write");

    let mut env = Env::new(Fake::new());
    login(&mut env, config(browser())).unwrap();
    assert_eq!(env.fake.last_authorize["scope"], "mcp:read");

    let mut env = Env::new(Fake::new());
    login(
        &mut env,
        LoginConfig {
            scope: Some(String::new()),
            ..config(browser())
        },
    )
    .unwrap();
    assert!(!env.fake.last_authorize.contains_key("scope"));
}

#[test]
fn pkce_support_is_checked_before_registering() {
    let mut env = Env::new(Fake {
        no_pkce: true,
        ..Fake::new()
    });
    let err = login(&mut env, config(browser())).unwrap_err();
    assert_eq!(err.code(), "PKCE_NOT_SUPPORTED");
    assert_eq!(env.fake.count("POST /register"), 0);
}

#[test]
fn omitting_resource_leaves_it_out_of_the_authorization_request() {
    let mut env = Env::new(Fake::new());
    login(
        &mut env,
        LoginConfig {
            dangerously_omit_resource: true,
            ..config(browser())
        },
    )
    .unwrap();
    assert!(!env.fake.last_authorize.contains_key("resource"));
    assert!(!stored_grant(&env).send_resource);
}

#[test]
fn a_numeric_sub_is_shown_with_its_issuer() {
    let mut env = Env::new(Fake::new());
    let outcome = login(&mut env, config(browser())).unwrap();
    let label = format!("sub 1 at {ISSUER}");
    assert_eq!(outcome.identity.as_deref(), Some(label.as_str()));
    let key = grant_key(&ResourceUri::parse(MCP).unwrap(), None);
    let record = GrantRecord::parse(&key, &env.store[&key]).unwrap();
    assert_eq!(
        record.identity.as_deref(),
        Some(label.as_str()),
        "status shows it too"
    );
}

// ----- access -----

#[test]
fn a_fresh_token_is_used_without_a_lock_or_a_request() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    let before = env.fake.log.len();
    env.events.clear();
    assert_eq!(access(&mut env).unwrap(), grant);
    assert_eq!(env.fake.log.len(), before);
    assert!(!env.events.iter().any(|e| e.starts_with("lock")));
}

#[test]
fn waiters_take_the_token_another_caller_just_stored_even_at_short_lifetimes() {
    let mut env = Env::new(Fake {
        lifetime: 4,
        ..Fake::new()
    });
    login(&mut env, config(browser())).unwrap();
    env.advance(3);
    // Every waiter reads the expiring grant and asks for the lock before anyone refreshes.
    let mut waiters = env.waiters_at_the_lock(8);
    // They get the lock one after the other.
    let mut tokens = Vec::new();
    for w in &mut waiters {
        w.handle_locked(env.now);
        tokens.push(env.drive(w, |_, _, _| {}).unwrap().tokens.access_token);
    }
    assert_eq!(
        env.fake.count("POST /token"),
        2,
        "the login's exchange and one refresh"
    );
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_refresh_that_fails_inside_the_margin_uses_the_still_valid_token() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600 - 10);
    env.fake.unavailable.push("/token");
    let got = access(&mut env).unwrap();
    assert_eq!(got.tokens.access_token, grant.tokens.access_token);
    let warning = "warning OAUTH_ERROR".to_owned();
    assert!(env.events.contains(&warning), "{:?}", env.events);
    env.advance(10);
    assert_eq!(
        access(&mut env).unwrap_err().code(),
        "OAUTH_ERROR",
        "expired now"
    );
}

#[test]
fn a_refused_refresh_token_deletes_the_grant() {
    let mut env = Env::new(Fake::new());
    login(&mut env, config(browser())).unwrap();
    env.fake.refresh_live.clear();
    env.advance(3600);
    let err = access(&mut env).unwrap_err();
    assert_eq!(err.code(), "LOGIN_REQUIRED");
    assert!(!env.store.keys().any(|k| k.starts_with("grant#")));
}

#[test]
fn a_lost_refresh_answer_keeps_the_grant_and_the_one_retry_ends_in_a_login_required() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600);
    env.fake.lose_refresh_answers = true;
    let err = access(&mut env).unwrap_err();
    assert_eq!(err.code(), "TIMEOUT", "the cause's code: {err}");
    assert!(
        err.to_string()
            .contains("may have used the refresh token already, and then a new login is needed"),
        "{err}"
    );
    assert_eq!(stored_grant(&env), grant, "the grant is kept as it was");
    // The server rotated the stored refresh token out: the one retry is refused, and that
    // ends the grant instead of sending the spent token again and again.
    let err = access(&mut env).unwrap_err();
    assert_eq!(err.code(), "LOGIN_REQUIRED", "{err}");
    assert!(!env.store.keys().any(|k| k.starts_with("grant#")));
    assert_eq!(access(&mut env).unwrap_err().code(), "LOGIN_REQUIRED");
    assert_eq!(
        env.fake.count("POST /token"),
        3,
        "the exchange, the lost refresh and the one refused retry"
    );
    login(&mut env, config(browser())).unwrap();
    assert!(access(&mut env).is_ok(), "a new login recovers");
}

#[test]
fn a_success_status_with_an_unreadable_body_is_a_refresh_answer_lost() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600);
    let mut m = Access::new(ResourceUri::parse(MCP).unwrap(), None, Default::default());
    let mut sent = 0;
    let err = loop {
        if let Some((id, _)) = m.poll_transmit() {
            sent += 1;
            m.handle_response(env.now, id, crate::HttpResponse::json(200, "{\"access_"));
            continue;
        }
        match m.poll_event().expect("an event") {
            Event::Load { key } => {
                let record = env.store.get(&key).cloned();
                m.handle_loaded(env.now, &key, record);
            }
            Event::Lock { .. } => m.handle_locked(env.now),
            Event::Done(result) => break result.unwrap_err(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((sent, err.code()), (1, "INVALID_JSON"), "{err}");
    assert!(err.to_string().contains("may have used the refresh token"));
    assert_eq!(stored_grant(&env), grant);
}

#[test]
fn a_refused_refresh_is_not_called_a_lost_answer() {
    let mut env = Env::new(Fake::new());
    login(&mut env, config(browser())).unwrap();
    env.advance(3600);
    env.fake.unavailable.push("/token");
    let err = access(&mut env).unwrap_err();
    assert!(!err.to_string().contains("may have used"), "{err}");
}

#[test]
fn decisions_compare_with_the_token_the_caller_saw() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    let now = env.now;
    let token = grant.tokens.access_token.clone();
    assert_eq!(decide(&grant, now, None, None), Decision::Use);
    assert_eq!(decide(&grant, now, None, Some(&token)), Decision::Refresh);
    let other = crate::AccessToken::new("other");
    assert_eq!(decide(&grant, now, None, Some(&other)), Decision::Use);
    let expired = now.add(std::time::Duration::from_secs(3600));
    assert_eq!(
        decide(&grant, expired, Some(&other), None),
        Decision::Refresh
    );
}

// ----- protected requests -----

fn grant_with(env: &mut Env) -> Grant {
    login(env, config(browser())).unwrap().grant
}

#[test]
fn a_401_that_survives_a_refresh_and_a_login_is_persistent_unauthorized() {
    let mut env = Env::new(Fake::new());
    let first = grant_with(&mut env);
    let second = grant_with(&mut env);
    let third = grant_with(&mut env);
    let mut tracker = StepUpTracker::default();
    let server = ResourceUri::parse(MCP).unwrap();
    let mut p = ProtectedRequest::new(server, &[], true);
    assert!(matches!(
        p.start(&tracker, Ok(first)),
        McpAction::Send {
            authorization: Some(_),
            dpop: None
        }
    ));
    assert!(matches!(
        p.handle_response(&mut tracker, 401, &[], None),
        McpAction::Refresh { .. }
    ));
    assert!(matches!(
        p.handle_refreshed(&mut tracker, Ok(second)),
        McpAction::Send { .. }
    ));
    let McpAction::Login {
        attempt, step_up, ..
    } = p.handle_response(&mut tracker, 401, &[], None)
    else {
        panic!()
    };
    assert_eq!((attempt, step_up), (1, false));
    assert!(matches!(p.handle_login(Ok(third)), McpAction::Send { .. }));
    let McpAction::Fail(err) = p.handle_response(&mut tracker, 401, &[], None) else {
        panic!()
    };
    assert_eq!(err.code(), "PERSISTENT_UNAUTHORIZED");
}

#[test]
fn a_malformed_challenge_on_a_401_still_means_unauthorized() {
    let mut env = Env::new(Fake::new());
    let grant = grant_with(&mut env);
    let mut tracker = StepUpTracker::default();
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &[], false);
    let _ = p.start(&tracker, Ok(grant));
    let bad = ["Bearer realm=\"unterminated".to_owned()];
    assert!(matches!(
        p.handle_response(&mut tracker, 401, &bad, None),
        McpAction::Refresh { .. }
    ));
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &[], true);
    let _ = p.start(&tracker, Ok(grant_with(&mut env)));
    assert!(matches!(
        p.handle_response(&mut tracker, 403, &bad, None),
        McpAction::Return
    ));
}

#[test]
fn step_ups_are_counted_per_server_and_operation() {
    let mut env = Env::new(Fake::new());
    let mut tracker = StepUpTracker::default();
    let scope = ["Bearer error=\"insufficient_scope\", scope=\"mcp:write\"".to_owned()];
    let headers = |name: &str| {
        vec![
            ("Mcp-Method".to_owned(), "tools/call".to_owned()),
            ("Mcp-Name".to_owned(), name.to_owned()),
        ]
    };
    for attempt in 1..=3 {
        let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &headers("a"), true);
        let _ = p.start(&tracker, Ok(grant_with(&mut env)));
        let McpAction::Login {
            attempt: n,
            step_up: true,
            ..
        } = p.handle_response(&mut tracker, 403, &scope, None)
        else {
            panic!()
        };
        assert_eq!(n, attempt);
    }
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &headers("a"), true);
    let _ = p.start(&tracker, Ok(grant_with(&mut env)));
    let McpAction::Fail(err) = p.handle_response(&mut tracker, 403, &scope, None) else {
        panic!()
    };
    assert_eq!(err.code(), "STEP_UP_LIMIT");
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &headers("b"), true);
    let _ = p.start(&tracker, Ok(grant_with(&mut env)));
    assert!(matches!(
        p.handle_response(&mut tracker, 403, &scope, None),
        McpAction::Login { attempt: 1, .. }
    ));
}

// ----- logout -----

#[test]
fn logout_forgets_first_then_revokes_and_a_refusal_is_only_a_warning() {
    let mut env = Env::new(Fake::new());
    login(&mut env, config(browser())).unwrap();
    env.fake.stall.push("/revoke");
    env.events.clear();
    let mut m = Logout::new(ResourceUri::parse(MCP).unwrap(), true, Default::default());
    let outcome = env
        .drive(&mut m, |_, env, event| {
            if let Event::Warning(e) = event {
                env.events.push(format!("warning {}", e.code()));
            }
        })
        .unwrap();
    assert!(!outcome.revoked);
    assert!(
        env.events[1].starts_with("delete grant#"),
        "{:?}",
        env.events
    );
    assert_eq!(
        env.events.last().map(String::as_str),
        Some("warning TIMEOUT")
    );
    let mut m = Logout::new(ResourceUri::parse(MCP).unwrap(), true, Default::default());
    assert_eq!(
        env.drive(&mut m, |_, _, _| {}).unwrap_err().code(),
        "LOGIN_REQUIRED"
    );
}

// ----- profiles -----

#[test]
fn two_profiles_on_one_server_hold_two_grants_and_log_out_apart() {
    let mut env = Env::new(Fake::new());
    let server = ResourceUri::parse(MCP).unwrap();
    let work = Profile::parse("work").unwrap();
    let default = login(&mut env, config(browser())).unwrap().grant;
    let work_config = LoginConfig {
        profile: Some(work.clone()),
        ..config(browser())
    };
    let worked = login(&mut env, work_config).unwrap().grant;
    assert_ne!(
        default.tokens.access_token.secret(),
        worked.tokens.access_token.secret()
    );
    assert!(
        env.fake.revoked.is_empty(),
        "a login for one profile does not replace another's grant"
    );
    assert_eq!(
        env.fake.count("POST /register"),
        1,
        "profiles share the client"
    );
    let work_key = grant_key(&server, Some(&work));
    let record = GrantRecord::parse(&work_key, &env.store[&work_key]).unwrap();
    assert_eq!(
        (record.grant, record.profile),
        (worked.clone(), Some(work.clone()))
    );
    assert_eq!(stored_grant(&env), default);

    let mut m =
        Access::new(server.clone(), None, Default::default()).with_profile(Some(work.clone()));
    assert_eq!(env.drive(&mut m, |_, _, _| {}).unwrap(), worked);

    let mut m = Logout::new(server.clone(), true, Default::default()).with_profile(Some(work));
    env.drive(&mut m, |_, _, _| {}).unwrap();
    assert!(!env.store.contains_key(&work_key));
    assert_eq!(stored_grant(&env), default, "the default login is left");
}

#[test]
fn a_profile_refreshes_under_its_own_lock() {
    let mut env = Env::new(Fake {
        lifetime: 4,
        ..Fake::new()
    });
    let server = ResourceUri::parse(MCP).unwrap();
    let work = Profile::parse("work").unwrap();
    let work_config = LoginConfig {
        profile: Some(work.clone()),
        ..config(browser())
    };
    login(&mut env, work_config).unwrap();
    env.advance(5);
    env.events.clear();
    let mut m =
        Access::new(server.clone(), None, Default::default()).with_profile(Some(work.clone()));
    env.drive(&mut m, |_, _, _| {}).unwrap();
    let lock = format!("lock {}", refresh_lock(&server, Some(&work)));
    assert!(
        env.events.iter().any(|e| e.starts_with(&lock)),
        "{:?}",
        env.events
    );
    let work_key = grant_key(&server, Some(&work));
    let record = GrantRecord::parse(&work_key, &env.store[&work_key]).unwrap();
    assert_eq!(
        record.profile,
        Some(work),
        "the refreshed record keeps its profile"
    );
    assert!(!env.store.contains_key(&grant_key(&server, None)));
}

// ----- DPoP (RFC 9449) and refresh backoff -----

fn dpop_key() -> crate::jws::DpopKey {
    crate::jws::DpopKey::new(
        crate::jws::EcPublicJwk::p256("key-x", "key-y"),
        crate::jws::KeyHandle::Stored { id: "k1".into() },
    )
}

fn dpop_config(redirect: Redirect) -> LoginConfig {
    LoginConfig {
        dpop: true,
        dpop_key: Some(dpop_key()),
        ..config(redirect)
    }
}

/// The header and claims of a proof as the driver would sign them.
fn decoded(proof: &crate::jws::JwsTemplate) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine as _;
    let signing = proof.stamp_with(crate::time::Time::from_unix_secs(1), "jti-1");
    let part = |i: usize| {
        let text = signing.input.split('.').nth(i).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    (part(0), part(1))
}

/// The claims of every proof the fake server received at `path`.
fn proofs_at(env: &Env, path: &str) -> Vec<serde_json::Value> {
    env.fake
        .proofs
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, t)| decoded(t).1)
        .collect()
}

#[test]
fn a_dpop_login_without_a_key_fails_at_the_start() {
    let env = Env::new(Fake::new());
    let config = LoginConfig {
        dpop_key: None,
        ..dpop_config(browser())
    };
    let err = Login::new(config, env.now, &mut |b: &mut [u8]| b.fill(7)).unwrap_err();
    assert_eq!(err.code(), "NO_SIGNING_KEY");
    assert!(err.to_string().contains("DPoP key"), "{err}");
}

#[test]
fn a_dpop_login_proves_possession_at_the_code_exchange_and_stores_the_key() {
    let mut env = Env::new(Fake {
        dpop: true,
        ..Fake::new()
    });
    let grant = login(&mut env, dpop_config(browser())).unwrap().grant;
    assert_eq!(grant.tokens.token_type, "DPoP");
    assert_eq!(grant.dpop_key, Some(dpop_key()));
    assert!(grant.is_dpop_bound());
    assert_eq!(stored_grant(&env).dpop_key, Some(dpop_key()));
    let token_proofs: Vec<_> = env
        .fake
        .proofs
        .iter()
        .filter(|(p, _)| p == "/token")
        .collect();
    assert_eq!(token_proofs.len(), 1, "one proof, on the exchange");
    let (header, claims) = decoded(&token_proofs[0].1);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["jwk"]["x"], "key-x");
    assert_eq!(header["jwk"]["y"], "key-y");
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("{ISSUER}/token"));
    assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());
    assert!(
        env.fake
            .proofs
            .iter()
            .all(|(p, _)| p == "/token" || p == "/userinfo"),
        "no proof on discovery or registration: {:?}",
        env.fake.proofs.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
}

#[test]
fn the_authorization_servers_nonce_is_answered_once_and_carried_by_later_polls() {
    let mut env = Env::new(Fake {
        dpop: true,
        as_nonce: Some("as-nonce-1"),
        pending_polls: 2,
        ..Fake::new()
    });
    let grant = login(&mut env, dpop_config(Redirect::Device))
        .unwrap()
        .grant;
    assert_eq!(grant.tokens.token_type, "DPoP");
    let nonces: Vec<_> = proofs_at(&env, "/token")
        .iter()
        .map(|c| c.get("nonce").and_then(|n| n.as_str()).map(str::to_owned))
        .collect();
    let n = Some("as-nonce-1".to_owned());
    assert_eq!(
        nonces,
        [None, n.clone(), n.clone(), n],
        "the first poll learns the nonce, its retry and the later polls carry it"
    );
}

#[test]
fn a_second_use_dpop_nonce_ends_the_login_with_the_oauth_error() {
    let mut env = Env::new(Fake {
        dpop: true,
        nonce_forever: true,
        ..Fake::new()
    });
    let err = login(&mut env, dpop_config(browser())).unwrap_err();
    assert_eq!(err.oauth().unwrap().error, "use_dpop_nonce");
    assert_eq!(env.fake.count("POST /token"), 2, "one retry, never more");
    let nonces = proofs_at(&env, "/token");
    assert_eq!(nonces[0].get("nonce"), None);
    let given = nonces[1]["nonce"].as_str().unwrap_or_default();
    assert!(
        given.starts_with("nonce-"),
        "the retry carries the nonce given"
    );
}

#[test]
fn a_bearer_answer_to_a_proof_is_used_as_a_bearer_token_and_refreshes_keep_proving() {
    // RFC 9449 §5: the server may decline to bind the access token; the refresh token of a
    // public client is bound all the same.
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, dpop_config(browser())).unwrap().grant;
    assert_eq!(grant.tokens.token_type, "Bearer");
    assert_eq!(grant.dpop_key, Some(dpop_key()));
    assert!(!grant.is_dpop_bound());
    let server = ResourceUri::parse(MCP).unwrap();
    let tracker = StepUpTracker::default();
    let mut p = ProtectedRequest::new(server, &[], true);
    let McpAction::Send {
        authorization,
        dpop,
    } = p.start(&tracker, Ok(grant.clone()))
    else {
        panic!("a send");
    };
    let expected = format!("Bearer {}", grant.tokens.access_token.secret());
    assert_eq!(authorization.as_deref(), Some(expected.as_str()));
    assert!(dpop.is_none(), "a bearer token is sent without a proof");
    env.advance(3600);
    access(&mut env).unwrap();
    assert_eq!(proofs_at(&env, "/token").len(), 2, "exchange and refresh");
}

#[test]
fn a_dpop_token_type_without_a_proof_is_refused() {
    let mut env = Env::new(Fake {
        dpop_always: true,
        ..Fake::new()
    });
    let err = login(&mut env, config(browser())).unwrap_err();
    assert_eq!(err.code(), "INVALID_FIELD", "{err}");
    assert!(err.to_string().contains("token_type"), "{err}");
}

#[test]
fn no_proof_is_attached_anywhere_when_dpop_is_off() {
    let mut env = Env::new(Fake {
        dpop: true,
        ..Fake::new()
    });
    let config = LoginConfig {
        dpop_key: Some(dpop_key()),
        ..config(browser())
    };
    let grant = login(&mut env, config).unwrap().grant;
    assert_eq!(grant.tokens.token_type, "Bearer");
    assert_eq!(grant.dpop_key, None);
    env.advance(3600);
    let refreshed = access(&mut env).unwrap();
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &[], true);
    let action = p.start(&StepUpTracker::default(), Ok(refreshed));
    assert!(matches!(action, McpAction::Send { dpop: None, .. }));
    assert!(env.fake.proofs.is_empty());
}

#[test]
fn a_dpop_refresh_carries_a_proof_and_answers_one_nonce() {
    let mut env = Env::new(Fake {
        dpop: true,
        ..Fake::new()
    });
    login(&mut env, dpop_config(browser())).unwrap();
    env.fake.as_nonce = Some("as-nonce-2");
    env.advance(3600);
    let grant = access(&mut env).unwrap();
    assert_eq!(grant.tokens.token_type, "DPoP");
    assert_eq!(stored_grant(&env), grant);
    let refreshes = &proofs_at(&env, "/token")[1..];
    assert_eq!(refreshes.len(), 2, "the refresh and its one nonce retry");
    assert_eq!(refreshes[0].get("nonce"), None);
    assert_eq!(refreshes[1]["nonce"], "as-nonce-2");
    assert_eq!(refreshes[1]["htu"], format!("{ISSUER}/token"));
    assert!(refreshes[1].get("ath").is_none());
}

#[test]
fn a_dpop_refresh_refused_twice_for_its_nonce_keeps_the_grant() {
    let mut env = Env::new(Fake {
        dpop: true,
        ..Fake::new()
    });
    let grant = login(&mut env, dpop_config(browser())).unwrap().grant;
    env.fake.nonce_forever = true;
    env.advance(3600);
    let err = access(&mut env).unwrap_err();
    assert_eq!(err.oauth().unwrap().error, "use_dpop_nonce");
    assert_eq!(
        env.fake.count("POST /token"),
        3,
        "exchange, refresh, one retry"
    );
    assert_eq!(stored_grant(&env), grant);
}

#[test]
fn resource_requests_carry_a_proof_and_answer_the_servers_nonce_once() {
    let mut env = Env::new(Fake {
        dpop: true,
        ..Fake::new()
    });
    let grant = login(&mut env, dpop_config(browser())).unwrap().grant;
    let server = ResourceUri::parse(MCP).unwrap();
    let mut tracker = StepUpTracker::default();
    let mut p = ProtectedRequest::new(server.clone(), &[], true);
    let McpAction::Send {
        authorization,
        dpop: Some(proof),
    } = p.start(&tracker, Ok(grant.clone()))
    else {
        panic!("a send with a proof");
    };
    let token = grant.tokens.access_token.clone();
    assert_eq!(authorization, Some(format!("DPoP {}", token.secret())));
    let (header, claims) = decoded(&proof);
    assert_eq!(header["jwk"]["x"], "key-x");
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], MCP);
    assert_eq!(claims["ath"], crate::dpop::ath(&token));
    assert_eq!(claims.get("nonce"), None);

    let challenge = [r#"DPoP error="use_dpop_nonce", error_description="fresh""#.to_owned()];
    let McpAction::Send {
        dpop: Some(again), ..
    } = p.handle_response(&mut tracker, 401, &challenge, Some("rs-1"))
    else {
        panic!("sent again with the nonce, not refreshed");
    };
    assert_eq!(decoded(&again).1["nonce"], "rs-1");
    assert_eq!(tracker.dpop_nonce(&server), Some("rs-1"));
    assert!(
        matches!(
            p.handle_response(&mut tracker, 401, &challenge, Some("rs-2")),
            McpAction::Refresh { .. }
        ),
        "the nonce is answered once"
    );

    // The next request carries the newest nonce upfront.
    let mut next = ProtectedRequest::new(server.clone(), &[], true);
    let McpAction::Send {
        dpop: Some(upfront),
        ..
    } = next.start(&tracker, Ok(grant))
    else {
        panic!("a send with a proof");
    };
    assert_eq!(decoded(&upfront).1["nonce"], "rs-2");
    assert!(matches!(
        next.handle_response(&mut tracker, 200, &[], Some("rs-3")),
        McpAction::Return
    ));
    assert_eq!(
        tracker.dpop_nonce(&server),
        Some("rs-3"),
        "any answer's nonce"
    );
}

#[test]
fn a_dpop_challenge_steers_the_login_like_a_bearer_one() {
    let mut tracker = StepUpTracker::default();
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &[], true);
    let _ = p.start(
        &tracker,
        Err(crate::flow::error::FlowError::LoginRequired {
            server: MCP.into(),
            reason: "nothing is stored",
        }
        .into()),
    );
    let challenge = [format!(
        r#"DPoP algs="ES256", resource_metadata="{ISSUER}/prm", scope="a b""#
    )];
    let McpAction::Login { challenge, .. } = p.handle_response(&mut tracker, 401, &challenge, None)
    else {
        panic!("a login");
    };
    assert_eq!(challenge.resource_metadata, Some(format!("{ISSUER}/prm")));
    assert_eq!(challenge.scope.as_deref(), Some("a b"));
}

/// The gaps between the refreshes sent, in seconds.
fn refresh_gaps(env: &Env) -> Vec<u64> {
    let times: Vec<_> = env
        .sent
        .iter()
        .filter(|(_, what)| what == "POST /token")
        .map(|(at, _)| *at)
        .skip(1)
        .collect();
    times
        .windows(2)
        .map(|w| w[0].until(w[1]).as_secs())
        .collect()
}

#[test]
fn a_refresh_turned_away_with_503_is_sent_again_after_1_2_and_4_seconds() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600);
    env.fake.unavailable_for = 3;
    let refreshed = access(&mut env).unwrap();
    assert_ne!(refreshed.tokens.access_token, grant.tokens.access_token);
    assert_eq!(refresh_gaps(&env), [1, 2, 4]);
    assert_eq!(stored_grant(&env), refreshed);
}

#[test]
fn a_refresh_turned_away_every_time_gives_up_and_keeps_the_grant() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600);
    env.fake.unavailable_for = 100;
    env.fake.retry_after = Some("3");
    let err = access(&mut env).unwrap_err();
    assert_eq!(err.oauth().unwrap().error, "temporarily_unavailable");
    assert_eq!(refresh_gaps(&env), [3, 3, 4], "Retry-After when longer");
    assert_eq!(env.fake.count("POST /token"), 1 + 4);
    assert_eq!(stored_grant(&env), grant, "never deleted");
}

#[test]
fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600);
    env.fake.unavailable_for = 1;
    env.fake.retry_after = Some("3600");
    assert!(access(&mut env).is_err());
    assert_eq!(
        env.fake.count("POST /token"),
        2,
        "the exchange and one refresh"
    );
    assert_eq!(stored_grant(&env), grant);
}

#[test]
fn a_still_valid_token_is_handed_out_at_once_when_the_refresh_is_turned_away() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600 - 10);
    env.fake.unavailable_for = 100;
    let before = env.now;
    let got = access(&mut env).unwrap();
    assert_eq!(got.tokens.access_token, grant.tokens.access_token);
    assert_eq!(env.now, before, "no waiting");
    assert_eq!(env.fake.count("POST /token"), 2, "no retry");
}

#[test]
fn a_lost_answer_after_a_503_is_not_sent_again() {
    let mut env = Env::new(Fake::new());
    let grant = login(&mut env, config(browser())).unwrap().grant;
    env.advance(3600);
    env.fake.unavailable_for = 1;
    env.fake.lose_refresh_answers = true;
    let mut m = Access::new(ResourceUri::parse(MCP).unwrap(), None, Default::default());
    let err = env
        .drive(&mut m, |_, _, _| {})
        .expect_err("the answer is lost");
    assert!(
        err.to_string().contains("may have used the refresh token"),
        "{err}"
    );
    assert_eq!(
        env.fake.count("POST /token"),
        3,
        "the exchange, the refresh turned away, and its one retry whose answer was lost"
    );
    assert_eq!(stored_grant(&env), grant);
}

// ----- audience and form-encoded token responses -----

/// The forms posted to `path`, oldest first.
fn forms_to<'a>(env: &'a Env, path: &str) -> Vec<&'a std::collections::BTreeMap<String, String>> {
    env.fake
        .forms
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, form)| form)
        .collect()
}

#[test]
fn an_audience_goes_with_the_authorization_the_exchange_and_every_refresh() {
    let mut env = Env::new(Fake::new());
    let outcome = login(
        &mut env,
        LoginConfig {
            audience: Some("https://api.example".into()),
            ..config(browser())
        },
    )
    .unwrap();
    let audience = Some(&"https://api.example".to_owned());
    assert_eq!(env.fake.last_authorize.get("audience"), audience);
    let exchange = forms_to(&env, "/token");
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0]["grant_type"], "authorization_code");
    assert_eq!(exchange[0].get("audience"), audience);
    assert_eq!(
        outcome.grant.audience.as_deref(),
        Some("https://api.example")
    );
    assert_eq!(stored_grant(&env).audience, outcome.grant.audience);
    env.advance(3600);
    let refreshed = access(&mut env).unwrap();
    let refresh = forms_to(&env, "/token");
    assert_eq!(refresh.len(), 2);
    assert_eq!(refresh[1]["grant_type"], "refresh_token");
    assert_eq!(refresh[1].get("audience"), audience);
    assert_eq!(
        refreshed.audience, outcome.grant.audience,
        "kept in the record"
    );
}

#[test]
fn without_an_audience_no_request_carries_one() {
    let mut env = Env::new(Fake::new());
    login(&mut env, config(browser())).unwrap();
    login(&mut env, config(Redirect::Device)).unwrap();
    env.advance(3600);
    access(&mut env).unwrap();
    assert!(!env.fake.last_authorize.contains_key("audience"));
    assert_eq!(stored_grant(&env).audience, None);
    assert!(env.fake.forms.len() >= 4, "{:?}", env.fake.forms);
    assert!(
        env.fake
            .forms
            .iter()
            .all(|(_, form)| !form.contains_key("audience")),
        "{:?}",
        env.fake.forms
    );
}

#[test]
fn a_device_login_sends_its_audience_to_the_device_authorization_endpoint() {
    let mut env = Env::new(Fake::new());
    let outcome = login(
        &mut env,
        LoginConfig {
            audience: Some("urn:api".into()),
            ..config(Redirect::Device)
        },
    )
    .unwrap();
    let device = forms_to(&env, "/device");
    assert_eq!(device.len(), 1);
    assert_eq!(device[0]["audience"], "urn:api");
    assert_eq!(outcome.grant.audience.as_deref(), Some("urn:api"));
}

#[test]
fn a_server_answering_form_encoded_like_github_serves_logins_polls_and_refreshes() {
    let mut env = Env::new(Fake {
        form_encoded: true,
        pending_polls: 2,
        ..Fake::new()
    });
    let browser_login = login(&mut env, config(browser())).unwrap();
    let tokens = &browser_login.grant.tokens;
    assert!(tokens.access_token.secret().starts_with("at-"));
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        browser_login.grant.tokens.expires_at,
        Some(env.now.add(std::time::Duration::from_secs(3600))),
        "`expires_in=3600` is read as a number of seconds"
    );
    let device_login = login(&mut env, config(Redirect::Device)).unwrap();
    assert_eq!(
        env.fake.count("POST /token"),
        1 + 3,
        "two `authorization_pending` answers at HTTP 200, then tokens"
    );
    env.advance(3600);
    let refreshed = access(&mut env).unwrap();
    assert_ne!(
        refreshed.tokens.access_token,
        device_login.grant.tokens.access_token
    );
    env.fake.refresh_live.clear();
    env.advance(3600);
    let err = access(&mut env).unwrap_err();
    assert_eq!(
        err.code(),
        "LOGIN_REQUIRED",
        "a form-encoded invalid_grant at HTTP 200 ends the grant: {err}"
    );
}

#[test]
fn the_first_mcp_requests_401_is_the_logins_challenge_and_no_probe_is_sent() {
    let mut env = Env::new(Fake::new());
    let mut tracker = StepUpTracker::default();
    let mut p = ProtectedRequest::new(ResourceUri::parse(MCP).unwrap(), &[], true);
    let nothing = crate::flow::error::FlowError::LoginRequired {
        server: MCP.into(),
        reason: "nothing is stored",
    };
    // No token yet: the MCP request itself goes out bare, and its 401 is the probe.
    let McpAction::Send {
        authorization: None,
        ..
    } = p.start(&tracker, Err(nothing.into()))
    else {
        panic!("the request is sent without a token");
    };
    let mcp_request = crate::http::HttpRequest::post_json(
        url::Url::parse(MCP).unwrap(),
        br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#.to_vec(),
    );
    let answer = env.fake.handle(&mcp_request).unwrap();
    let challenges: Vec<String> = answer
        .headers
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.clone())
        .collect();
    let McpAction::Login { challenge, .. } =
        p.handle_response(&mut tracker, answer.status, &challenges, None)
    else {
        panic!("a login");
    };

    let outcome = login(
        &mut env,
        LoginConfig {
            challenge: Some(challenge),
            ..config(browser())
        },
    )
    .unwrap();
    assert_eq!(
        env.fake.count("POST /mcp"),
        1,
        "only the MCP request itself"
    );
    // The login starts at the metadata the challenge names.
    let first = env.sent.first().map(|(_, what)| what.as_str());
    assert_eq!(first, Some("GET /.well-known/oauth-protected-resource/mcp"));
    assert!(matches!(
        p.handle_login(Ok(outcome.grant)),
        McpAction::Send {
            authorization: Some(_),
            ..
        }
    ));
}
