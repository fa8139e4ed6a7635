//! Whole flows through the boundary: a web login saved at the callback boundary and resumed,
//! a loopback login's listener, a foreign callback, refresh under the lock, deadlines.

use mcpauth_wasm::{machine_drain, machine_free, pending_key_for_callback};
use serde_json::json;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixtures::*;

#[wasm_bindgen_test]
fn a_web_login_saves_itself_at_the_callback_boundary_and_resumes_after_a_page_load() {
    let mut drive = Drive::new("login", &web_login(), routes(tokens("at-1", "rt-1", 3600)));
    assert_eq!(drive.run(), None, "waiting for the callback");
    let url = drive.authorize_url();
    assert_eq!(url.path(), "/authorize");
    let pending = format!(
        "pending#{}",
        url.query_pairs().find(|(k, _)| k == "state").unwrap().1
    );
    assert!(
        drive.store.contains_key(&pending),
        "{:?}",
        drive.store.keys()
    );
    assert!(drive.store.contains_key(&format!("client#{ISSUER}#code")));
    // Every request went out without following redirects, each with the core's deadline.
    assert!(
        drive
            .sent
            .iter()
            .all(|t| t["followRedirects"] == false && t["timeoutMs"] == 30_000)
    );
    assert_eq!(drive.sent[0]["url"], SERVER, "the probe comes first");

    // The page unloads; the redirect URI's page finds the login by the callback's state.
    machine_free(drive.handle);
    let callback = callback(&url, None);
    let key = parse(&pending_key_for_callback(&callback))["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(key, pending);
    let record = drive.store[&key].clone();
    drive.start("resume", &json!({"key": key, "record": record}));
    assert_eq!(
        drive.input(json!({"kind": "callback", "url": callback})),
        json!({"belongs": true})
    );
    let done = drive.run().expect("done");
    let grant = &done["ok"]["grant"];
    assert_eq!(grant["tokens"]["access_token"], "at-1");
    assert_eq!(grant["issuer"], ISSUER);
    let exchange = drive.sent.last().unwrap();
    assert_eq!(exchange["url"], TOKEN_URL);
    assert!(
        exchange["body"]
            .as_str()
            .unwrap()
            .contains("code_verifier=")
    );
    assert!(
        !drive.store.contains_key(&pending),
        "the pending login is used up"
    );
    assert!(drive.store.contains_key(&format!("grant#{SERVER}")));
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_callback_with_another_state_is_ignored_and_the_login_goes_on() {
    let mut drive = Drive::new("login", &web_login(), routes(tokens("at-1", "rt-1", 3600)));
    drive.run();
    let url = drive.authorize_url();
    let forged = callback(&url, Some("forged"));
    assert_eq!(
        drive.input(json!({"kind": "callback", "url": forged})),
        json!({"belongs": false})
    );
    assert_eq!(drive.run(), None, "still waiting");
    assert_eq!(drive.seen("foreign_callback").len(), 1);
    drive.input(json!({"kind": "callback", "url": callback(&url, None)}));
    assert!(drive.run().unwrap().get("ok").is_some());
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_loopback_login_asks_for_a_listener_and_registers_its_redirect_uri() {
    let config = json!({"server": SERVER, "redirect": {"kind": "loopback"}});
    let mut drive = Drive::new("login", &config, routes(tokens("at-1", "rt-1", 3600)));
    assert_eq!(drive.run(), None);
    let listen = drive.seen("listen")[0].clone();
    assert_eq!(
        listen,
        json!({"kind": "listen", "port": null, "required": false, "path": "/callback"})
    );
    drive.input(json!({"kind": "redirect_uri", "uri": "http://127.0.0.1:4567/callback"}));
    assert_eq!(drive.run(), None);
    let registration = drive
        .sent
        .iter()
        .find(|t| t["url"] == REGISTER_URL)
        .unwrap();
    let body = parse(registration["body"].as_str().unwrap());
    assert_eq!(
        body["redirect_uris"],
        json!(["http://127.0.0.1:4567/callback"])
    );
    assert_eq!(
        drive
            .authorize_url()
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .unwrap()
            .1,
        "http://127.0.0.1:4567/callback"
    );
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn an_aborted_web_login_forgets_its_pending_record() {
    let mut drive = Drive::new("login", &web_login(), routes(tokens("at-1", "rt-1", 3600)));
    drive.run();
    assert_eq!(
        drive
            .store
            .keys()
            .filter(|k| k.starts_with("pending#"))
            .count(),
        1
    );
    drive.input(json!({"kind": "abort"}));
    let done = drive.run().unwrap();
    assert_eq!(done["error"]["code"], "ABORTED");
    assert_eq!(
        drive
            .store
            .keys()
            .filter(|k| k.starts_with("pending#"))
            .count(),
        0
    );
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_token_near_expiry_is_refreshed_under_the_lock_and_saved_before_done() {
    let mut drive = logged_in(10);
    drive.now += 6000.0; // 4 s left: inside the margin of a 10 s token (half its lifetime)
    drive.routes = routes(tokens("at-2", "rt-2", 3600));
    drive.events.clear();
    drive.start("access", &json!({"server": SERVER}));
    let done = drive.run().unwrap();
    assert_eq!(done["ok"]["tokens"]["access_token"], "at-2");
    let kinds: Vec<_> = drive
        .events
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["load", "lock", "load", "save", "done"]);
    let refresh = drive.sent.last().unwrap();
    assert!(
        refresh["body"]
            .as_str()
            .unwrap()
            .contains("refresh_token=rt-1")
    );
    assert!(drive.store[&format!("grant#{SERVER}")].contains("at-2"));
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_refresh_that_gets_no_answer_times_out_at_the_deadline_the_drain_gave() {
    let mut drive = logged_in(10);
    drive.start(
        "access",
        &json!({"server": SERVER, "rejected": "at-1", "requestTimeoutMs": 5000}),
    );
    // Answer nothing: drain by hand after the load and the lock.
    let load = parse(&machine_drain(drive.handle, drive.now));
    let key = load["events"][0]["key"].as_str().unwrap().to_owned();
    let record = drive.store[&key].clone();
    drive.input(json!({"kind": "loaded", "key": key, "record": record}));
    parse(&machine_drain(drive.handle, drive.now));
    drive.input(json!({"kind": "locked"}));
    parse(&machine_drain(drive.handle, drive.now));
    drive.input(json!({"kind": "loaded", "key": key, "record": record}));
    let refresh = parse(&machine_drain(drive.handle, drive.now));
    assert_eq!(refresh["transmits"][0]["timeoutMs"], 5000);
    assert_eq!(refresh["timeout"].as_f64(), Some(NOW + 5000.0));
    drive.now = NOW + 5000.0;
    drive.input(json!({"kind": "timeout"}));
    let done = parse(&machine_drain(drive.handle, drive.now));
    assert_eq!(done["events"][0]["error"]["code"], "TIMEOUT");
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn logout_deletes_the_grant_then_revokes_it() {
    let mut drive = logged_in(3600);
    drive.start("logout", &json!({"server": SERVER}));
    let done = drive.run().unwrap();
    assert_eq!(done["ok"], json!({"revoked": true}));
    assert!(!drive.store.contains_key(&format!("grant#{SERVER}")));
    let revoke = drive.sent.last().unwrap();
    assert_eq!(revoke["url"], REVOKE_URL);
    assert!(revoke["body"].as_str().unwrap().contains("token=rt-1"));
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn discovery_is_a_machine_like_the_others() {
    let mut drive = Drive::new("discover", &json!({"server": SERVER}), routes(json!({})));
    let done = drive.run().unwrap();
    assert_eq!(done["ok"]["issuer"], ISSUER);
    assert_eq!(done["ok"]["metadata"]["token_endpoint"], TOKEN_URL);
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_workload_login_asks_for_its_credential_and_its_token_request_carries_a_proof_dated_at_the_drain()
 {
    let key = json!({
        "jwk": {"crv": "P-256", "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs", "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"},
        "private": {"kind": "stored", "id": "key-1"},
    });
    let config = json!({
        "server": SERVER,
        "grant": {"kind": "jwt_bearer", "assertion": {"kind": "env", "name": "WORKLOAD_TOKEN"}},
        "preregistered": [{"clientId": "workload"}],
        "dpop": true,
        "dpopKey": key,
    });
    let mut drive = Drive::new("login", &config, routes(tokens("at-1", "rt-1", 3600)));
    assert_eq!(drive.run(), None, "the login waits for its credential");
    let asked = drive.seen("credential");
    assert_eq!(
        asked.last().unwrap()["source"],
        json!({"kind": "env", "name": "WORKLOAD_TOKEN"})
    );
    drive.now += 1000.0;
    drive.input(json!({"kind": "credential", "value": " workload.jwt.value \n"}));
    drive.run();
    let token = drive
        .sent
        .iter()
        .find(|t| t["url"] == TOKEN_URL)
        .expect("a token request");
    assert!(
        token["body"]
            .as_str()
            .unwrap()
            .contains("assertion=workload.jwt.value")
    );
    let signings = token["signings"].as_array().unwrap();
    assert_eq!(signings.len(), 1, "one DPoP proof");
    let proof = &signings[0];
    assert_eq!(
        proof["key"],
        json!({"kind": "dpop", "key": {"kind": "stored", "id": "key-1"}})
    );
    assert_eq!(proof["alg"], "ES256");
    assert_eq!(proof["place"], json!({"kind": "header", "name": "dpop"}));
    let claims = proof["input"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&b64url_decode(claims)).unwrap();
    assert_eq!(claims["htu"], TOKEN_URL);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(
        claims["iat"],
        json!((NOW / 1000.0) as u64 + 1),
        "dated at the drain"
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 22, "16 random bytes");
    machine_free(drive.handle);
}

#[wasm_bindgen_test]
fn a_credential_that_cannot_be_read_ends_the_login_with_credential_unavailable() {
    let config = json!({
        "server": SERVER,
        "grant": {"kind": "jwt_bearer", "assertion": {"kind": "file", "path": "/no/such/token"}},
        "preregistered": [{"clientId": "workload"}],
    });
    let mut drive = Drive::new("login", &config, routes(tokens("at-1", "rt-1", 3600)));
    assert_eq!(drive.run(), None);
    drive.input(json!({"kind": "credential", "error": "cannot read /no/such/token (ENOENT)"}));
    let done = drive.run().unwrap();
    assert_eq!(done["error"]["code"], "CREDENTIAL_UNAVAILABLE");
    assert!(
        done["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/token")
    );
    machine_free(drive.handle);
}

/// base64url without padding, decoded.
fn b64url_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}
