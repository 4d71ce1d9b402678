//! What a transaction is on the wire, shared by the chain, the client protocol and the plugins
//! (including the WebAssembly one, which cannot link the chain's EVM): the [`TxPacket`] (a signed
//! envelope and its proof sidecar), the typed [`TxRejection`] a validator answers with, and the
//! size bounds.

use alloy::consensus::TxEnvelope;
use alloy::primitives::{Address, B256, Bytes, U256};

/// Largest `max_tx_size_bytes`: 1 MiB. A real proof submission is ~130 KB of calldata; the mempool
/// holds transactions up to this size, so it bounds a validator's memory per pooled transaction.
pub const TX_SIZE_BYTES_MAX: usize = 1024 * 1024;

/// Why a transaction was not executed. A rejected tx is reported and left out of the block; it
/// never stops block production. Callers branch on the variant, never on the message; the event log
/// serializes it by variant name (`{"nonce_too_low": {"expected": 3, "got": 2}}`). The `String`
/// payloads are descriptions from a decoder or the EVM, for people only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxRejection {
    /// A sidecar on a tx that is not a market call.
    #[error("bad sidecar: only market calls carry sidecars")]
    SidecarNotAllowed,
    /// A sidecar above [`SIDECAR_BYTES_MAX`].
    #[error("bad sidecar: {size_bytes} bytes, the limit is {max_bytes}")]
    SidecarOversize {
        /// The sidecar's size.
        size_bytes: usize,
        /// [`SIDECAR_BYTES_MAX`].
        max_bytes: usize,
    },
    /// A block's sidecars must name distinct transactions of the block, in ascending order.
    #[error("bad sidecar: sidecars must name distinct txs of the block in ascending order")]
    SidecarMisplaced,
    /// Raw bytes above the chain's `max_tx_size_bytes`.
    #[error("oversize: {size_bytes} bytes, the limit is {max_bytes}")]
    Oversize {
        /// Raw size.
        size_bytes: usize,
        /// The chain's limit.
        max_bytes: usize,
    },
    /// Not a decodable EIP-2718 transaction.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A type the chain does not accept (blob and set-code txs).
    #[error("unsupported transaction type {0}: legacy (0), EIP-2930 (1) and EIP-1559 (2) are accepted")]
    UnsupportedType(u8),
    /// A legacy tx signed without EIP-155 replay protection.
    #[error("missing chain id: legacy transactions must be signed with EIP-155")]
    MissingChainId,
    /// Signed for another chain.
    #[error("wrong chain id {got}, this chain is {expected}")]
    WrongChainId {
        /// This chain's id.
        expected: u64,
        /// The tx's id.
        got: u64,
    },
    /// The signature does not recover to an address (or has a high `s`, EIP-2).
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Nonce already used.
    #[error("nonce too low: account nonce is {expected}, tx nonce is {got}")]
    NonceTooLow {
        /// The account's next nonce.
        expected: u64,
        /// The tx's nonce.
        got: u64,
    },
    /// Nonce beyond the account's next nonce.
    #[error("nonce gap: account nonce is {expected}, tx nonce is {got}")]
    NonceGap {
        /// The account's next nonce.
        expected: u64,
        /// The tx's nonce.
        got: u64,
    },
    /// Balance below `value + gas_limit × max_fee_per_gas`.
    #[error("insufficient balance: need {required} wei (value + gas × max fee), have {available}")]
    InsufficientBalance {
        /// What the tx may cost.
        required: U256,
        /// The sender's balance.
        available: U256,
    },
    /// Fee cap below the block's base fee.
    #[error("fee cap {max_fee_per_gas} wei below the base fee {base_fee_per_gas} wei")]
    FeeCapBelowBaseFee {
        /// The tx's `max_fee_per_gas` (or legacy gas price).
        max_fee_per_gas: u128,
        /// The block's base fee.
        base_fee_per_gas: u64,
    },
    /// More gas than a whole block has.
    #[error("gas limit {gas_limit} above the block gas limit {block_gas_limit}")]
    GasAboveBlockLimit {
        /// The tx's gas limit.
        gas_limit: u64,
        /// The block's gas limit.
        block_gas_limit: u64,
    },
    /// Refused by the EVM's own validation (intrinsic gas, priority fee above cap, …).
    #[error("invalid for the EVM: {0}")]
    Evm(String),
    /// The tx would create accounts the account ledger has no leaves left for.
    #[error("the account ledger is full: {needed} new accounts, {room} leaves left of {capacity}")]
    LedgerFull {
        /// New accounts the tx would create.
        needed: u64,
        /// Leaves left.
        room: u64,
        /// The ledger's capacity.
        capacity: u64,
    },
}

