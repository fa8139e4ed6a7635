//! The access machine (`flow::Access`: the stored grant, refreshed single-flight) on an
//! arbitrary script, from the grant a plausible login stored, at an arbitrary time (often
//! past the token's expiry, so that it refreshes), sometimes with the token the server just
//! rejected. Checked as the login target is (see `Driver::run`).
#![no_main]

use std::time::Duration;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mcpauth_core::flow::Access;
use mcpauth_core::{AccessToken, Policy, ResourceUri};
use mcpauth_core_fuzz::{Driver, MCP, START, logged_in};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (store, grant) = logged_in();
    let later = u.arbitrary::<u16>().unwrap_or(0);
    let now = START.add(Duration::from_secs(u64::from(later)));
    let rejected = match u.arbitrary::<u8>().unwrap_or(0) % 3 {
        0 => None,
        1 => Some(grant.tokens.access_token.clone()),
        _ => Some(AccessToken::new("another")),
    };
    let Ok(server) = ResourceUri::parse(MCP) else {
        return;
    };
    let mut access = Access::new(server, rejected, Policy::default());
    let _ = Driver::new(now, store.clone()).run(&mut access, &mut u);
});
