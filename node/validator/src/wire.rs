//! Messages between validators (client messages are in `zkcrowd-protocol`), their signatures and
//! commit certificates, and their wire limits.
//!
//! # Signatures
//!
//! Every proposal and vote is signed by its validator's Ethereum key (secp256k1, through alloy's
//! signer; deterministic RFC 6979 nonces, so a message signed twice gives the same bytes and runs
//! stay reproducible). What is signed is the EIP-712 hash of a [`ConsensusVote`] under the domain
//! `zkcrowd` version 1 and the chain's id: a validator's identity is the address it already has in
//! the genesis (also its L1 agent's), and a contract can check two conflicting signed votes with
//! `ecrecover`, which is what slashing on the L1 would need. (ed25519 would verify faster, but it
//! would be a second key per validator that no EVM can check cheaply.)
//!
//! A [`SignedMessage`] names its signer, so a message relayed by another validator keeps its
//! origin; a bad signature is a counted drop. A [`Certificate`] is the decision round's signed
//! precommits for the block: block sync imports a block only under a certificate of valid
//! signatures from distinct validators holding more than two thirds of the stake.
//!
//! # Wire limits
//!
//! Each [`PeerMessage`] kind has a frame limit ([`zkcrowd_protocol::Codec`]): a proposal carries at
//! most one block of [`zkcrowd_chain::BLOCK_BYTES_MAX`]; senders keep forwarded batches and sync
//! responses under [`GOSSIP_BYTES_MAX`] and [`SYNC_RESPONSE_BYTES_MAX`].

use alloy::consensus::crypto::secp256k1::recover_signer;
use alloy::primitives::{Address, B256, FixedBytes, Signature};
use alloy::signers::SignerSync;
use alloy::sol_types::{Eip712Domain, SolStruct, eip712_domain};
use serde::{Deserialize, Serialize};
use zkcrowd_chain::{BLOCK_BYTES_MAX, Block, TxPacket};
use zkcrowd_consensus::{Message, MessageKind, Round, ValidatorIndex, ValidatorSet};
use zkcrowd_primitives::{BlockNumber, DevSigner};
use zkcrowd_protocol::Codec;

alloy::sol! {
    /// A consensus message as its validator signs it (EIP-712). `kind`: 0 proposal, 1 prevote,
    /// 2 precommit; `nil`: a vote for nothing (`value` is then zero); `validRound`: a proposal's
    /// polka round, -1 for a fresh value and for votes.
    struct ConsensusVote {
        uint8 kind;
        uint64 height;
        uint32 round;
        bytes32 value;
        bool nil;
        int64 validRound;
    }
}

/// The EIP-712 domain of chain `chain_id`'s consensus messages.
pub fn consensus_domain(chain_id: u64) -> Eip712Domain {
    eip712_domain! { name: "zkcrowd", version: "1", chain_id: chain_id, }
}

/// The hash a validator signs for `message` on chain `chain_id`.
pub fn signing_hash(message: &Message, chain_id: u64) -> B256 {
    let (kind, value, valid_round) = match message {
        Message::Proposal { value, valid_round, .. } => (0u8, Some(*value), valid_round.map_or(-1, i64::from)),
        Message::Prevote { value, .. } => (1, *value, -1),
        Message::Precommit { value, .. } => (2, *value, -1),
    };
    ConsensusVote {
        kind,
        height: message.height(),
        round: message.round(),
        value: value.unwrap_or_default(),
        nil: value.is_none(),
        validRound: valid_round,
    }
    .eip712_signing_hash(&consensus_domain(chain_id))
}

/// A signature as its 65 bytes (`r ‖ s ‖ y-parity`), the form `ecrecover` takes.
pub type SignatureBytes = FixedBytes<65>;

/// A consensus message with its signer and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessage {
    /// The message.
    pub message: Message,
    /// Who signed it (an index into the validator set).
    pub signer: ValidatorIndex,
    /// The signature of [`signing_hash`].
    pub signature: SignatureBytes,
}

/// Why a signed message or a certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signer is not in the validator set.
    #[error("signer {0} is not a validator")]
    UnknownSigner(ValidatorIndex),
    /// The bytes are not a valid signature (or have a high `s`, EIP-2).
    #[error("malformed signature")]
    Malformed,
    /// A valid signature, but by another key.
    #[error("signed by {recovered}, not by validator {signer}")]
    WrongSigner {
        /// The claimed signer.
        signer: ValidatorIndex,
        /// The address the signature recovers to.
        recovered: Address,
    },
}

