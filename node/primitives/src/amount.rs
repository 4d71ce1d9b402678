//! ZKPoW amounts.
//!
//! ZKPoW is the chain's native coin, with 18 decimals like ether: 1 ZKPOW = 10^18 wei. Balances are
//! held in `u128` wei (3.4 × 10^20 ZKPOW at most), which the ledger circuit range-checks as four
//! 32-bit limbs. Market balances may go negative, so they are [`SignedZkpow`] (`i128` wei).
//!
//! Amounts in YAML are strings with a unit, so that `5 ZKPOW` is never confused with 5 wei:
//!
//! ```
//! use zkcrowd_primitives::{SignedZkpow, Zkpow};
//! assert_eq!("5 ZKPOW".parse::<Zkpow>().unwrap(), Zkpow::from_zkpow(5));
//! assert_eq!("0.25 zkpow".parse::<Zkpow>().unwrap().wei(), 250_000_000_000_000_000);
//! assert_eq!("3 gwei".parse::<Zkpow>().unwrap().wei(), 3_000_000_000);
//! assert_eq!("-50 ZKPOW".parse::<SignedZkpow>().unwrap(), SignedZkpow::from_zkpow(-50));
//! assert!("5".parse::<Zkpow>().is_err()); // a unit is required
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Wei per ZKPOW (18 decimals).
pub const WEI_PER_ZKPOW: u128 = 1_000_000_000_000_000_000;
/// Wei per gwei.
pub const WEI_PER_GWEI: u128 = 1_000_000_000;

/// The form every amount string must take; quoted in parse errors.
pub const AMOUNT_FORM: &str = "an amount with a unit, like `5 ZKPOW`, `0.25 ZKPOW`, `3 gwei` or `1000 wei`";

/// Why an amount string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid amount `{input}`: {reason}; expected {AMOUNT_FORM}")]
pub struct AmountError {
    input: String,
    reason: &'static str,
}

impl AmountError {
    fn new(input: &str, reason: &'static str) -> Self {
        Self { input: input.to_owned(), reason }
    }
}

/// A non-negative ZKPoW amount in wei.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Zkpow(u128);

impl Zkpow {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// An amount of `wei`.
    pub const fn from_wei(wei: u128) -> Self {
        Self(wei)
    }

    /// A whole number of ZKPOW.
    ///
    /// # Panics
    /// If the amount does not fit in `u128` wei (more than 3.4 × 10^20 ZKPOW).
    pub const fn from_zkpow(zkpow: u128) -> Self {
        match zkpow.checked_mul(WEI_PER_ZKPOW) {
            Some(wei) => Self(wei),
            None => panic!("ZKPOW amount overflows u128 wei"),
        }
    }

    /// The amount in wei.
    pub const fn wei(self) -> u128 {
        self.0
    }

    /// The amount in ZKPOW as a float, for reports only (never for state).
    pub fn as_zkpow_f64(self) -> f64 {
        self.0 as f64 / WEI_PER_ZKPOW as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` if it would go negative.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// This amount as a signed amount.
    ///
    /// # Panics
    /// If the amount exceeds `i128::MAX` wei, which no balance can reach (supply is bounded
    /// by genesis validation).
    pub fn to_signed(self) -> SignedZkpow {
        SignedZkpow(i128::try_from(self.0).expect("ZKPoW amount exceeds i128"))
    }
}

/// A signed ZKPoW amount in wei: market balances, debt limits, penalties as deltas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedZkpow(i128);

impl SignedZkpow {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// An amount of `wei`.
    pub const fn from_wei(wei: i128) -> Self {
        Self(wei)
    }

    /// A whole number of ZKPOW.
    ///
    /// # Panics
    /// On overflow of `i128` wei.
    pub const fn from_zkpow(zkpow: i128) -> Self {
        match zkpow.checked_mul(WEI_PER_ZKPOW as i128) {
            Some(wei) => Self(wei),
            None => panic!("ZKPOW amount overflows i128 wei"),
        }
    }

    /// The amount in wei.
    pub const fn wei(self) -> i128 {
        self.0
    }

    /// The amount in ZKPOW as a float, for reports only (never for state).
    pub fn as_zkpow_f64(self) -> f64 {
        self.0 as f64 / WEI_PER_ZKPOW as f64
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` on overflow.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

/// Parses `<decimal> <unit>` into wei, with at most as many fractional digits as the unit allows.
fn parse_wei(input: &str) -> Result<(bool, u128), AmountError> {
    let trimmed = input.trim();
    let (number, unit) = trimmed
        .split_once(char::is_whitespace)
        .map(|(n, u)| (n.trim(), u.trim()))
        .ok_or_else(|| AmountError::new(input, "missing unit"))?;
    let scale_digits: u32 = match unit.to_ascii_lowercase().as_str() {
        "zkpow" => 18,
        "gwei" => 9,
        "wei" => 0,
        _ => return Err(AmountError::new(input, "unknown unit")),
    };
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    if whole.is_empty() && fraction.is_empty() {
        return Err(AmountError::new(input, "missing number"));
    }
    if !digits_ok(whole) || !digits_ok(fraction) {
        return Err(AmountError::new(input, "not a decimal number"));
    }
    let fraction: String = fraction.chars().filter(|c| *c != '_').collect();
    if fraction.len() as u32 > scale_digits {
        return Err(AmountError::new(input, "more decimals than the unit allows"));
    }
    let whole: String = whole.chars().filter(|c| *c != '_').collect();
    let overflow = || AmountError::new(input, "too large");
    let whole_value: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| overflow())? };
    let scale = 10u128.pow(scale_digits);
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<width$}", width = scale_digits as usize);
        padded.parse().map_err(|_| overflow())?
    };
    let wei = whole_value.checked_mul(scale).and_then(|w| w.checked_add(fraction_value)).ok_or_else(overflow)?;
    Ok((negative, wei))
}

