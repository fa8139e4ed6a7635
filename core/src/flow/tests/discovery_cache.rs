//! The discovery cache of logins: what is kept, for how long, for which logins, and how a
//! server that changed under a kept record is recovered from.

use super::fake::{Env, Fake, ISSUER, MCP};
use crate::challenge::BearerChallenge;
use crate::flow::login::{Login, LoginConfig, ManualEndpoints, Redirect};
use crate::flow::logout::Logout;
use crate::flow::profile::Profile;
use crate::flow::store::{DiscoveryRecord, discovery_key};
use crate::policy::ResourceUri;

/// The fake's clock at the start, as an HTTP date.
const START_DATE: &str = "Mon, 12 Jan 1970 13:46:40 GMT";

fn cached_for(cache_control: &str) -> Fake {
    Fake {
        metadata_headers: vec![("cache-control", cache_control.to_owned())],
        ..Fake::new()
    }
}

fn browser() -> LoginConfig {
    LoginConfig {
        redirect: Redirect::Loopback { port: None },
        ..LoginConfig::new(MCP)
    }
}

/// [`browser`] for the login of `profile`.
fn browser_as(profile: &Profile) -> LoginConfig {
    LoginConfig {
        profile: Some(profile.clone()),
        ..browser()
    }
}

fn login(env: &mut Env, config: LoginConfig) -> crate::Result<crate::flow::LoginOutcome> {
    let mut seed = |b: &mut [u8]| b.fill(7);
    let mut m = Login::new(config, env.now, &mut seed)?;
    env.login(&mut m)
}

/// Requests for metadata documents so far.
fn discovery_requests(env: &Env) -> usize {
    env.fake
        .log
        .iter()
        .filter(|l| l.starts_with("GET /.well-known/"))
        .count()
}

fn key(profile: Option<&Profile>) -> String {
    discovery_key(&ResourceUri::parse(MCP).unwrap(), profile)
}

fn record(env: &Env) -> DiscoveryRecord {
    serde_json::from_str(&env.store[&key(None)]).unwrap()
}

#[test]
fn a_second_login_with_a_kept_registration_makes_no_discovery_request() {
    let mut env = Env::new(cached_for("public, max-age=600"));
    login(&mut env, browser()).unwrap();
    let first = discovery_requests(&env);
    assert!(first >= 2, "{:?}", env.fake.log);
    assert_eq!(
        record(&env).fresh_until,
        env.now.add(std::time::Duration::from_secs(600))
    );
    env.advance(599);
    let mark = env.fake.log.len();
    let outcome = login(&mut env, browser()).unwrap();
    assert_eq!(outcome.grant.issuer, ISSUER);
    assert_eq!(discovery_requests(&env), first, "{:?}", env.fake.log);
    assert_eq!(env.fake.count("POST /register"), 1);
    let second: Vec<_> = env.fake.log.get(mark..).unwrap().to_vec();
    assert_eq!(
        second,
        [
            "POST /mcp",
            "GET /authorize",
            "POST /token",
            "GET /userinfo",
            "POST /revoke"
        ],
        "the probe, then straight to the authorization"
    );
}

#[test]
fn an_expired_record_is_fetched_again_and_renewed() {
    let mut env = Env::new(cached_for("max-age=600"));
    login(&mut env, browser()).unwrap();
    let first = discovery_requests(&env);
    env.advance(600);
    login(&mut env, browser()).unwrap();
    assert_eq!(discovery_requests(&env), 2 * first);
    assert_eq!(
        record(&env).fresh_until,
        env.now.add(std::time::Duration::from_secs(600)),
        "the new answer's lifetime"
    );
}

#[test]
fn no_store_no_cache_max_age_zero_and_no_headers_keep_nothing() {
    for headers in [
        vec![("cache-control", "no-store, max-age=600".to_owned())],
        vec![("cache-control", "max-age=600, no-cache".to_owned())],
        vec![("cache-control", "max-age=0".to_owned())],
        vec![],
    ] {
        let mut env = Env::new(Fake {
            metadata_headers: headers.clone(),
            ..Fake::new()
        });
        login(&mut env, browser()).unwrap();
        let first = discovery_requests(&env);
        assert!(
            !env.store.contains_key(&key(None)),
            "{headers:?}: {:?}",
            env.store.keys()
        );
        login(&mut env, browser()).unwrap();
        assert_eq!(discovery_requests(&env), 2 * first, "{headers:?}");
    }
}

#[test]
fn expires_minus_date_less_the_age_gives_the_lifetime() {
    let mut env = Env::new(Fake {
        metadata_headers: vec![
            ("date", START_DATE.to_owned()),
            ("expires", "Mon, 12 Jan 1970 13:56:40 GMT".to_owned()),
            ("age", "100".to_owned()),
        ],
        ..Fake::new()
    });
    let start = env.now;
    login(&mut env, browser()).unwrap();
    assert_eq!(
        record(&env).fresh_until,
        start.add(std::time::Duration::from_secs(500))
    );
    let first = discovery_requests(&env);
    env.now = start.add(std::time::Duration::from_secs(499));
    login(&mut env, browser()).unwrap();
    assert_eq!(discovery_requests(&env), first, "still fresh");
    env.now = start.add(std::time::Duration::from_secs(500));
    login(&mut env, browser()).unwrap();
    assert_eq!(discovery_requests(&env), 2 * first, "stale");
}

