//! State machine tests: every transition of [`Discovery`], driven with canned responses.

use std::collections::HashMap;

use proptest::prelude::*;

use super::fixtures::*;
use super::*;
use crate::pkce::ensure_s256;

/// What the pretend network does with a URL.
#[derive(Clone, Debug)]
enum Reply {
    Http(HttpResponse),
    Fail(&'static str),
}

use Reply::{Fail, Http};

/// The outcome of a run: the result and the URLs of each batch.
struct Run {
    result: Result<Discovered>,
    batches: Vec<Vec<String>>,
}

impl Run {
    fn requests(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }

    fn all_urls(&self) -> Vec<&str> {
        self.batches.iter().flatten().map(String::as_str).collect()
    }

    fn ok(&self) -> &Discovered {
        self.result.as_ref().unwrap()
    }

    fn err(&self) -> &Error {
        self.result.as_ref().unwrap_err()
    }
}

/// Drives `d` to the end: each batch is answered in order, unknown URLs get a 404.
fn drive(mut d: Discovery, routes: &[(&str, Reply)]) -> Run {
    let routes: HashMap<&str, &Reply> = routes.iter().map(|(u, r)| (*u, r)).collect();
    let mut batches = Vec::new();
    for _ in 0..10 {
        let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
        if batch.is_empty() {
            break;
        }
        batches.push(batch.iter().map(|(_, r)| r.url.to_string()).collect());
        for (id, req) in batch {
            match routes.get(req.url.as_str()) {
                Some(Http(resp)) => d.handle_response(id, resp.clone()),
                Some(Fail(reason)) => d.handle_failure(id, reason),
                None => d.handle_response(id, not_found()),
            }
        }
    }
    let result = d.poll_result().expect("discovery finished");
    Run { result, batches }
}

fn start(challenge: Option<&str>) -> Discovery {
    Discovery::new(MCP, challenge, Policy::default()).unwrap()
}

fn legacy_policy() -> Policy {
    Policy {
        legacy_2025_03_26_fallbacks: true,
        ..Policy::default()
    }
}

// ----- protected resource metadata -----

#[test]
fn challenge_url_is_fetched_first_and_the_root_is_never_touched() {
    let run = drive(
        start(Some(PRM_CUSTOM)),
        &[
            (PRM_CUSTOM, Http(prm(MCP, &[AS]))),
            (PRM_ROOT, Http(server_error())),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    // Both metadata URLs of the issuer go together; the RFC 8414 one answers and is used.
    assert_eq!(
        run.batches,
        [vec![PRM_CUSTOM, ORIGIN_RFC8414], vec![AS_RFC8414, AS_OIDC]]
    );
    let found = run.ok();
    assert_eq!(found.issuer, AS);
    assert_eq!(found.resource.as_str(), MCP);
    assert_eq!(found.resource_metadata.as_ref().unwrap().resource, MCP);
    assert_eq!(
        found.metadata.token_endpoint.as_ref().unwrap().as_str(),
        "https://auth.example.com/token"
    );
    assert!(!found.legacy_2025_03_26);
}

#[test]
fn failing_challenge_url_falls_back_to_the_well_known_urls() {
    let run = drive(
        start(Some(PRM_CUSTOM)),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(
        run.batches,
        [
            vec![PRM_CUSTOM, ORIGIN_RFC8414],
            vec![PRM_PATH, PRM_ROOT],
            vec![AS_RFC8414, AS_OIDC]
        ]
    );
    assert_eq!(run.ok().issuer, AS);
}

#[test]
fn path_form_then_root_form() {
    let run = drive(
        start(None),
        &[
            (PRM_ROOT, Http(prm(MCP_ORIGIN, &[AS]))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    // Without a challenge URL both well-known URLs go at once: the root form's answer is
    // there when the path form's 404 comes back.
    assert_eq!(
        run.batches,
        [
            vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT],
            vec![AS_RFC8414, AS_OIDC]
        ]
    );
    // The root document describes the origin: that is the resource to send.
    assert_eq!(run.ok().resource.as_str(), MCP_ORIGIN);
}

#[test]
fn root_mcp_server_skips_the_path_form() {
    let d = Discovery::new("https://mcp.example.com/", None, Policy::default()).unwrap();
    let run = drive(
        d,
        &[
            (PRM_ROOT, Http(prm(MCP_ORIGIN, &[AS]))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(
        run.batches,
        [vec![PRM_ROOT, ORIGIN_RFC8414], vec![AS_RFC8414, AS_OIDC]]
    );
}

#[test]
fn resource_mismatch_aborts_before_any_other_request() {
    let run = drive(
        start(Some(PRM_PATH)),
        &[
            (PRM_PATH, Http(prm("https://evil.example.com/mcp", &[AS]))),
            (PRM_ROOT, Http(prm(MCP_ORIGIN, &[AS]))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(run.err().code(), "RESOURCE_MISMATCH");
    assert_eq!(run.batches, [vec![PRM_PATH, ORIGIN_RFC8414]]);
}

#[test]
fn insecure_issuer_in_resource_metadata_aborts() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &["http://auth.example.com"]))),
            (PRM_ROOT, Http(prm(MCP_ORIGIN, &[AS]))),
        ],
    );
    // The root form was on its way, and its answer is not used.
    assert_eq!(run.err().code(), "INSECURE_URL");
    assert_eq!(run.batches, [vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT]]);
}

#[test]
fn resource_metadata_without_servers_moves_on_and_is_reported() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[]))),
            (PRM_ROOT, Http(HttpResponse::json(200, "{"))),
        ],
    );
    let Error::Protocol(ProtocolError::DiscoveryFailed { what, tried }) = run.err() else {
        panic!("{:?}", run.err());
    };
    assert_eq!(*what, "protected resource metadata");
    assert_eq!(tried.len(), 2);
    assert!(tried[0].starts_with(PRM_PATH), "{tried:?}");
    assert!(tried[0].contains("authorization_servers"), "{tried:?}");
    assert!(tried[1].starts_with(PRM_ROOT), "{tried:?}");
}

