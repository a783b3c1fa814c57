//! Time: an injectable clock and the API's timestamp format.
//!
//! The emulator reads the time through [`Clock`] so that tests can move it
//! (for the Timestamp window, nonce expiry and `CreateTime` values) without
//! sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in whole seconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> i64;
}

/// The machine's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        // A clock set before 1970 reads as the epoch itself; nothing in the
        // emulator needs to tell such a machine apart.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that stands still until told to move; clones share one time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(unix_seconds: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(unix_seconds)))
    }

    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Formats seconds since the epoch as the API writes times:
/// `YYYY-MM-DDThh:mm:ssZ`.
pub fn format_timestamp(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses `YYYY-MM-DDThh:mm:ssZ` in UTC, the form the signature rules give
/// for `Timestamp` and `x-acs-date`, also with fractional seconds
/// (`2026-12-01T09:00:00.123Z`, one to nine digits, as the npm `aliyun-sdk`
/// sends, reference 9), which are dropped. Offsets other than `Z` are
/// refused.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = match s.split_once('.') {
        None => s,
        Some((whole, fraction)) => {
            let digits = fraction.strip_suffix('Z')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            // The seconds without their fraction, and the Z back.
            return parse_timestamp(&format!("{whole}Z"));
        }
    };
    let b = s.as_bytes();
    // ASCII only, so that the byte slices below fall on character bounds.
    if !s.is_ascii()
        || b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = &s[from..to];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hh, mm, ss) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days: exact for the
// proleptic Gregorian calendar, with day 0 = 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_456_231_584), "2016-02-23T12:46:24Z");
        assert_eq!(parse_timestamp("2016-02-23T12:46:24Z"), Some(1_456_231_584));
        assert_eq!(parse_timestamp("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(
            parse_timestamp("2016-02-23T12:46:24.123Z"),
            Some(1_456_231_584)
        );
        assert_eq!(
            parse_timestamp("2016-02-23T12:46:24.000000001Z"),
            Some(1_456_231_584)
        );
    }

    #[test]
    fn round_trips_across_centuries() {
        for t in (-2_000_000_000i64..4_000_000_000).step_by(86_399 * 37) {
            assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "2016-02-23T12:46:24",
            "2016-02-23T12:46:24.Z",
            "2016-02-23T12:46:24.1234567890Z",
            "2016-02-23T12:46:24.12a",
            "2016-02-23T12:46:24.123",
            "2016-02-23T12:46:24.1.2Z",
            "2016-02-23T12:46:24.123+08:00",
            "2016-02-23 12:46:24Z",
            "2016-02-30T12:46:24Z",
            "2023-02-29T00:00:00Z",
            "2016-13-01T00:00:00Z",
            "2016-02-23T24:00:00Z",
            "2016-02-23T12:46:24+08:00",
            "+016-02-23T12:46:24Z",
            "2016-02-23T12:46:2é",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(100);
        let c2 = c.clone();
        c.advance(5);
        assert_eq!(c2.now(), 105);
        c2.set(7);
        assert_eq!(c.now(), 7);
    }
}
