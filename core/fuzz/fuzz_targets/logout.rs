//! The logout machine (`flow::Logout`: delete the grant, revoke its tokens) on an arbitrary
//! script, from the grant a plausible login stored. Checked as the login target is (see
//! `Driver::run`).
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mcpauth_core::flow::Logout;
use mcpauth_core::{Policy, ResourceUri};
use mcpauth_core_fuzz::{Driver, MCP, START, logged_in};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let revoke = u.arbitrary::<bool>().unwrap_or(true);
    let Ok(server) = ResourceUri::parse(MCP) else {
        return;
    };
    let mut logout = Logout::new(server, revoke, Policy::default());
    let _ = Driver::new(START, logged_in().0.clone()).run(&mut logout, &mut u);
});