#[test]
fn no_resource_metadata_without_legacy_switch_fails_listing_every_url() {
    let run = drive(
        start(None),
        &[(ORIGIN_RFC8414, Http(as_metadata(MCP_ORIGIN)))],
    );
    assert_eq!(run.err().code(), "DISCOVERY_FAILED");
    assert_eq!(
        run.err().to_string(),
        format!(
            "could not discover protected resource metadata; tried {PRM_PATH} (answered HTTP 404; expected 2xx), {PRM_ROOT} (answered HTTP 404; expected 2xx)"
        )
    );
    assert_eq!(run.requests(), 3, "the speculative response is not used");
}

#[test]
fn transport_failures_move_on_and_name_the_reason() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Fail("connection refused")),
            (PRM_ROOT, Fail("timed out")),
        ],
    );
    assert_eq!(
        run.err().to_string(),
        format!(
            "could not discover protected resource metadata; tried {PRM_PATH} (connection refused), {PRM_ROOT} (timed out)"
        )
    );

    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (AS_RFC8414, Fail("connection reset")),
            (AS_OIDC, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(run.ok().issuer, AS);
}

#[test]
fn oversized_body_moves_on() {
    let policy = Policy {
        max_response_bytes: 64,
        ..Policy::default()
    };
    let big = prm(MCP, &[AS]);
    assert!(big.body.len() > 64);
    let d = Discovery::new(MCP, None, policy).unwrap();
    let run = drive(d, &[(PRM_PATH, Http(big.clone())), (PRM_ROOT, Http(big))]);
    let text = run.err().to_string();
    assert!(text.contains("sent a body larger than 64 bytes"), "{text}");
    assert!(text.contains(PRM_ROOT), "{text}");
}

// ----- authorization server metadata -----

#[test]
fn path_issuer_urls_in_mcp_order_and_never_the_root() {
    let run = drive(
        start(None),
        &[
            (PRM_ROOT, Http(prm(MCP_ORIGIN, &[TENANT]))),
            (TENANT_URLS[2], Http(as_metadata(TENANT))),
            (AS_RFC8414, Http(server_error())),
        ],
    );
    let urls = run.all_urls();
    assert_eq!(urls[3..], [TENANT_URLS[0], TENANT_URLS[1], TENANT_URLS[2]]);
    assert_eq!(run.batches.len(), 2, "the three URLs go in one round trip");
    assert!(!urls.contains(&AS_RFC8414));
    assert_eq!(run.ok().issuer, TENANT);
}