impl SignedMessage {
    /// Signs `message` as validator `signer` with `key` on chain `chain_id`.
    pub fn sign(message: Message, signer: ValidatorIndex, key: &DevSigner, chain_id: u64) -> Self {
        let hash = signing_hash(&message, chain_id);
        // Signing a 32-byte hash with a valid local key cannot fail.
        let signature = key.sign_hash_sync(&hash).expect("a local key signs any hash");
        Self { message, signer, signature: SignatureBytes::from(signature.as_bytes()) }
    }

    /// Checks the signature against the signer's address in `validators`.
    pub fn verify(&self, validators: &ValidatorSet, chain_id: u64) -> Result<(), SignatureError> {
        verify_signature(&self.message, self.signer, &self.signature, validators, chain_id)
    }
}

/// Checks that `signature` over `message` recovers to validator `signer`'s address.
fn verify_signature(
    message: &Message,
    signer: ValidatorIndex,
    signature: &SignatureBytes,
    validators: &ValidatorSet,
    chain_id: u64,
) -> Result<(), SignatureError> {
    if !validators.contains(signer) {
        return Err(SignatureError::UnknownSigner(signer));
    }
    let signature = Signature::from_raw(signature.as_slice()).map_err(|_| SignatureError::Malformed)?;
    let recovered =
        recover_signer(&signature, signing_hash(message, chain_id)).map_err(|_| SignatureError::Malformed)?;
    if recovered != validators.address(signer) {
        return Err(SignatureError::WrongSigner { signer, recovered });
    }
    Ok(())
}

/// Proof that a block was decided: the decision round and its signed precommits for the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// The round whose precommits decided.
    pub round: Round,
    /// Precommit signatures for the block's hash at its height and `round`, by validator,
    /// ascending.
    pub precommits: Vec<(ValidatorIndex, SignatureBytes)>,
}

/// Why a certificate does not prove a block decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Validators not in ascending order, or one twice.
    #[error("validators not distinct and ascending")]
    NotAscending,
    /// A precommit signature does not verify.
    #[error("precommit of validator {validator}: {error}")]
    BadSignature {
        /// Whose precommit.
        validator: ValidatorIndex,
        /// Why.
        error: SignatureError,
    },
    /// Valid signatures, but not more than two thirds of the stake.
    #[error("signers hold {stake} of {total} stake: not a quorum")]
    NoQuorum {
        /// Stake of the signers.
        stake: u64,
        /// Total stake.
        total: u64,
    },
}

impl Certificate {
    /// The validators whose precommits it holds.
    pub fn validators(&self) -> Vec<ValidatorIndex> {
        self.precommits.iter().map(|(validator, _)| *validator).collect()
    }

    /// Checks that the certificate proves `hash` decided at `height`: distinct validators of the
    /// set, each precommit signature valid for `(height, round, hash)`, more than two thirds of the
    /// stake. Checks the cheap rules before any signature.
    pub fn verify(
        &self,
        height: BlockNumber,
        hash: B256,
        validators: &ValidatorSet,
        chain_id: u64,
    ) -> Result<(), CertificateError> {
        if !self.precommits.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Err(CertificateError::NotAscending);
        }
        let mut stake: u64 = 0;
        for (validator, _) in &self.precommits {
            if !validators.contains(*validator) {
                let error = SignatureError::UnknownSigner(*validator);
                return Err(CertificateError::BadSignature { validator: *validator, error });
            }
            // Distinct members: the sum is at most the total stake, which fits u64.
            stake += validators.stake(*validator);
        }
        if !validators.is_quorum(stake) {
            return Err(CertificateError::NoQuorum { stake, total: validators.total_stake() });
        }
        let message = Message::Precommit { height, round: self.round, value: Some(hash) };
        for (validator, signature) in &self.precommits {
            verify_signature(&message, *validator, signature, validators, chain_id)
                .map_err(|error| CertificateError::BadSignature { validator: *validator, error })?;
        }
        Ok(())
    }
}

/// A committed block with its commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    /// The block.
    pub block: Block,
    /// Its hash.
    pub hash: B256,
    /// The signed precommits that decided it.
    pub certificate: Certificate,
}

