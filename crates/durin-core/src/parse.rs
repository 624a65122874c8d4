//! Parsers for the human-facing configuration values: throttle rates and token lifetimes.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configuration value that could not be parsed; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    message: String,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }
}

/// A throttle rate: `count` requests per `period`.
///
/// Parsed from `"N/s"`, `"N/m"`, `"N/h"`, `"N/d"` and the long forms (`"100/minute"`,
/// `"5/hours"`, `"10/sec"`). A rate `N/period` admits a burst of `N` back-to-back
/// requests, then frees capacity at `N` per period (GCRA), as django-rest-durin's
/// `UserClientRateThrottle` does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: NonZeroU32,
    period: Duration,
}

impl Rate {
    /// `count` requests per `period`.
    ///
    /// # Errors
    /// When `count` is zero or `period` is shorter than a millisecond.
    pub fn new(count: u32, period: Duration) -> Result<Self, ParseError> {
        let count = NonZeroU32::new(count)
            .ok_or_else(|| ParseError::new("a throttle rate must allow at least 1 request"))?;
        if period < Duration::from_millis(1) {
            return Err(ParseError::new("a throttle period must be at least 1ms"));
        }
        Ok(Rate { count, period })
    }

    /// How many requests a period admits (also the burst size).
    pub fn count(&self) -> NonZeroU32 {
        self.count
    }

    /// The period over which `count` requests are admitted.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The steady-state spacing between two admitted requests (`period / count`).
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count.get()
    }
}

impl FromStr for Rate {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const ACCEPTED: &str = "expected N/PERIOD with N a positive whole number and PERIOD \
                                one of s, m, h, d (or second, minute, hour, day), e.g. 100/m";
        let (count, unit) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| ParseError::new(format!("invalid throttle rate {s:?}: {ACCEPTED}")))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| ParseError::new(format!("invalid throttle rate {s:?}: {ACCEPTED}")))?;
        let period = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "mins" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hr" | "hrs" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86_400),
            _ => {
                return Err(ParseError::new(format!(
                    "invalid throttle rate {s:?}: {ACCEPTED}"
                )));
            }
        };
        if count == 0 {
            return Err(ParseError::new(format!(
                "invalid throttle rate {s:?}: a rate must allow at least 1 request"
            )));
        }
        Rate::new(count, period)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_millis() {
            1_000 => "s",
            60_000 => "m",
            3_600_000 => "h",
            86_400_000 => "d",
            _ => return write!(f, "{}/{}ms", self.count, self.period.as_millis()),
        };
        write!(f, "{}/{}", self.count, unit)
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rate({self})")
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        parse_rate_any(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses the `Display` form of a rate, including the `N/Xms` form for odd periods.
fn parse_rate_any(s: &str) -> Result<Rate, ParseError> {
    if let Some((count, rest)) = s.split_once('/')
        && let Some(ms) = rest.strip_suffix("ms")
        && let (Ok(count), Ok(ms)) = (count.parse::<u32>(), ms.parse::<u64>())
    {
        return Rate::new(count, Duration::from_millis(ms));
    }
    s.parse()
}

/// Parses a token lifetime: `None` means "never expires".
///
/// Accepted: a positive whole number with a unit (`30s`, `15m`, `10h`, `7d`, `2w`; a bare
/// number is seconds), `never`, and django-rest-durin's Django duration form
/// `"DD HH:MM:SS"` / `"HH:MM:SS"` (e.g. `"1 00:00:00"` for one day).
///
/// # Errors
/// Zero and negative lifetimes are refused (a token that is born expired is a
/// configuration mistake), as is anything else that is not one of the forms above.
pub fn parse_ttl(s: &str) -> Result<Option<Duration>, ParseError> {
    let trimmed = s.trim();
    if trimmed.eq_ignore_ascii_case("never") || trimmed.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    parse_duration(trimmed).map(Some)
}

/// Parses a positive duration in the forms of [`parse_ttl`], without `never`.
///
/// # Errors
/// See [`parse_ttl`].
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    const ACCEPTED: &str = "expected a positive whole number with a unit (30s, 15m, 10h, 7d, 2w, 500ms), \
                            \"never\", or \"DD HH:MM:SS\"";
    let s = s.trim();
    if s.starts_with('-') {
        return Err(ParseError::new(format!(
            "invalid duration {s:?}: a lifetime must be positive, not negative"
        )));
    }
    let duration = if s.contains(':') {
        parse_django_duration(s)
            .ok_or_else(|| ParseError::new(format!("invalid duration {s:?}: {ACCEPTED}")))?
    } else {
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| ParseError::new(format!("invalid duration {s:?}: {ACCEPTED}")))?;
        let unit = unit.trim().to_ascii_lowercase();
        if unit == "ms" {
            return check_range(s, Duration::from_millis(n));
        }
        let unit_secs = match unit.as_str() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => {
                return Err(ParseError::new(format!(
                    "invalid duration {s:?}: {ACCEPTED}"
                )));
            }
        };
        Duration::from_secs(
            n.checked_mul(unit_secs)
                .ok_or_else(|| ParseError::new(format!("invalid duration {s:?}: too large")))?,
        )
    };
    check_range(s, duration)
}

/// The longest lifetime accepted: 100 years (longer is "never").
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