#[test]
fn first_listed_authorization_server_is_used() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS, TENANT]))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(run.ok().issuer, AS);
    assert_eq!(
        run.ok()
            .resource_metadata
            .as_ref()
            .unwrap()
            .authorization_servers,
        [AS, TENANT]
    );
}

#[test]
fn issuer_mismatch_is_skipped_and_the_next_url_used() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (
                AS_RFC8414,
                Http(as_metadata("https://attacker.example.com")),
            ),
            (AS_OIDC, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(run.ok().issuer, AS);
    assert_eq!(run.ok().metadata.issuer, AS);
}

#[test]
fn issuer_mismatch_wins_over_not_found() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (
                AS_RFC8414,
                Http(as_metadata("https://attacker.example.com")),
            ),
        ],
    );
    assert_eq!(run.err().code(), "ISSUER_MISMATCH");
    assert_eq!(
        run.batches[1],
        [AS_RFC8414, AS_OIDC],
        "both metadata URLs were tried"
    );
}

#[test]
fn every_metadata_url_failing_lists_each_with_its_reason() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (AS_RFC8414, Http(server_error())),
            (AS_OIDC, Http(HttpResponse::json(200, "not json"))),
        ],
    );
    let Error::Protocol(ProtocolError::DiscoveryFailed { what, tried }) = run.err() else {
        panic!("{:?}", run.err());
    };
    assert_eq!(*what, "authorization server metadata");
    assert_eq!(
        tried.len(),
        2,
        "PRM failures are not listed once PRM was found"
    );
    assert_eq!(
        tried[0],
        format!("{AS_RFC8414} (answered HTTP 500; expected 2xx)")
    );
    assert!(tried[1].starts_with(&format!("{AS_OIDC} (did not send a JSON object")));
}

#[test]
fn metadata_with_insecure_endpoint_is_not_used() {
    let mut doc: serde_json::Value = serde_json::from_slice(&as_metadata(AS).body).unwrap();
    doc["token_endpoint"] = "http://auth.example.com/token".into();
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (AS_RFC8414, Http(HttpResponse::json(200, doc.to_string()))),
        ],
    );
    assert_eq!(run.err().code(), "INSECURE_URL");
}

#[test]
fn configured_issuer_skips_resource_metadata() {
    let d = Discovery::with_issuer(MCP, TENANT, Policy::default()).unwrap();
    let run = drive(d, &[(TENANT_URLS[1], Http(as_metadata(TENANT)))]);
    assert_eq!(run.batches, [TENANT_URLS.to_vec()]);
    let found = run.ok();
    assert_eq!(found.issuer, TENANT);
    assert_eq!(found.resource.as_str(), MCP);
    assert!(found.resource_metadata.is_none());
    assert!(!found.legacy_2025_03_26);
    assert_eq!(
        Discovery::with_issuer(MCP, "http://auth.example.com", Policy::default())
            .unwrap_err()
            .code(),
        "INSECURE_URL"
    );
}

// ----- well-known URLs sent together, answers taken in order -----

/// Starts discovery for [`MCP`] without a challenge and answers the first batch: the path
/// form's PRM names [`AS`]. Returns the machine and the ids of the issuer's two metadata URLs.
fn at_the_metadata_step() -> (Discovery, RequestId, RequestId) {
    let mut d = start(None);
    let first: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    d.handle_response(first[0].0, prm(MCP, &[AS]));
    let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    let urls: Vec<&str> = batch.iter().map(|(_, r)| r.url.as_str()).collect();
    assert_eq!(urls, [AS_RFC8414, AS_OIDC]);
    (d, batch[0].0, batch[1].0)
}

fn token_endpoint(found: &Discovered) -> &str {
    found.metadata.token_endpoint.as_ref().unwrap().as_str()
}

#[test]
fn openid_only_server_is_found_in_one_round_trip_after_the_resource_metadata() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (AS_OIDC, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(
        run.batches,
        [
            vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT],
            vec![AS_RFC8414, AS_OIDC]
        ]
    );
    assert_eq!(run.ok().issuer, AS);
}

