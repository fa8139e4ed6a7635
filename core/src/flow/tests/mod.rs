//! The flow machines end to end, on fake time, against a fake authorization server
//! ([`fake`]): no sockets, no sleeps.

mod discovery_cache;
mod fake;
mod fake_machine;
mod machine;
mod scenarios;
