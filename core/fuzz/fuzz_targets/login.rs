//! The login machine (`flow::Login`) on an arbitrary script: responses (plausible, mutated,
//! fixture or raw), transport failures, late answers, time steps, callbacks and aborts, from
//! the stored registrations a previous login left. It must never panic, and once the script
//! ends it must end with `Done` within a bounded number of rounds while every request fails
//! and every timeout fires (see `Driver::run`).
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mcpauth_core::flow::Login;
use mcpauth_core_fuzz::{Driver, START, logged_in, login_config};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let device = u.arbitrary::<bool>().unwrap_or(false);
    let warm = u.arbitrary::<bool>().unwrap_or(false);
    let mut config = login_config(device);
    config.probe = u.arbitrary::<bool>().unwrap_or(true);
    if u.arbitrary::<bool>().unwrap_or(false) {
        config.scope = u.arbitrary::<Option<String>>().unwrap_or(None);
    }
    let mut entropy = |b: &mut [u8]| b.fill(7);
    let Ok(mut login) = Login::new(config, START, &mut entropy) else {
        return;
    };
    let store = if warm {
        logged_in().0.clone()
    } else {
        BTreeMap::new()
    };
    let _ = Driver::new(START, store).run(&mut login, &mut u);
});