#[test]
fn the_shortest_lifetime_of_the_documents_counts() {
    let mut env = Env::new(cached_for("max-age=600"));
    // The resource metadata has spent 500 s of its 600 in a cache on the way.
    env.fake.prm_headers = vec![("age", "500".to_owned())];
    login(&mut env, browser()).unwrap();
    assert_eq!(
        record(&env).fresh_until,
        env.now.add(std::time::Duration::from_secs(100))
    );
}

#[test]
fn a_moved_registration_endpoint_is_rediscovered_once_and_the_login_goes_on() {
    let mut env = Env::new(cached_for("max-age=600"));
    login(
        &mut env,
        LoginConfig {
            redirect: Redirect::Device,
            ..LoginConfig::new(MCP)
        },
    )
    .unwrap();
    let first = discovery_requests(&env);
    env.fake.register_path = Some("/register-v2");
    // A browser login has no registration yet: it registers at the kept endpoint, which is
    // gone.
    let outcome = login(&mut env, browser()).unwrap();
    assert_eq!(outcome.grant.issuer, ISSUER);
    assert_eq!(
        env.fake.count("POST /register"),
        2,
        "the device registration, then the kept endpoint, now gone: {:?}",
        env.fake.log
    );
    assert_eq!(env.fake.count("POST /register-v2"), 1);
    assert_eq!(discovery_requests(&env), 2 * first);
    assert!(
        record(&env)
            .discovered
            .metadata
            .registration_endpoint
            .is_some_and(|u| u.path() == "/register-v2"),
        "the fresh answer is kept"
    );
}

#[test]
fn a_login_that_fails_after_the_user_was_involved_forgets_the_record() {
    let mut env = Env::new(cached_for("max-age=600"));
    login(&mut env, browser()).unwrap();
    env.fake.deny_without_iss = Some("access_denied");
    let first = discovery_requests(&env);
    login(&mut env, browser()).unwrap_err();
    assert_eq!(
        discovery_requests(&env),
        first,
        "no second try past the user"
    );
    assert!(!env.store.contains_key(&key(None)), "{:?}", env.events);
}

#[test]
fn a_record_serves_only_logins_that_would_discover_the_same() {
    let mut env = Env::new(cached_for("max-age=600"));
    login(&mut env, browser()).unwrap();
    let per_discovery = discovery_requests(&env);
    let mut expected = per_discovery;

    // Another profile has its own record.
    let work = Profile::parse("work").unwrap();
    login(&mut env, browser_as(&work)).unwrap();
    expected += per_discovery;
    assert_eq!(discovery_requests(&env), expected);
    assert!(env.store.contains_key(&key(Some(&work))));

    // Another resource_metadata URL in the challenge.
    let challenge = BearerChallenge {
        resource_metadata: Some(format!("{ISSUER}/.well-known/oauth-protected-resource")),
        ..BearerChallenge::default()
    };
    login(
        &mut env,
        LoginConfig {
            challenge: Some(challenge),
            ..browser()
        },
    )
    .unwrap();
    assert!(discovery_requests(&env) > expected, "{:?}", env.fake.log);
    expected = discovery_requests(&env);

    // A configured issuer: no protected resource metadata, another record.
    login(
        &mut env,
        LoginConfig {
            issuer: Some(ISSUER.to_owned()),
            ..browser()
        },
    )
    .unwrap();
    assert!(discovery_requests(&env) > expected);
    assert_eq!(record(&env).issuer.as_deref(), Some(ISSUER));
    expected = discovery_requests(&env);

    // Another policy.
    let mut strict = browser();
    strict.policy.max_response_bytes /= 2;
    login(&mut env, strict).unwrap();
    assert!(discovery_requests(&env) > expected);
    expected = discovery_requests(&env);

    // Configured endpoints neither read nor write a record.
    let loads = env.events.len();
    let mut manual = browser();
    manual.endpoints = Some(ManualEndpoints {
        issuer: Some(ISSUER.to_owned()),
        authorization_endpoint: url::Url::parse(&format!("{ISSUER}/authorize")).unwrap(),
        token_endpoint: url::Url::parse(&format!("{ISSUER}/token")).unwrap(),
    });
    manual.preregistered = vec![crate::flow::login::PreRegistered {
        issuer: None,
        client_id: "app".into(),
        client_secret: None,
        auth_method: None,
        key_alg: None,
        key_id: None,
    }];
    let _ = login(&mut env, manual);
    assert_eq!(discovery_requests(&env), expected);
    assert!(
        !env.events
            .get(loads..)
            .unwrap()
            .iter()
            .any(|e| e.contains("discovery#")),
        "{:?}",
        env.events
    );
}

#[test]
fn logout_forgets_the_record_of_its_profile() {
    let mut env = Env::new(cached_for("max-age=600"));
    let work = Profile::parse("work").unwrap();
    login(&mut env, browser()).unwrap();
    login(&mut env, browser_as(&work)).unwrap();
    let server = ResourceUri::parse(MCP).unwrap();
    let mut logout =
        Logout::new(server, false, Default::default()).with_profile(Some(work.clone()));
    env.drive(&mut logout, |_, _, _| {}).unwrap();
    assert!(!env.store.contains_key(&key(Some(&work))));
    assert!(
        env.store.contains_key(&key(None)),
        "the default login's stays"
    );
}

#[test]
fn an_unreadable_or_foreign_record_is_replaced() {
    let mut env = Env::new(cached_for("max-age=600"));
    env.store.insert(key(None), "{\"v\":99}".to_owned());
    login(&mut env, browser()).unwrap();
    let first = discovery_requests(&env);
    assert!(first > 0);
    assert_eq!(record(&env).v, 1);
}
