//! Durations (`30s`, `20m`, `1h`, `500ms`) and rates (`10/s`, `2/m`, `120/h`) as scenario strings.
//!
//! ```
//! use zkcrowd_sim::scenario::{Rate, SimDuration};
//! assert_eq!("20m".parse::<SimDuration>().unwrap().as_millis(), 1_200_000);
//! assert_eq!("1.5s".parse::<SimDuration>().unwrap().as_millis(), 1_500);
//! assert_eq!("10/s".parse::<Rate>().unwrap().per_second(), 10.0);
//! assert_eq!("120/h".parse::<Rate>().unwrap().per_second(), 120.0 / 3600.0);
//! assert!("-5/s".parse::<Rate>().is_err());
//! assert!("5".parse::<SimDuration>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The form of every duration; quoted in errors.
pub const DURATION_FORM: &str = "a duration like `500ms`, `30s`, `20m` or `1h`";
/// The form of every rate; quoted in errors.
pub const RATE_FORM: &str = "a rate like `10/s`, `2/m` or `120/h` (events per unit of time, not negative)";

/// Longest duration any field accepts when parsed (366 days): far below `u64` milliseconds (5.8 ×
/// 10^8 years), so sums of a few durations cannot overflow. Each field has its own, smaller maximum,
/// checked when the scenario is validated.
pub const DURATION_PARSE_MAX: SimDuration = SimDuration(366 * 86_400_000);

/// Fastest rate accepted: 1,000 events per second. Simulated timers have a 1 ms resolution (a
/// sleep is at least 1 ms), so a faster Poisson process cannot be simulated.
pub const RATE_PER_SECOND_MAX: f64 = 1_000.0;

/// Slowest positive rate accepted: one event per day. A slower one would draw waits longer than
/// any run (the longest is a day: `duration` plus `drain`, each at most 12 h); write `0/s` for none.
pub const RATE_PER_SECOND_MIN_POSITIVE: f64 = 1.0 / 86_400.0;

/// A span of simulated time, kept in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimDuration {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// From milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// From seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs * 1_000)
    }

    /// Milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Seconds, as a float (reports and rates only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1_000.0
    }

    /// As a standard duration (for the simulated clock).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

fn unit_millis(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    })
}

fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let number: f64 = number.replace('_', "").parse().ok()?;
    Some((number, unit.trim()))
}

const RATE_MAX_FORM: &str = "at most 1000/s (simulated timers have a 1 ms resolution)";
const RATE_MIN_FORM: &str = "at least 1/d, or 0/s for none (a slower rate waits longer than any run)";

/// Why a duration or rate string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{input}`: expected {form}")]
pub struct UnitError {
    what: &'static str,
    input: String,
    form: &'static str,
}

impl FromStr for SimDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || UnitError { what: "duration", input: s.to_owned(), form: DURATION_FORM };
        let (number, unit) = split_number(s).ok_or_else(error)?;
        let millis = number * unit_millis(unit).ok_or_else(error)?;
        if !millis.is_finite() || millis < 0.0 {
            return Err(error());
        }
        if millis > DURATION_PARSE_MAX.0 as f64 {
            return Err(UnitError { what: "duration", input: s.to_owned(), form: "at most 366 days (366d)" });
        }
        Ok(Self(millis.round() as u64))
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms != 0 && ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms != 0 && ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1_000) {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Events per unit of simulated time, kept as events per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// Zero.
    pub const ZERO: Self = Self(0.0);

    /// From events per second.
    pub fn per_second_value(value: f64) -> Self {
        Self(value)
    }

    /// Events per second.
    pub fn per_second(self) -> f64 {
        self.0
    }

    /// Mean time between events, if the rate is positive.
    pub fn mean_interval(self) -> Option<SimDuration> {
        (self.0 > 0.0).then(|| SimDuration::from_millis((1_000.0 / self.0).round().max(1.0) as u64))
    }
}

