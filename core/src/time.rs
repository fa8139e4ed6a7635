//! Time as an input: every entry point that needs the time takes a [`Time`] from the caller.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in wall-clock time, in milliseconds since the Unix epoch.
///
/// Milliseconds match JavaScript's `Date.now()`; drivers convert from their clock once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(transparent)]
pub struct Time(u64);

impl Time {
    /// From milliseconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// From seconds since the Unix epoch.
    #[must_use]
    pub const fn from_unix_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    #[must_use]
    pub const fn unix_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (JWT `iat` and `exp`, RFC 7519 NumericDate).
    #[must_use]
    pub const fn unix_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This time plus `d`, saturating (a named method rather than `ops::Add`, whose
    /// contract is to panic on overflow).
    #[must_use]
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// This time minus `d`, saturating at the epoch.
    #[must_use]
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// How long from `self` until `later`; zero if `later` is not after `self`.
    #[must_use]
    pub fn until(self, later: Time) -> Duration {
        Duration::from_millis(later.0.saturating_sub(self.0))
    }
}

impl From<std::time::SystemTime> for Time {
    /// Converts a clock reading; times before the epoch become the epoch.
    fn from(t: std::time::SystemTime) -> Self {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Self(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Time::from_unix_secs(10);
        assert_eq!(t.add(Duration::from_secs(5)), Time::from_unix_secs(15));
        assert_eq!(t.sub(Duration::from_secs(50)), Time::from_unix_millis(0));
        assert_eq!(
            Time::from_unix_millis(u64::MAX)
                .add(Duration::MAX)
                .unix_millis(),
            u64::MAX
        );
        assert_eq!(t.until(Time::from_unix_secs(4)), Duration::ZERO);
        assert_eq!(t.until(Time::from_unix_secs(12)), Duration::from_secs(2));
    }
}
