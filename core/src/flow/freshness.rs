//! How long a response may be reused without asking its server again, as a private cache
//! (one user's store) reads the response's caching headers (RFC 9111 §4.2).
//!
//! - `Cache-Control: no-store`: never kept (§5.2.2.5). `no-cache` (with or without field
//!   names): kept only if revalidated before each use (§5.2.2.4); this cache does not
//!   revalidate, so it does not keep such a response at all.
//! - `max-age` gives the lifetime (§5.2.2.1); `s-maxage` is for shared caches only and is
//!   ignored (§5.2.2.10); `private` and `public` allow this cache to keep the response.
//! - Otherwise `Expires` minus `Date` (§4.2.1), with the time of receipt standing in for a
//!   missing `Date`. An `Expires` that is not a valid date (such as `0`) means "already
//!   expired" (§5.3).
//! - The age already spent is taken off (§4.2.3): the larger of `Age` and the time since
//!   `Date`.
//! - Invalid freshness information (`max-age=soon`, a negative number) makes the response
//!   stale (§4.2.1 encourages it); where a directive appears twice, the first one counts;
//!   where directives conflict, the most restrictive wins.
//! - **No freshness information at all: not kept.** RFC 9111 §4.2.2 lets a cache pick a
//!   heuristic lifetime, but does not require one. A server that states nothing has promised
//!   nothing, and a discovery result pins the choice of authorization server and endpoints;
//!   guessing a lifetime would let a login use metadata the server has already changed.
//! - A lifetime is never longer than [`MAX_LIFETIME`]: a cache may always evict early, and a
//!   day bounds what a wrong `max-age` of a year can cost.
//!
//! Only IMF-fixdate dates (`Sun, 06 Nov 1994 08:49:37 GMT`, what every current server sends)
//! are read; the two obsolete formats count as invalid.

use std::time::Duration;

use crate::time::Time;

/// The longest any response is kept, whatever its headers say.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a response with these `headers`, received at `now`, stays fresh from `now` on:
/// `None` when it must not be kept or reused (no-store, no-cache, no freshness information,
/// already stale).
#[must_use]
pub fn fresh_for(headers: &[(String, String)], now: Time) -> Option<Duration> {
    let directives = CacheControl::parse(values(headers, "cache-control"));
    if directives.no_store || directives.no_cache {
        return None;
    }
    let date = first(headers, "date").and_then(parse_http_date);
    let lifetime = match directives.max_age {
        MaxAge::Valid(secs) => Duration::from_secs(secs),
        MaxAge::Invalid => return None,
        MaxAge::Absent => {
            let expires = first(headers, "expires")?;
            let expires = parse_http_date(expires)?;
            let from = date.unwrap_or(now);
            from.until(expires)
        }
    };
    let apparent_age = date.map_or(Duration::ZERO, |date| date.until(now));
    let age = match first(headers, "age") {
        Some(value) => Duration::from_secs(delta_seconds(value)?),
        None => Duration::ZERO,
    };
    let spent = apparent_age.max(age);
    let left = lifetime.checked_sub(spent)?.min(MAX_LIFETIME);
    (!left.is_zero()).then_some(left)
}

/// Every value of header `name`, in order.
fn values<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn first<'a>(headers: &'a [(String, String)], name: &'a str) -> Option<&'a str> {
    values(headers, name).next()
}

/// A `max-age` directive as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MaxAge {
    Absent,
    Valid(u64),
    Invalid,
}

/// The directives of the `Cache-Control` header lines of one response that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CacheControl {
    no_store: bool,
    no_cache: bool,
    max_age: MaxAge,
}