/// Validator ↔ validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// A signed consensus vote, or a signed proposal with its block (`block` is set for proposals).
    Consensus {
        /// The signed consensus message.
        vote: SignedMessage,
        /// The proposed block, for `Message::Proposal`.
        block: Option<Box<Block>>,
    },
    /// Transactions admitted by the sender, forwarded so every proposer can include them.
    Txs(Vec<TxPacket>),
    /// "Send me committed blocks from this height on."
    SyncRequest {
        /// First height wanted.
        from_height: BlockNumber,
    },
    /// Committed blocks, in height order.
    SyncResponse {
        /// The blocks.
        blocks: Vec<CommittedBlock>,
    },
}

/// Frame bytes beyond a block's transactions and sidecars: the header, the signature, and a
/// length prefix of at most 5 bytes per transaction and 10 per sidecar (the most transactions a
/// block can hold is its gas limit over 21,000: under 15,000).
const BLOCK_OVERHEAD_BYTES: usize = 1 << 20;

/// A forwarded batch of transactions: the sender flushes before a batch would exceed it (one
/// transaction with its sidecar always fits: `zkcrowd_protocol::TX_PACKET_BYTES_MAX`).
pub const GOSSIP_BYTES_MAX: usize = 16 << 20;

/// A sync response: the responder stops adding blocks before it would exceed this (one block with
/// its certificate always fits).
pub const SYNC_RESPONSE_BYTES_MAX: usize = 2 * (BLOCK_BYTES_MAX + BLOCK_OVERHEAD_BYTES);

/// The most bytes a block takes in a frame: its transactions and sidecars, and the overhead.
pub fn block_wire_bytes(block: &Block) -> usize {
    use alloy::eips::eip2718::Encodable2718;
    let txs: usize = block.transactions.iter().map(|tx| tx.encode_2718_len() + 5).sum();
    let sidecars: usize = block.sidecars.iter().map(|sidecar| sidecar.bytes.len() + 10).sum();
    txs + sidecars + 4 * 1024
}

/// The most bytes a transaction takes in a forwarded batch.
pub fn packet_wire_bytes(packet: &TxPacket) -> usize {
    use alloy::eips::eip2718::Encodable2718;
    packet.envelope.encode_2718_len() + packet.sidecar.as_ref().map_or(0, |sidecar| sidecar.len()) + 16
}

impl Codec for PeerMessage {
    const FAMILY: &'static str = "peer message";

    fn kind(&self) -> u8 {
        match self {
            Self::Consensus { .. } => 0,
            Self::Txs(_) => 1,
            Self::SyncRequest { .. } => 2,
            Self::SyncResponse { .. } => 3,
        }
    }

    fn bytes_max(kind: u8) -> Option<usize> {
        match kind {
            0 => Some(BLOCK_BYTES_MAX + BLOCK_OVERHEAD_BYTES),
            1 => Some(GOSSIP_BYTES_MAX),
            2 => Some(zkcrowd_protocol::SMALL_MESSAGE_BYTES_MAX),
            3 => Some(SYNC_RESPONSE_BYTES_MAX),
            _ => None,
        }
    }

    fn kind_name(kind: u8) -> &'static str {
        ["consensus", "txs", "sync_request", "sync_response"].get(usize::from(kind)).copied().unwrap_or("unknown")
    }
}

/// Two signed messages of one validator for one slot (height, round, type) with different
/// contents: proof of equivocation anyone can check with the signer's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The first message this node received for the slot.
    pub first: SignedMessage,
    /// The conflicting one.
    pub second: SignedMessage,
}

impl Evidence {
    /// The equivocating validator.
    pub fn validator(&self) -> ValidatorIndex {
        self.first.signer
    }

    /// Whether this really proves equivocation: one signer, one slot, two different messages,
    /// both signatures valid.
    pub fn verify(&self, validators: &ValidatorSet, chain_id: u64) -> bool {
        let (a, b) = (&self.first.message, &self.second.message);
        self.first.signer == self.second.signer
            && (a.height(), a.round(), a.kind()) == (b.height(), b.round(), b.kind())
            && a != b
            && self.first.verify(validators, chain_id).is_ok()
            && self.second.verify(validators, chain_id).is_ok()
    }
}

/// The slot of a signed message: at most one message per slot from an honest validator.
pub(crate) fn slot(message: &Message, signer: ValidatorIndex) -> (BlockNumber, Round, MessageKind, ValidatorIndex) {
    (message.height(), message.round(), message.kind(), signer)
}
