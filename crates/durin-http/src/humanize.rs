//! `expires_in_str`: django-rest-durin renders the time left with `humanize.naturaldelta`;
//! this is the same wording.

use std::time::Duration;

/// A duration in words, as Python's `humanize.naturaldelta` (months on) writes it:
/// `a moment`, `30 seconds`, `a minute`, `5 minutes`, `an hour`, `23 hours`, `a day`,
/// `6 days`, `a month`, `2 months`, `a year`, `1 year, 3 days`, `1 year, 2 months`,
/// `2 years`.
pub fn natural_delta(delta: Duration) -> String {
    let total_days = delta.as_secs() / 86_400;
    let seconds = delta.as_secs() % 86_400;
    let years = total_days / 365;
    let days = total_days % 365;
    let months = (days as f64 / 30.5) as u64;
    if years == 0 && days < 1 {
        return match seconds {
            0 => "a moment".to_owned(),
            1 => "a second".to_owned(),
            2..60 => format!("{seconds} seconds"),
            60..120 => "a minute".to_owned(),
            120..3600 => format!("{} minutes", seconds / 60),
            3600..7200 => "an hour".to_owned(),
            _ => format!("{} hours", seconds / 3600),
        };
    }
    if years == 0 {
        return match (days, months) {
            (1, _) => "a day".to_owned(),
            (_, 0) => format!("{days} days"),
            (_, 1) => "a month".to_owned(),
            _ => format!("{months} months"),
        };
    }
    if years == 1 {
        return match (months, days) {
            (0, 0) => "a year".to_owned(),
            (0, 1) => "1 year, 1 day".to_owned(),
            (0, _) => format!("1 year, {days} days"),
            (1, _) => "1 year, 1 month".to_owned(),
            _ => format!("1 year, {months} months"),
        };
    }
    format!("{years} years")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let s = Duration::from_secs;
        assert_eq!(natural_delta(s(0)), "a moment");
        assert_eq!(natural_delta(s(30)), "30 seconds");
        assert_eq!(natural_delta(s(90)), "a minute");
        assert_eq!(natural_delta(s(600)), "10 minutes");
        assert_eq!(natural_delta(s(3600)), "an hour");
        assert_eq!(natural_delta(s(86_399)), "23 hours");
        assert_eq!(natural_delta(s(86_400)), "a day");
        assert_eq!(natural_delta(s(6 * 86_400)), "6 days");
        assert_eq!(natural_delta(s(31 * 86_400)), "a month");
        assert_eq!(natural_delta(s(90 * 86_400)), "2 months");
        assert_eq!(natural_delta(s(365 * 86_400)), "a year");
        assert_eq!(natural_delta(s(368 * 86_400)), "1 year, 3 days");
        assert_eq!(natural_delta(s(800 * 86_400)), "2 years");
    }
}
