//! Addresses as written in YAML: a hex address, or `dev:N` for development account `N`.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::Address;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dev_address;

/// An address in a YAML file: `0x…` (20 bytes of hex) or `dev:N` (see [`crate::dev_signer`]).
///
/// ```
/// use zkcrowd_primitives::{AccountRef, dev_address};
/// let r: AccountRef = "dev:3".parse().unwrap();
/// assert_eq!(r.address(), dev_address(3));
/// assert!("dev:x".parse::<AccountRef>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRef {
    /// A literal address.
    Address(Address),
    /// Development account `N`.
    Dev(u64),
}

impl AccountRef {
    /// The address this reference names.
    pub fn address(&self) -> Address {
        match self {
            Self::Address(address) => *address,
            Self::Dev(index) => dev_address(*index),
        }
    }
}

/// Why an address string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{0}`: expected `0x` and 40 hex digits, or `dev:N` for development account N")]
pub struct AccountRefError(String);

impl FromStr for AccountRef {
    type Err = AccountRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(index) = s.strip_prefix("dev:") {
            return index.parse().map(Self::Dev).map_err(|_| AccountRefError(s.to_owned()));
        }
        if s.len() != 42 {
            return Err(AccountRefError(s.to_owned()));
        }
        s.parse().map(Self::Address).map_err(|_| AccountRefError(s.to_owned()))
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(address) => write!(f, "{address}"),
            Self::Dev(index) => write!(f, "dev:{index}"),
        }
    }
}

impl schemars::JsonSchema for AccountRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0x[0-9a-fA-F]{40}|dev:[0-9]+)$",
            "description": "A hex address, or dev:N for development account N."
        })
    }
}

impl Serialize for AccountRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AccountRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}