fn format_wei(f: &mut fmt::Formatter<'_>, negative: bool, wei: u128) -> fmt::Result {
    let sign = if negative { "-" } else { "" };
    let whole = wei / WEI_PER_ZKPOW;
    let fraction = wei % WEI_PER_ZKPOW;
    if fraction == 0 {
        write!(f, "{sign}{whole} ZKPOW")
    } else {
        let digits = format!("{fraction:018}");
        write!(f, "{sign}{whole}.{} ZKPOW", digits.trim_end_matches('0'))
    }
}

impl FromStr for Zkpow {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match parse_wei(s)? {
            (true, wei) if wei != 0 => Err(AmountError::new(s, "must not be negative")),
            (_, wei) => Ok(Self(wei)),
        }
    }
}

impl FromStr for SignedZkpow {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (negative, wei) = parse_wei(s)?;
        let magnitude = i128::try_from(wei).map_err(|_| AmountError::new(s, "too large"))?;
        Ok(Self(if negative { -magnitude } else { magnitude }))
    }
}

impl fmt::Display for Zkpow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_wei(f, false, self.0)
    }
}

impl fmt::Display for SignedZkpow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_wei(f, self.0 < 0, self.0.unsigned_abs())
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Zkpow);

// A signed amount travels in client messages: as its text in human-readable formats (YAML, JSON:
// "-1.5 ZKPOW"), as the exact wei integer in binary ones (the wire codec).
impl Serialize for SignedZkpow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() { serializer.collect_str(self) } else { serializer.serialize_i128(self.0) }
    }
}
impl<'de> Deserialize<'de> for SignedZkpow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            i128::deserialize(deserializer).map(Self)
        }
    }
}

macro_rules! string_schema {
    ($ty:ty, $name:literal, $pattern:literal, $description:literal) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description,
                    "examples": ["5 ZKPOW", "0.25 ZKPOW", "3 gwei"]
                })
            }
        }
    };
}
string_schema!(
    Zkpow,
    "Zkpow",
    r"^\s*\+?[0-9_]*\.?[0-9_]*\s+([Zz][Kk][Pp][Oo][Ww]|[Gg][Ww][Ee][Ii]|[Ww][Ee][Ii])\s*$",
    "A ZKPoW amount with a unit: ZKPOW (18 decimals), gwei or wei."
);
string_schema!(
    SignedZkpow,
    "SignedZkpow",
    r"^\s*[-+]?[0-9_]*\.?[0-9_]*\s+([Zz][Kk][Pp][Oo][Ww]|[Gg][Ww][Ee][Ii]|[Ww][Ee][Ii])\s*$",
    "A signed ZKPoW amount with a unit: ZKPOW (18 decimals), gwei or wei."
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parsing accepts the documented forms and rejects everything ambiguous, with the reason.
    #[test]
    fn parse_forms() {
        assert_eq!("1 ZKPOW".parse::<Zkpow>().unwrap().wei(), WEI_PER_ZKPOW);
        assert_eq!("1_000 wei".parse::<Zkpow>().unwrap().wei(), 1000);
        assert_eq!(".5 ZKPOW".parse::<Zkpow>().unwrap().wei(), WEI_PER_ZKPOW / 2);
        assert_eq!("  7   gwei ".parse::<Zkpow>().unwrap().wei(), 7 * WEI_PER_GWEI);
        for (bad, reason) in [
            ("5", "missing unit"),
            ("5 eth", "unknown unit"),
            ("-5 ZKPOW", "must not be negative"),
            ("1.5 wei", "more decimals than the unit allows"),
            ("x ZKPOW", "not a decimal number"),
            ("1e3 ZKPOW", "not a decimal number"),
            ("999999999999999999999999 ZKPOW", "too large"),
        ] {
            let error = bad.parse::<Zkpow>().unwrap_err().to_string();
            assert!(error.contains(reason), "{bad}: {error}");
            assert!(error.contains("expected an amount with a unit"), "{error}");
        }
        assert_eq!("-0.5 ZKPOW".parse::<SignedZkpow>().unwrap().wei(), -(WEI_PER_ZKPOW as i128) / 2);
    }

    proptest! {
        /// Display then parse is the identity, for every representable amount.
        #[test]
        fn display_round_trips(wei in any::<u128>(), signed in any::<i128>()) {
            let amount = Zkpow::from_wei(wei);
            prop_assert_eq!(amount.to_string().parse::<Zkpow>().unwrap(), amount);
            prop_assume!(signed != i128::MIN);
            let amount = SignedZkpow::from_wei(signed);
            prop_assert_eq!(amount.to_string().parse::<SignedZkpow>().unwrap(), amount);
        }
    }
}
