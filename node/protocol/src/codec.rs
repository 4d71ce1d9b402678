//! The wire codec: how every validator ↔ validator and client ↔ validator message becomes bytes.
//!
//! # Format
//!
//! A frame is one version byte ([`WIRE_VERSION`]) followed by the message in
//! [postcard](https://postcard.jamesmunns.com/wire-format) (serde's derives, a documented and
//! stable format: varint integers, length-prefixed byte strings, an enum as its variant index then
//! its fields). Transactions travel as their EIP-2718 bytes, ledger digests as their 32 bytes.
//! The transport supplies the framing (a datagram, or a length prefix on a stream).
//!
//! # Decoding
//!
//! [`decode`] checks, in order, and refuses with a typed [`DecodeError`]: an empty frame, an
//! unknown version, an unknown message kind (the variant index, the payload's first byte: every
//! family has fewer than 128 variants), a frame above its kind's limit ([`Codec::bytes_max`],
//! checked before any decoding), a payload postcard cannot read, and bytes left over. It never
//! panics, and it never allocates more than the frame's size on a length the sender chose (serde
//! caps pre-allocation). Values that decode are still untrusted: the node checks them as before.
//!
//! # Why postcard
//!
//! Every message type derives serde's traits already (the event log is serde JSON), so a serde
//! format needs no hand-written encoder; postcard's format is specified and frozen at 1.0, compact
//! (varints), and maintained. bincode stopped being maintained in 2025; RLP (alloy-rlp) suits
//! Ethereum's structs but not Rust enums, which would each need a hand-written encoding.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The format version, the first byte of every frame.
pub const WIRE_VERSION: u8 = 1;

/// A family of messages that travel as frames (peer messages, client requests, client messages).
pub trait Codec: Serialize + DeserializeOwned {
    /// The family's name, for errors and counters.
    const FAMILY: &'static str;

    /// The message's kind: its variant index (postcard's first payload byte).
    fn kind(&self) -> u8;

    /// The largest frame of `kind` (version byte included), or `None` if there is no such kind.
    fn bytes_max(kind: u8) -> Option<usize>;

    /// A kind's name, for errors and counters.
    fn kind_name(kind: u8) -> &'static str;
}

/// Why bytes were not a message. Every variant is a counted drop at the receiver, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes, or a version byte and nothing else.
    #[error("{family}: empty frame")]
    Empty {
        /// The message family.
        family: &'static str,
    },
    /// A version this node does not speak.
    #[error("{family}: wire version {version}, this node speaks {WIRE_VERSION}")]
    Version {
        /// The message family.
        family: &'static str,
        /// The frame's version byte.
        version: u8,
    },
    /// No message kind has this index.
    #[error("{family}: unknown message kind {kind}")]
    UnknownKind {
        /// The message family.
        family: &'static str,
        /// The kind byte.
        kind: u8,
    },
    /// Above the kind's limit; refused before decoding.
    #[error("{family}: {kind} of {bytes} bytes, the limit is {max_bytes}")]
    Oversize {
        /// The message family.
        family: &'static str,
        /// The kind's name.
        kind: &'static str,
        /// The frame's size.
        bytes: usize,
        /// The kind's limit.
        max_bytes: usize,
    },
    /// The payload is not a message of the kind (truncated, a bad length, a bad value).
    #[error("{family}: malformed {kind}: {reason}")]
    Malformed {
        /// The message family.
        family: &'static str,
        /// The kind's name.
        kind: &'static str,
        /// What the decoder said (for people: callers branch on the variant).
        reason: String,
    },
    /// A whole message followed by more bytes.
    #[error("{family}: {kind} followed by {bytes} trailing bytes")]
    Trailing {
        /// The message family.
        family: &'static str,
        /// The kind's name.
        kind: &'static str,
        /// How many bytes were left.
        bytes: usize,
    },
}

impl DecodeError {
    /// A short name of the reason, for counters: `empty`, `version`, `unknown_kind`, `oversize`,
    /// `malformed`, `trailing`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "empty",
            Self::Version { .. } => "version",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::Oversize { .. } => "oversize",
            Self::Malformed { .. } => "malformed",
            Self::Trailing { .. } => "trailing",
        }
    }
}

/// Encodes a message as a frame. A message of an honest sender always fits its kind's limit (the
/// senders bound what they put in one: see each limit's documentation); this is not checked here.
pub fn encode<T: Codec>(message: &T) -> Vec<u8> {
    let mut frame = vec![WIRE_VERSION];
    // Writing to a Vec cannot fail, and every wire type serializes (no maps with non-string keys,
    // no sequences of unknown length).
    postcard::to_io(message, &mut frame).expect("a wire message serializes into a Vec");
    frame
}

/// Decodes a frame (see the module documentation for the checks).
pub fn decode<T: Codec>(frame: &[u8]) -> Result<T, DecodeError> {
    let family = T::FAMILY;
    let (&version, payload) = frame.split_first().ok_or(DecodeError::Empty { family })?;
    if version != WIRE_VERSION {
        return Err(DecodeError::Version { family, version });
    }
    let &kind = payload.first().ok_or(DecodeError::Empty { family })?;
    let max_bytes = T::bytes_max(kind).ok_or(DecodeError::UnknownKind { family, kind })?;
    let name = T::kind_name(kind);
    if frame.len() > max_bytes {
        return Err(DecodeError::Oversize { family, kind: name, bytes: frame.len(), max_bytes });
    }
    let (message, rest) = postcard::take_from_bytes::<T>(payload).map_err(|error| DecodeError::Malformed {
        family,
        kind: name,
        reason: error.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing { family, kind: name, bytes: rest.len() });
    }
    debug_assert_eq!(message.kind(), kind, "postcard writes the variant index first");
    Ok(message)
}
