//! The server's one clock: the system clock plus an offset that tests move forward.
//!
//! Every lifetime the server enforces (codes, access and refresh tokens, device codes, the
//! device poll interval) and every time it states (`iat`, `client_id_issued_at`) reads this
//! clock, so a test can make an hour pass without sleeping. Real time keeps running
//! underneath, so a server nobody advances behaves like one on the system clock. The offset
//! only grows: records hold instants from this clock, and a clock that went back would
//! revive what already expired.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The most the clock can be advanced in total: far beyond every lifetime the server knows,
/// and small enough that adding it to an `Instant` or `SystemTime` cannot overflow.
pub const MAX_CLOCK_ADVANCE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + ttl`, with `ttl` cut to [`MAX_CLOCK_ADVANCE`] so that a huge configured lifetime
/// cannot overflow the deadline; such a lifetime outlives every test anyway.
pub(crate) fn deadline(now: Instant, ttl: Duration) -> Instant {
    // After the cut this cannot overflow; falling back to `now` only avoids a panic.
    now.checked_add(ttl.min(MAX_CLOCK_ADVANCE)).unwrap_or(now)
}

/// System time plus an offset.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server's monotonic now, for deadlines.
    pub fn now(&self) -> Instant {
        let base = Instant::now();
        // MAX_CLOCK_ADVANCE keeps this from overflowing; the fallback only avoids a panic.
        base.checked_add(self.offset()).unwrap_or(base)
    }

    /// The server's wall-clock now, for times it states.
    pub fn system_now(&self) -> SystemTime {
        let base = SystemTime::now();
        base.checked_add(self.offset()).unwrap_or(base)
    }

    /// Whole seconds since the Unix epoch, as the server sees them.
    pub fn unix_secs(&self) -> u64 {
        self.since_epoch().as_secs()
    }

    /// Milliseconds since the Unix epoch, as the server sees them.
    pub fn unix_millis(&self) -> u64 {
        u64::try_from(self.since_epoch().as_millis()).unwrap_or(u64::MAX)
    }

    fn since_epoch(&self) -> Duration {
        self.system_now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }

    /// Whole seconds since the Unix epoch on the system clock, without the offset, and on
    /// the server's clock: the two readings a time a client states (a proof's `iat`, an
    /// assertion's `exp`) may be judged against. The client's clock never moved with the
    /// server's, so a test that advanced the server's clock to expire a token must still see
    /// the client's fresh proofs accepted.
    pub fn unix_secs_both(&self) -> [u64; 2] {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        [real, self.unix_secs()]
    }

    /// Move the clock forward by `by`, in total at most [`MAX_CLOCK_ADVANCE`].
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset = offset.saturating_add(by).min(MAX_CLOCK_ADVANCE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_both_clocks_and_saturates() {
        let clock = Clock::default();
        let (before, before_ms) = (clock.now(), clock.unix_millis());
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now().duration_since(before) >= Duration::from_secs(3600));
        assert!(clock.unix_millis() - before_ms >= 3_600_000);
        clock.advance(Duration::MAX);
        assert_eq!(clock.offset(), MAX_CLOCK_ADVANCE);
        assert!(clock.now() > before);
    }
}