fn check_range(s: &str, duration: Duration) -> Result<Duration, ParseError> {
    if duration.is_zero() {
        return Err(ParseError::new(format!(
            "invalid duration {s:?}: a lifetime must be positive; use \"never\" for tokens \
             that do not expire"
        )));
    }
    if duration > MAX_DURATION {
        return Err(ParseError::new(format!(
            "invalid duration {s:?}: longer than 100 years; use \"never\" for tokens that do \
             not expire"
        )));
    }
    Ok(duration)
}

/// `"[DD ]HH:MM:SS[.ffffff]"`, Django's `DurationField` text form.
fn parse_django_duration(s: &str) -> Option<Duration> {
    let (days, clock) = match s.split_once(' ') {
        Some((days, clock)) => (days.trim().parse::<u64>().ok()?, clock.trim()),
        None => (0, s),
    };
    let mut parts = clock.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || minutes >= 60 || !(0.0..60.0).contains(&seconds) {
        return None;
    }
    let whole = days
        .checked_mul(86_400)?
        .checked_add(hours.checked_mul(3600)?)?
        .checked_add(minutes * 60)?;
    // Whole milliseconds: the precision every store keeps.
    let millis = (seconds * 1000.0).floor() as u64;
    Some(Duration::from_secs(whole) + Duration::from_millis(millis))
}

/// Renders a lifetime in the short form [`parse_ttl`] accepts (`30s`, `10h`, `never`).
pub fn format_ttl(ttl: Option<Duration>) -> String {
    match ttl {
        None => "never".to_owned(),
        Some(d) => format_duration(d),
    }
}

/// Renders a duration in the largest whole unit that divides it (`7d`, `90m`, `1500ms`).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ttl(input: &str, expected: Option<u64>) {
        assert_eq!(
            parse_ttl(input).unwrap(),
            expected.map(Duration::from_secs),
            "{input}"
        );
    }

    #[track_caller]
    fn ttl_err(input: &str, fragment: &str) {
        let err = parse_ttl(input).unwrap_err().to_string();
        assert!(err.contains(fragment), "{input}: {err}");
    }

    #[test]
    fn parses_ttls() {
        ttl("30s", Some(30));
        ttl("15m", Some(900));
        ttl("10h", Some(36_000));
        ttl("7d", Some(604_800));
        ttl("2w", Some(1_209_600));
        ttl("90", Some(90));
        ttl("never", None);
        ttl("NEVER", None);
        ttl("1 00:00:00", Some(86_400));
        ttl("10:00:00", Some(36_000));
        ttl("2 01:02:03", Some(2 * 86_400 + 3723));
        assert_eq!(
            parse_ttl("1500ms").unwrap(),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn refuses_bad_ttls_with_reasons() {
        ttl_err("0s", "must be positive");
        ttl_err("00:00:00", "must be positive");
        ttl_err("-5m", "negative");
        ttl_err("5 parsecs", "expected");
        ttl_err("", "expected");
        ttl_err("1:99:00", "expected");
        ttl_err("0:00:00.0001", "must be positive");
        ttl_err("0ms", "must be positive");
        ttl_err("101y", "expected");
        ttl_err("40000d", "100 years");
        // Found by the fuzzer: a huge Django-form duration no longer overflows on render.
        ttl_err("\n \n 0010000000000088  1:11:.55  ", "100 years");
    }

    #[track_caller]
    fn rate(input: &str, count: u32, secs: u64) {
        let r: Rate = input.parse().unwrap();
        assert_eq!(
            (r.count().get(), r.period()),
            (count, Duration::from_secs(secs))
        );
    }

    #[test]
    fn parses_rates() {
        rate("5/m", 5, 60);
        rate("100/minute", 100, 60);
        rate("2/s", 2, 1);
        rate("10/hour", 10, 3600);
        rate("1000/d", 1000, 86_400);
        rate(" 3 / sec ", 3, 1);
    }

    #[test]
    fn refuses_bad_rates() {
        for bad in ["0/m", "5", "x/m", "5/fortnight", "-1/s", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert!(
            "0/m"
                .parse::<Rate>()
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
    }

    #[test]
    fn rates_round_trip_through_display_and_serde() {
        for s in ["5/m", "100/h", "1/s", "7/d"] {
            let r: Rate = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Rate>(&json).unwrap(), r);
        }
        let odd = Rate::new(3, Duration::from_millis(1500)).unwrap();
        assert_eq!(parse_rate_any(&odd.to_string()).unwrap(), odd);
    }

    #[test]
    fn formats_ttls_in_the_accepted_form() {
        for s in ["30s", "15m", "10h", "1d", "2w", "1500ms", "never"] {
            assert_eq!(format_ttl(parse_ttl(s).unwrap()), s);
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_positive_millisecond_duration_round_trips(ms in 1u64..=MAX_DURATION.as_millis() as u64) {
                let d = Duration::from_millis(ms);
                prop_assert_eq!(parse_ttl(&format_ttl(Some(d))).unwrap(), Some(d));
            }

            #[test]
            fn any_rate_round_trips(count in 1u32..1_000_000, unit in 0usize..4) {
                let period = [1, 60, 3600, 86_400][unit];
                let rate = Rate::new(count, Duration::from_secs(period)).unwrap();
                prop_assert_eq!(rate.to_string().parse::<Rate>().unwrap(), rate);
            }

            #[test]
            fn arbitrary_text_never_panics(s in ".{0,40}") {
                let _ = parse_ttl(&s);
                let _ = s.parse::<Rate>();
                if let Ok(Some(d)) = parse_ttl(&s) {
                    prop_assert!(!d.is_zero());
                }
            }
        }
    }
}
