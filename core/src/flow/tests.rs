//! Scenario tests of the flow machines on fake time, in `tests/`.