#[test]
fn resource_metadata_only_at_the_root_is_found_in_one_round_trip() {
    let run = drive(
        start(None),
        &[
            (PRM_ROOT, Http(prm(MCP_ORIGIN, &[AS]))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(run.batches.len(), 2, "{:?}", run.batches);
    assert_eq!(run.ok().resource.as_str(), MCP_ORIGIN);
}

#[test]
fn a_later_metadata_url_waits_for_the_earlier_one() {
    let mut openid = as_metadata(AS);
    openid.body = String::from_utf8(openid.body)
        .unwrap()
        .replace("/token", "/openid-token")
        .into_bytes();

    // The OpenID document arrives first, and is not used while the RFC 8414 one may come.
    let (mut d, rfc8414, oidc) = at_the_metadata_step();
    d.handle_response(oidc, openid.clone());
    assert!(d.poll_result().is_none());
    d.handle_response(rfc8414, as_metadata(AS));
    assert_eq!(
        token_endpoint(&d.poll_result().unwrap().unwrap()),
        "https://auth.example.com/token"
    );

    // Once the RFC 8414 URL failed, the OpenID document that arrived meanwhile is used.
    let (mut d, rfc8414, oidc) = at_the_metadata_step();
    d.handle_response(oidc, openid);
    d.handle_response(rfc8414, not_found());
    assert!(d.poll_transmit().is_none(), "nothing is sent again");
    assert_eq!(
        token_endpoint(&d.poll_result().unwrap().unwrap()),
        "https://auth.example.com/openid-token"
    );
}

#[test]
fn a_security_error_at_a_later_url_counts_only_when_its_turn_comes() {
    let mut d = start(None);
    let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    let root = batch
        .iter()
        .find(|(_, r)| r.url.as_str() == PRM_ROOT)
        .unwrap()
        .0;
    // The root form names another resource (a security error in its turn) and answers first.
    d.handle_response(root, prm("https://evil.example.com/mcp", &[AS]));
    assert!(d.poll_result().is_none());
    d.handle_response(batch[0].0, prm(MCP, &[AS]));
    assert!(d.poll_result().is_none(), "on to the authorization server");
    let next: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    d.handle_response(next[0].0, as_metadata(AS));
    assert_eq!(d.poll_result().unwrap().unwrap().resource.as_str(), MCP);
}

// ----- speculation -----

#[test]
fn co_hosted_server_is_discovered_in_one_round_trip() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[MCP_ORIGIN]))),
            (ORIGIN_RFC8414, Http(as_metadata(MCP_ORIGIN))),
        ],
    );
    assert_eq!(run.batches, [vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT]]);
    assert_eq!(run.ok().issuer, MCP_ORIGIN);
}

#[test]
fn speculative_request_still_in_flight_is_awaited_not_resent() {
    let mut d = start(None);
    let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    let [(prm_id, _), (spec_id, spec), _root] = &batch[..] else {
        panic!("{batch:?}");
    };
    assert_eq!(spec.url.as_str(), ORIGIN_RFC8414);
    d.handle_response(*prm_id, prm(MCP, &[MCP_ORIGIN]));
    // Nothing more goes out while the speculative answer may still serve.
    assert!(d.poll_transmit().is_none());
    assert!(d.poll_result().is_none());
    d.handle_response(*spec_id, as_metadata(MCP_ORIGIN));
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.poll_result().unwrap().unwrap().issuer, MCP_ORIGIN);
}

#[test]
fn speculative_response_is_validated_against_the_listed_issuer() {
    // The PRM lists the origin with a trailing slash: the same first URL, a different issuer.
    let listed = "https://mcp.example.com/";
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[listed]))),
            (ORIGIN_RFC8414, Http(as_metadata(MCP_ORIGIN))),
            (ORIGIN_OIDC, Http(as_metadata(listed))),
        ],
    );
    assert_eq!(
        run.batches,
        [vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT], vec![ORIGIN_OIDC]]
    );
    assert_eq!(run.ok().issuer, listed);

    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[listed]))),
            (ORIGIN_RFC8414, Http(as_metadata(listed))),
        ],
    );
    assert_eq!(run.requests(), 3);
    assert_eq!(run.ok().issuer, listed);
}

#[test]
fn speculative_failure_is_reused_as_that_url_failing() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[MCP_ORIGIN]))),
            (ORIGIN_RFC8414, Fail("connection reset")),
            (ORIGIN_OIDC, Http(as_metadata(MCP_ORIGIN))),
        ],
    );
    assert_eq!(
        run.batches,
        [vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT], vec![ORIGIN_OIDC]]
    );
    assert!(run.result.is_ok());
}