impl FromStr for Rate {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || UnitError { what: "rate", input: s.to_owned(), form: RATE_FORM };
        let (count, per) = s.trim().split_once('/').ok_or_else(error)?;
        // Digits only: f64's own parser would also take `inf`, `NaN` and `1e300`.
        let count = count.trim();
        if count.is_empty() || !count.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '_') {
            return Err(error());
        }
        let count: f64 = count.replace('_', "").parse().map_err(|_| error())?;
        let per = per.trim();
        let (span, unit) = match split_number(per) {
            Some((n, unit)) => (n, unit),
            None => (1.0, per),
        };
        let millis = span * unit_millis(unit).ok_or_else(error)?;
        if !count.is_finite() || count < 0.0 || !millis.is_finite() || millis <= 0.0 {
            return Err(error());
        }
        let per_second = count * 1_000.0 / millis;
        if per_second > RATE_PER_SECOND_MAX {
            return Err(UnitError { what: "rate", input: s.to_owned(), form: RATE_MAX_FORM });
        }
        if per_second > 0.0 && per_second < RATE_PER_SECOND_MIN_POSITIVE {
            return Err(UnitError { what: "rate", input: s.to_owned(), form: RATE_MIN_FORM });
        }
        Ok(Self(per_second))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

macro_rules! string_unit {
    ($ty:ty, $name:literal, $pattern:literal, $description:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "pattern": $pattern, "description": $description })
            }
        }
    };
}

string_unit!(
    SimDuration,
    "Duration",
    r"^\s*[0-9_]*\.?[0-9_]+\s*(ms|s|m|min|h|d)\s*$",
    "A duration of simulated time: 500ms, 30s, 20m, 1h (at most 366d; each field has its own maximum)."
);
string_unit!(
    Rate,
    "Rate",
    r"^\s*[0-9_]*\.?[0-9_]+\s*/\s*([0-9.]*\s*)?(ms|s|m|min|h|d)\s*$",
    "Events per unit of simulated time: 10/s, 2/m, 120/h (0, or from 1/d to 1000/s)."
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations and rates parse in every documented form and refuse the rest, naming the form.
    #[test]
    fn forms() {
        assert_eq!("500ms".parse::<SimDuration>().unwrap().as_millis(), 500);
        assert_eq!(" 2h ".parse::<SimDuration>().unwrap().as_millis(), 7_200_000);
        assert_eq!("1min".parse::<SimDuration>().unwrap(), "1m".parse().unwrap());
        assert_eq!("3/10s".parse::<Rate>().unwrap().per_second(), 0.3);
        for bad in ["5", "5 parsecs", "-1s", "s", ""] {
            let error = bad.parse::<SimDuration>().unwrap_err().to_string();
            assert!(error.contains(DURATION_FORM), "{error}");
        }
        for bad in ["10", "-5/s", "5/0s", "x/s", "5/fortnight", "inf/s", "NaN/s", "1e3/s", "/s"] {
            let error = bad.parse::<Rate>().unwrap_err().to_string();
            assert!(error.contains("expected a rate like"), "{bad}: {error}");
        }
        assert_eq!(SimDuration::from_secs(90).to_string(), "90s");
    }

    /// Absurd durations and rates are refused when parsed, naming the bound, so no arithmetic on
    /// them can overflow: a trillion hours, a rate beyond the 1 ms timer resolution, a rate so slow
    /// that its first event would come after any run; the bounds themselves parse.
    #[test]
    fn bounds() {
        assert_eq!("366d".parse::<SimDuration>().unwrap(), DURATION_PARSE_MAX);
        for huge in ["1000000000000h", "367d", "99999999999999999999999999999999999ms"] {
            let error = huge.parse::<SimDuration>().unwrap_err().to_string();
            assert!(error.contains("at most 366 days"), "{huge}: {error}");
        }
        assert_eq!("1000/s".parse::<Rate>().unwrap().per_second(), RATE_PER_SECOND_MAX);
        assert_eq!("0/s".parse::<Rate>().unwrap(), Rate::ZERO);
        assert!("1/d".parse::<Rate>().is_ok());
        for fast in ["1001/s", "1/0.5ms", "99999999999999999999/s"] {
            let error = fast.parse::<Rate>().unwrap_err().to_string();
            assert!(error.contains("at most 1000/s"), "{fast}: {error}");
        }
        for slow in ["1/2d", "0.000001/s"] {
            let error = slow.parse::<Rate>().unwrap_err().to_string();
            assert!(error.contains("at least 1/d"), "{slow}: {error}");
        }
        assert_eq!(SimDuration::from_secs(1200).to_string(), "20m");
    }
}