impl CacheControl {
    /// Reads `directive[=token|"quoted"]` lists, split on commas outside quotes (RFC 9111
    /// §5.2). Unknown directives are ignored; names are case-insensitive.
    fn parse<'a>(lines: impl Iterator<Item = &'a str>) -> Self {
        let mut this = Self {
            no_store: false,
            no_cache: false,
            max_age: MaxAge::Absent,
        };
        for line in lines {
            for directive in split_outside_quotes(line) {
                let (name, value) = match directive.split_once('=') {
                    Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
                    None => (directive.trim(), None),
                };
                if name.eq_ignore_ascii_case("no-store") {
                    this.no_store = true;
                } else if name.eq_ignore_ascii_case("no-cache") {
                    this.no_cache = true;
                } else if name.eq_ignore_ascii_case("max-age") && this.max_age == MaxAge::Absent {
                    this.max_age = match value.and_then(delta_seconds) {
                        Some(secs) => MaxAge::Valid(secs),
                        None => MaxAge::Invalid,
                    };
                }
            }
        }
        this
    }
}

/// The comma-separated items of `line`, where commas inside a quoted string do not count.
fn split_outside_quotes(line: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.extend(line.get(start..i));
                start = i + 1;
            }
            _ => {}
        }
    }
    items.extend(line.get(start..));
    items.retain(|item| !item.trim().is_empty());
    items
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Non-negative whole seconds (RFC 9111 §1.2.2): digits only; a number too large for the
/// clock saturates rather than being refused.
fn delta_seconds(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse().unwrap_or(u64::MAX))
}

/// An IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<Time> {
    let value = value.trim();
    let (weekday, rest) = value.split_once(", ")?;
    if weekday.len() != 3 {
        return None;
    }
    let mut parts = rest.split(' ');
    let day = two_digits(parts.next()?)?;
    let month = month_number(parts.next()?)?;
    let year: u64 = parts
        .next()
        .filter(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()?;
    let mut clock = parts.next()?.split(':');
    let hour = two_digits(clock.next()?)?;
    let minute = two_digits(clock.next()?)?;
    let second = two_digits(clock.next()?)?;
    if parts.next()? != "GMT"
        || parts.next().is_some()
        || clock.next().is_some()
        || year < 1970
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    Some(Time::from_unix_secs(
        days * 86_400 + hour * 3_600 + minute * 60 + second,
    ))
}