#[test]
fn speculative_miss_is_ignored() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (ORIGIN_RFC8414, Http(as_metadata(MCP_ORIGIN))),
            (AS_RFC8414, Http(as_metadata(AS))),
        ],
    );
    assert_eq!(
        run.batches,
        [
            vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT],
            vec![AS_RFC8414, AS_OIDC]
        ]
    );
    assert_eq!(run.ok().issuer, AS);
}

#[test]
fn late_speculative_response_after_the_end_changes_nothing() {
    let mut d = start(None);
    let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    d.handle_response(batch[0].0, prm("https://evil.example.com/mcp", &[AS]));
    let before = d.poll_result().unwrap();
    assert_eq!(before.as_ref().unwrap_err().code(), "RESOURCE_MISMATCH");
    d.handle_response(batch[1].0, as_metadata(MCP_ORIGIN));
    d.handle_failure(batch[1].0, "late");
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.poll_result().unwrap(), before);
}

#[test]
fn speculation_only_goes_where_the_policy_allows() {
    let mut d = Discovery::new("http://localhost:3000/mcp", None, Policy::default()).unwrap();
    let urls: Vec<String> = std::iter::from_fn(|| d.poll_transmit())
        .map(|(_, r)| r.url.to_string())
        .collect();
    assert_eq!(
        urls,
        [
            "http://localhost:3000/.well-known/oauth-protected-resource/mcp",
            "http://localhost:3000/.well-known/oauth-authorization-server",
            "http://localhost:3000/.well-known/oauth-protected-resource",
        ]
    );
    // A plain-http public server is refused before anything is sent.
    let err = Discovery::new("http://mcp.example.com/mcp", None, Policy::default()).unwrap_err();
    assert_eq!(err.code(), "INSECURE_URL");
    // Even when the challenge points to an https document.
    let err = Discovery::new(
        "http://mcp.example.com/mcp",
        Some(PRM_CUSTOM),
        Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "INSECURE_URL");
}

// ----- driving rules -----

#[test]
fn unknown_request_ids_are_ignored() {
    let mut d = start(None);
    let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    d.handle_response(RequestId(999), prm(MCP, &[AS]));
    d.handle_failure(RequestId(998), "nope");
    assert!(d.poll_transmit().is_none());
    assert!(d.poll_result().is_none());
    // A stale id of an earlier step is unknown too.
    d.handle_response(batch[0].0, not_found());
    assert!(
        d.poll_transmit().is_none(),
        "the root form is on its way already"
    );
    let root_id = batch[2].0;
    d.handle_response(batch[0].0, prm(MCP, &[AS]));
    assert!(d.poll_transmit().is_none());
    d.handle_response(root_id, prm(MCP, &[AS]));
    assert_eq!(d.poll_transmit().unwrap().1.url.as_str(), AS_RFC8414);
}

#[test]
fn handling_after_the_end_is_ignored_and_the_result_stays() {
    let mut d = start(None);
    let batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
    d.handle_response(batch[1].0, as_metadata(MCP_ORIGIN));
    d.handle_response(batch[0].0, prm(MCP, &[MCP_ORIGIN]));
    let done = d.poll_result().unwrap();
    assert!(done.is_ok());
    d.handle_response(batch[0].0, prm("https://evil.example.com/mcp", &[AS]));
    d.handle_failure(batch[1].0, "late");
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.poll_result().unwrap(), done);
    assert_eq!(
        d.poll_result().unwrap(),
        done,
        "poll_result keeps returning it"
    );
}

#[test]
fn request_ids_round_trip_through_serde() {
    let id = RequestId(7);
    let text = serde_json::to_string(&id).unwrap();
    assert_eq!(serde_json::from_str::<RequestId>(&text).unwrap(), id);
}

// ----- 2025-03-26 fallback -----