/// The largest sidecar accepted (a plonky2 proof of the shipped circuits is ~130 KB).
pub const SIDECAR_BYTES_MAX: usize = 1 << 20;

/// Checks a sidecar against its tx: only market calls carry one, of at most [`SIDECAR_BYTES_MAX`].
pub fn check_sidecar(to: Option<Address>, sidecar: Option<&Bytes>) -> Result<(), TxRejection> {
    let Some(sidecar) = sidecar else { return Ok(()) };
    if to != Some(crate::MARKET_ADDRESS) {
        return Err(TxRejection::SidecarNotAllowed);
    }
    if sidecar.len() > SIDECAR_BYTES_MAX {
        return Err(TxRejection::SidecarOversize { size_bytes: sidecar.len(), max_bytes: SIDECAR_BYTES_MAX });
    }
    Ok(())
}

/// A transaction as it travels: the signed envelope and, for a proof submitted as
/// [`zkcrowd_market::ProofData::Sidecar`], the proof bytes beside it. Like an EIP-4844 blob the
/// sidecar is outside the tx hash (real proof bytes are not deterministic, so they must not enter
/// hashes or the digest); the market sees it when it executes the tx and commits only the verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxPacket {
    /// The signed transaction (on the wire: its EIP-2718 bytes).
    #[serde(with = "envelope_serde")]
    pub envelope: TxEnvelope,
    /// The sidecar, if any.
    pub sidecar: Option<Bytes>,
}

impl From<TxEnvelope> for TxPacket {
    fn from(envelope: TxEnvelope) -> Self {
        Self { envelope, sidecar: None }
    }
}

impl TxPacket {
    /// The tx hash (the sidecar is not part of it).
    pub fn hash(&self) -> B256 {
        *self.envelope.tx_hash()
    }
}

/// Serde for a [`TxEnvelope`] as its EIP-2718 bytes (how Ethereum clients send transactions):
/// `#[serde(with = "zkcrowd_primitives::tx::envelope_serde")]`. Decoding takes the bytes exactly (no
/// trailing bytes) and checks nothing else: validity is the chain's business.
pub mod envelope_serde {
    use alloy::consensus::TxEnvelope;
    use alloy::eips::eip2718::{Decodable2718, Encodable2718};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A borrowed envelope serialized as its EIP-2718 bytes.
    struct Raw<'a>(&'a TxEnvelope);

    impl Serialize for Raw<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0.encoded_2718())
        }
    }

    /// An envelope read from its EIP-2718 bytes.
    struct Owned(TxEnvelope);

    impl<'de> Deserialize<'de> for Owned {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let bytes = alloy::primitives::Bytes::deserialize(deserializer)?;
            TxEnvelope::decode_2718_exact(&bytes)
                .map(Owned)
                .map_err(|error| serde::de::Error::custom(format!("not an EIP-2718 transaction: {error}")))
        }
    }

    /// Serializes the envelope's EIP-2718 bytes.
    pub fn serialize<S: Serializer>(envelope: &TxEnvelope, serializer: S) -> Result<S::Ok, S::Error> {
        Raw(envelope).serialize(serializer)
    }

    /// Deserializes an envelope from its EIP-2718 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TxEnvelope, D::Error> {
        Owned::deserialize(deserializer).map(|owned| owned.0)
    }

    /// The same for a list of envelopes (a block's transactions).
    pub mod list {
        use super::*;

        /// Serializes each envelope's EIP-2718 bytes.
        pub fn serialize<S: Serializer>(envelopes: &[TxEnvelope], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(envelopes.iter().map(Raw))
        }

        /// Deserializes a list of envelopes (serde caps the allocation a sender's length prefix
        /// can ask for).
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<TxEnvelope>, D::Error> {
            Ok(Vec::<Owned>::deserialize(deserializer)?.into_iter().map(|owned| owned.0).collect())
        }
    }
}