fn two_digits(text: &str) -> Option<u64> {
    (text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn month_number(name: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let index = MONTHS.iter().position(|m| *m == name)?;
    u64::try_from(index + 1).ok()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, for years from 1970
/// (H. Hinnant's `days_from_civil`, unsigned since the year is at least 1970).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-12-03 12:00:00 UTC.
    const NOW: Time = Time::from_unix_secs(1_796_299_200);
    const NOW_DATE: &str = "Thu, 03 Dec 2026 12:00:00 GMT";

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fresh(list: &[(&str, &str)]) -> Option<u64> {
        fresh_for(&headers(list), NOW).map(|d| d.as_secs())
    }

    #[test]
    fn http_dates_are_read_as_imf_fixdate() {
        assert_eq!(parse_http_date(NOW_DATE), Some(NOW));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Time::from_unix_secs(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(Time::from_unix_secs(1_709_164_800))
        );
        for obsolete in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "0",
            "-1",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(obsolete), None, "{obsolete}");
        }
    }

    #[test]
    fn max_age_gives_the_lifetime_and_s_maxage_is_ignored() {
        assert_eq!(fresh(&[("cache-control", "max-age=600")]), Some(600));
        assert_eq!(
            fresh(&[("Cache-Control", "public, S-MAXAGE=5, Max-Age=\"600\"")]),
            Some(600)
        );
        assert_eq!(fresh(&[("cache-control", "private, max-age=60")]), Some(60));
        assert_eq!(fresh(&[("cache-control", "s-maxage=600")]), None);
    }

    #[test]
    fn no_store_and_no_cache_are_never_kept() {
        assert_eq!(fresh(&[("cache-control", "no-store, max-age=600")]), None);
        assert_eq!(fresh(&[("cache-control", "max-age=600, no-cache")]), None);
        assert_eq!(
            fresh(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "no-cache=\"set-cookie, x-a\"")
            ]),
            None
        );
    }

    #[test]
    fn max_age_zero_and_invalid_max_age_are_stale() {
        assert_eq!(fresh(&[("cache-control", "max-age=0")]), None);
        assert_eq!(fresh(&[("cache-control", "max-age=soon")]), None);
        assert_eq!(fresh(&[("cache-control", "max-age=-5")]), None);
        assert_eq!(fresh(&[("cache-control", "max-age")]), None);
        assert_eq!(
            fresh(&[("cache-control", "max-age=60, max-age=6000")]),
            Some(60),
            "the first occurrence counts"
        );
    }

    #[test]
    fn no_freshness_information_is_not_kept() {
        assert_eq!(fresh(&[]), None);
        assert_eq!(fresh(&[("date", NOW_DATE), ("etag", "\"x\"")]), None);
        assert_eq!(fresh(&[("cache-control", "public")]), None);
    }

    #[test]
    fn expires_counts_from_date_when_there_is_no_max_age() {
        let list = [
            ("date", NOW_DATE),
            ("expires", "Thu, 03 Dec 2026 12:10:00 GMT"),
        ];
        assert_eq!(fresh(&list), Some(600));
        // Without Date, from the time of receipt.
        assert_eq!(
            fresh(&[("expires", "Thu, 03 Dec 2026 12:05:00 GMT")]),
            Some(300)
        );
        // max-age wins over Expires.
        assert_eq!(
            fresh(&[
                ("expires", "Thu, 03 Dec 2026 12:05:00 GMT"),
                ("cache-control", "max-age=30")
            ]),
            Some(30)
        );
        // An invalid or past Expires is already stale.
        assert_eq!(fresh(&[("expires", "0")]), None);
        assert_eq!(
            fresh(&[
                ("date", NOW_DATE),
                ("expires", "Thu, 03 Dec 2026 11:00:00 GMT")
            ]),
            None
        );
    }

    #[test]
    fn the_age_already_spent_is_taken_off() {
        assert_eq!(
            fresh(&[("cache-control", "max-age=600"), ("age", "100")]),
            Some(500)
        );
        assert_eq!(
            fresh(&[("cache-control", "max-age=600"), ("age", "600")]),
            None
        );
        // A Date two minutes old is an apparent age of 120 s, larger than Age.
        assert_eq!(
            fresh(&[
                ("cache-control", "max-age=600"),
                ("date", "Thu, 03 Dec 2026 11:58:00 GMT"),
                ("age", "30")
            ]),
            Some(480)
        );
        // An unreadable Age is invalid freshness information.
        assert_eq!(
            fresh(&[("cache-control", "max-age=600"), ("age", "old")]),
            None
        );
    }

    #[test]
    fn a_lifetime_is_at_most_a_day() {
        assert_eq!(
            fresh(&[("cache-control", "max-age=31536000")]),
            Some(MAX_LIFETIME.as_secs())
        );
        assert_eq!(
            fresh(&[("cache-control", "max-age=99999999999999999999999")]),
            Some(MAX_LIFETIME.as_secs())
        );
    }

    #[test]
    fn commas_inside_quotes_do_not_split_directives() {
        assert_eq!(
            split_outside_quotes(r#"a="x, \"y\", z", max-age=5,,"#),
            vec![r#"a="x, \"y\", z""#, " max-age=5"]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_caching_headers_never_panic(
            cache_control in ".{0,80}",
            expires in ".{0,40}",
            date in ".{0,40}",
            age in ".{0,20}",
            now in any::<u64>(),
        ) {
            let list = headers(&[
                ("cache-control", cache_control.as_str()),
                ("expires", expires.as_str()),
                ("date", date.as_str()),
                ("age", age.as_str()),
            ]);
            let now = Time::from_unix_millis(now);
            if let Some(left) = fresh_for(&list, now) {
                prop_assert!(left <= MAX_LIFETIME && !left.is_zero());
            }
        }

        #[test]
        fn any_imf_fixdate_shaped_text_parses_without_panic(
            weekday in "[A-Za-z]{3}",
            day in 0u64..100,
            month in "[A-Za-z]{3}",
            year in 0u64..100_000,
            h in 0u64..100, m in 0u64..100, s in 0u64..100,
        ) {
            let text = format!("{weekday}, {day:02} {month} {year:04} {h:02}:{m:02}:{s:02} GMT");
            let _ = parse_http_date(&text);
        }
    }
}