#[test]
fn legacy_metadata_at_origin_reuses_the_speculative_response() {
    let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
    let run = drive(
        d,
        &[(
            ORIGIN_RFC8414,
            Http(legacy_as_metadata(MCP_ORIGIN, Some(&["S256"]))),
        )],
    );
    assert_eq!(run.batches, [vec![PRM_PATH, ORIGIN_RFC8414, PRM_ROOT]]);
    let found = run.ok();
    assert!(found.legacy_2025_03_26);
    assert_eq!(found.issuer, MCP_ORIGIN);
    assert_eq!(found.resource.as_str(), MCP);
    assert!(found.resource_metadata.is_none());
    assert_eq!(
        found
            .metadata
            .authorization_endpoint
            .as_ref()
            .unwrap()
            .as_str(),
        "https://mcp.example.com/oauth/authorize"
    );
}

#[test]
fn legacy_issuer_may_carry_one_trailing_slash_and_is_kept_as_served() {
    let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
    let served = "https://mcp.example.com/";
    let run = drive(
        d,
        &[(ORIGIN_RFC8414, Http(legacy_as_metadata(served, None)))],
    );
    assert_eq!(run.ok().issuer, served);
    assert_eq!(run.ok().metadata.issuer, served);
}

#[test]
fn legacy_metadata_naming_another_issuer_is_refused() {
    for other in [
        "https://auth.example.com",
        "https://mcp.example.com//",
        "https://mcp.example.com/mcp",
        "https://MCP.example.com",
    ] {
        let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
        let run = drive(
            d,
            &[(ORIGIN_RFC8414, Http(legacy_as_metadata(other, None)))],
        );
        assert_eq!(run.err().code(), "ISSUER_MISMATCH", "{other}");
    }
}

#[test]
fn legacy_without_metadata_uses_default_endpoints_and_assumes_s256() {
    let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
    let run = drive(d, &[]);
    assert_eq!(run.requests(), 3);
    let found = run.ok();
    assert!(found.legacy_2025_03_26);
    assert_eq!(found.issuer, MCP_ORIGIN);
    let m = &found.metadata;
    assert_eq!(m.issuer, MCP_ORIGIN);
    assert_eq!(
        [
            &m.authorization_endpoint,
            &m.token_endpoint,
            &m.registration_endpoint
        ]
        .map(|u| u.as_ref().unwrap().as_str()),
        [
            "https://mcp.example.com/authorize",
            "https://mcp.example.com/token",
            "https://mcp.example.com/register"
        ]
    );
    assert!(ensure_s256(m, &Policy::default()).is_ok());
    // Outside the fallback, missing PKCE support is still refused.
    let plain = AuthorizationServerMetadata::with_default_endpoints(MCP_ORIGIN);
    assert!(ensure_s256(&plain, &Policy::default()).is_err());
}

#[test]
fn legacy_fills_in_s256_only_when_the_field_is_absent() {
    let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
    let run = drive(
        d,
        &[(
            ORIGIN_RFC8414,
            Http(legacy_as_metadata(MCP_ORIGIN, Some(&["plain"]))),
        )],
    );
    let m = &run.ok().metadata;
    assert_eq!(
        m.code_challenge_methods_supported.as_deref(),
        Some(&["plain".to_owned()][..])
    );
    assert_eq!(
        ensure_s256(m, &Policy::default()).unwrap_err().code(),
        "PKCE_NOT_SUPPORTED"
    );

    let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
    let run = drive(
        d,
        &[(ORIGIN_RFC8414, Http(legacy_as_metadata(MCP_ORIGIN, None)))],
    );
    assert!(ensure_s256(&run.ok().metadata, &Policy::default()).is_ok());
}

#[test]
fn non_legacy_metadata_without_pkce_is_left_as_served() {
    let run = drive(
        start(None),
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (AS_RFC8414, Http(legacy_as_metadata(AS, None))),
        ],
    );
    assert!(run.ok().metadata.code_challenge_methods_supported.is_none());
    assert!(ensure_s256(&run.ok().metadata, &Policy::default()).is_err());
}

#[test]
fn legacy_server_error_or_transport_failure_is_an_error() {
    for reply in [Http(server_error()), Fail("connection refused")] {
        let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
        let run = drive(d, &[(ORIGIN_RFC8414, reply.clone())]);
        let Error::Protocol(ProtocolError::DiscoveryFailed { tried, .. }) = run.err() else {
            panic!("{:?}", run.err());
        };
        assert_eq!(tried.len(), 3, "{tried:?}");
        assert!(tried[2].starts_with(ORIGIN_RFC8414), "{tried:?}");
    }
}

#[test]
fn legacy_is_not_used_when_resource_metadata_exists() {
    let d = Discovery::new(MCP, None, legacy_policy()).unwrap();
    let run = drive(
        d,
        &[
            (PRM_PATH, Http(prm(MCP, &[AS]))),
            (ORIGIN_RFC8414, Http(legacy_as_metadata(MCP_ORIGIN, None))),
        ],
    );
    assert_eq!(run.err().code(), "DISCOVERY_FAILED");
    assert!(run.err().to_string().contains(AS_OIDC));
}

// ----- conformance-shaped runs (loopback, raw strings) -----

#[test]
fn conformance_metadata_var2_shape() {
    let mcp = "http://localhost:3000/mcp";
    let tenant = "http://localhost:4000/tenant1";
    let d = Discovery::new(mcp, None, Policy::default()).unwrap();
    let run = drive(
        d,
        &[
            (
                "http://localhost:3000/.well-known/oauth-protected-resource",
                Http(prm("http://localhost:3000", &[tenant])),
            ),
            (
                "http://localhost:4000/.well-known/oauth-authorization-server/tenant1",
                Http(as_metadata(tenant)),
            ),
        ],
    );
    assert!(
        !run.all_urls()
            .contains(&"http://localhost:4000/.well-known/oauth-authorization-server")
    );
    let found = run.ok();
    assert_eq!(found.resource.as_str(), "http://localhost:3000");
    assert_eq!(found.issuer, tenant);
}

// ----- property: always finishes -----

fn arb_reply() -> impl Strategy<Value = Reply> {
    let evil = "https://evil.example.com/mcp";
    prop_oneof![
        Just(Http(not_found())),
        Just(Http(server_error())),
        Just(Http(prm(MCP, &[AS]))),
        Just(Http(prm(MCP_ORIGIN, &[MCP_ORIGIN]))),
        Just(Http(prm(MCP, &[TENANT]))),
        Just(Http(prm(evil, &[AS]))),
        Just(Http(as_metadata(AS))),
        Just(Http(as_metadata(MCP_ORIGIN))),
        Just(Http(as_metadata(TENANT))),
        Just(Http(as_metadata("https://attacker.example.com"))),
        Just(Fail("connection refused")),
        (0u16..600, proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(s, b)| Http(HttpResponse::json(s, b))),
    ]
}

proptest! {
    #[test]
    fn always_finishes_within_bounded_steps(
        replies in proptest::collection::vec(arb_reply(), 8),
        challenge in any::<bool>(),
        legacy in any::<bool>(),
        reverse in any::<bool>(),
        stray in any::<u32>(),
    ) {
        let policy = Policy { legacy_2025_03_26_fallbacks: legacy, ..Policy::default() };
        let mut d = Discovery::new(MCP, challenge.then_some(PRM_CUSTOM), policy).unwrap();
        let mut replies = replies.into_iter();
        let mut sent = 0;
        for _ in 0..8 {
            let mut batch: Vec<_> = std::iter::from_fn(|| d.poll_transmit()).collect();
            if batch.is_empty() {
                break;
            }
            sent += batch.len();
            if reverse {
                batch.reverse();
            }
            for (id, _) in batch {
                match replies.next().unwrap_or(Http(not_found())) {
                    Http(resp) => d.handle_response(id, resp),
                    Fail(reason) => d.handle_failure(id, reason),
                }
            }
            d.handle_response(RequestId(stray), not_found());
        }
        prop_assert!(d.poll_result().is_some(), "unfinished after {sent} requests");
        prop_assert!(d.poll_transmit().is_none());
        prop_assert!(sent <= 7, "{sent} requests");
    }
}

#[test]
fn configured_servers_need_no_requests_and_assume_s256() {
    let server = ResourceUri::parse("https://mcp.example/mcp").unwrap();
    let mut metadata = AuthorizationServerMetadata::with_default_endpoints("https://login.example");
    metadata.token_endpoint = Some(Url::parse("https://login.example/oauth2/token").unwrap());
    let d = Discovered::configured(server.clone(), metadata);
    assert_eq!(d.issuer, "https://login.example");
    assert_eq!(d.resource, server);
    assert!(crate::pkce::ensure_s256(&d.metadata, &Policy::default()).is_ok());
}
