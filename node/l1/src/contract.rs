//! Bindings of the project's Solidity contracts and the keys that use them.
//!
//! The ABI is declared here with `sol!` (checked against the artifacts by the tests); the bytecode
//! is read from forge's output (`contracts/out`, built by `scripts/setup`), so the L1 runs exactly
//! what `forge test` tested.

#![allow(
    clippy::too_many_arguments,
    reason = "`sol!` generates a constructor per struct and event: the Rollup's range record and event have nine fields"
)]

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, Bytes, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolInterface;
use sha2::{Digest as _, Sha256};

use crate::backend::L1Error;

alloy::sol! {
    /// `contracts/src/Rollup.sol`.
    #[derive(Debug, PartialEq, Eq)]
    interface IRollup {
        /// An accepted range of L2 blocks (only its hash is stored).
        struct RangeRecord {
            uint64 first;
            uint64 last;
            bytes32 preRoot;
            bytes32 postRoot;
            bytes32 txCommitment;
            address prover;
            address agent;
            uint64 slot;
            uint64 acceptedAt;
        }
        /// A range was accepted.
        event RangeAccepted(uint64 indexed first, uint64 last, bytes32 preRoot, bytes32 postRoot, bytes32 txCommitment, address prover, address indexed agent, uint64 slot, bytes32 recordHash);
        /// Bad deployment parameters.
        error InvalidConfig(string what);
        /// The sender does not own the current slot.
        error NotSlotOwner(address sender, address owner, uint64 slot);
        /// The range does not start at the next block.
        error WrongBlockNumber(uint64 expected, uint64 got);
        /// The range ends before it starts.
        error EmptyRange(uint64 first, uint64 last);
        /// The pre root is not the last accepted post root.
        error WrongPreRoot(bytes32 expected, bytes32 got);
        /// The verifier rejected the proof.
        error InvalidProof();
        /// Submits the next range of fully proven L2 blocks with its wrapped proof.
        function submitRange(uint64 first, uint64 last, bytes32 preRoot, bytes32 postRoot, bytes32 txCommitment, address prover, bytes calldata proof) external;
        /// The public inputs a range proof must prove.
        function rangeInputs(uint64 first, uint64 last, bytes32 preRoot, bytes32 postRoot, bytes32 txCommitment, address prover) external view returns (bytes32[] memory inputs);
        /// The last accepted block and its post root.
        function provenHead() external view returns (uint64 number, bytes32 postRoot);
        /// The stored hash of the range starting at `first` (zero if none).
        function rangeRecordHash(uint64 first) external view returns (bytes32);
        /// The slot of the current block's timestamp.
        function currentSlot() external view returns (uint64);
        /// The owner of a slot.
        function slotOwner(uint64 slot) external view returns (address);
        /// The submission agents.
        function agents() external view returns (address[] memory);
        /// Timestamp of slot 0.
        function genesisTime() external view returns (uint64);
    }

    /// `contracts/src/simulation/ModeledProofVerifier.sol` (simulation only).
    interface IModeledProofVerifier {
        /// Always true: marks the verifier as unfit for production.
        function SIMULATION_ONLY() external pure returns (bool);
        /// Whether `proof` is the modeled record of `publicInputs`.
        function verify(bytes calldata proof, bytes32[] calldata publicInputs) external pure returns (bool);
    }
}

/// `Rollup`'s constructor arguments, ABI-encoded after the creation code; `l2_chain_id` is what
/// range proofs bind.
pub fn rollup_constructor_args(
    verifier: Address,
    agents: &[Address],
    slot_seconds: u64,
    genesis_root: B256,
    l2_chain_id: u64,
) -> Vec<u8> {
    use alloy::sol_types::SolValue;
    (verifier, agents.to_vec(), slot_seconds, genesis_root, l2_chain_id).abi_encode_params()
}

/// `Rollup.rangeBinding`: `keccak256(abi.encode(l2ChainId, first, last, prover))` with the top bit
/// of each 8-byte word cleared (four canonical Goldilocks elements: the wrapped proof's fourth
/// public-input word).
pub fn range_binding(l2_chain_id: u64, first: u64, last: u64, prover: Address) -> B256 {
    use alloy::sol_types::SolValue;
    let mut hash = keccak256((l2_chain_id, first, last, prover).abi_encode_params());
    for word in hash.0.chunks_exact_mut(8) {
        word[0] &= 0x7f;
    }
    hash
}

/// The modeled proof record the simulation-only verifier accepts:
/// `keccak256(abi.encode(keccak256("zkcrowd.modeled-proof.v1"), publicInputs))`.
pub fn modeled_proof_record(public_inputs: &[B256; 4]) -> Bytes {
    use alloy::sol_types::SolValue;
    let tag = keccak256("zkcrowd.modeled-proof.v1");
    Bytes::copy_from_slice(keccak256((tag, public_inputs.to_vec()).abi_encode_params()).as_slice())
}

/// Why a Rollup call reverted: its custom errors decoded, else `Error(string)`, else the raw data.
/// Serialized by variant name for event logs (`{"wrong_pre_root": {"expected": …, "got": …}}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum RevertReason {
    /// `InvalidConfig(string)`.
    #[error("InvalidConfig({what})")]
    InvalidConfig {
        /// What is wrong.
        what: String,
    },
    /// `NotSlotOwner(address,address,uint64)`.
    #[error("NotSlotOwner(sender {sender}, owner {owner}, slot {slot})")]
    NotSlotOwner {
        /// The submitter.
        sender: Address,
        /// The slot's owner.
        owner: Address,
        /// The slot.
        slot: u64,
    },
    /// `WrongBlockNumber(uint64,uint64)`.
    #[error("WrongBlockNumber(expected {expected}, got {got})")]
    WrongBlockNumber {
        /// The next block the Rollup takes.
        expected: u64,
        /// The submitted number.
        got: u64,
    },
    /// `WrongPreRoot(bytes32,bytes32)`.
    #[error("WrongPreRoot(expected {expected}, got {got})")]
    WrongPreRoot {
        /// The last accepted post root.
        expected: B256,
        /// The submitted pre root.
        got: B256,
    },
    /// `InvalidProof()`.
    #[error("InvalidProof()")]
    InvalidProof,
    /// `EmptyRange(uint64,uint64)`.
    #[error("EmptyRange(first {first}, last {last})")]
    EmptyRange {
        /// The range's first block.
        first: u64,
        /// Its last block, before the first.
        last: u64,
    },
    /// `Error(string)` (a `require` message, or a panic code's description).
    #[error("{0}")]
    Message(String),
    /// No revert data.
    #[error("reverted without data")]
    Empty,
    /// Revert data no ABI here decodes.
    #[error("reverted with {0}")]
    Undecoded(Bytes),
}

impl RevertReason {
    /// The error's name without its arguments (`WrongPreRoot`), for counting by class.
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "InvalidConfig",
            Self::NotSlotOwner { .. } => "NotSlotOwner",
            Self::WrongBlockNumber { .. } => "WrongBlockNumber",
            Self::WrongPreRoot { .. } => "WrongPreRoot",
            Self::InvalidProof => "InvalidProof",
            Self::EmptyRange { .. } => "EmptyRange",
            Self::Message(_) => "Error",
            Self::Empty => "empty",
            Self::Undecoded(_) => "undecoded",
        }
    }
}

/// Decodes a revert's data (see [`RevertReason`]).
pub fn decode_revert(data: &[u8]) -> RevertReason {
    if let Ok(error) = IRollup::IRollupErrors::abi_decode(data) {
        return match error {
            IRollup::IRollupErrors::InvalidConfig(e) => RevertReason::InvalidConfig { what: e.what },
            IRollup::IRollupErrors::NotSlotOwner(e) => {
                RevertReason::NotSlotOwner { sender: e.sender, owner: e.owner, slot: e.slot }
            }
            IRollup::IRollupErrors::WrongBlockNumber(e) => {
                RevertReason::WrongBlockNumber { expected: e.expected, got: e.got }
            }
            IRollup::IRollupErrors::WrongPreRoot(e) => RevertReason::WrongPreRoot { expected: e.expected, got: e.got },
            IRollup::IRollupErrors::InvalidProof(_) => RevertReason::InvalidProof,
            IRollup::IRollupErrors::EmptyRange(e) => RevertReason::EmptyRange { first: e.first, last: e.last },
        };
    }
    if let Some(message) = alloy::sol_types::decode_revert_reason(data) {
        return RevertReason::Message(message);
    }
    if data.is_empty() { RevertReason::Empty } else { RevertReason::Undecoded(Bytes::copy_from_slice(data)) }
}

/// A revert's data as a readable reason ([`decode_revert`], displayed).
pub fn revert_reason(data: &[u8]) -> String {
    decode_revert(data).to_string()
}

/// Where forge writes the artifacts: `$ZKCROWD_CONTRACTS_OUT`, else `contracts/out` of this checkout.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("ZKCROWD_CONTRACTS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/out"))
}

/// The creation bytecode of `contract` (in `file`) from forge's artifacts.
pub fn creation_code(file: &str, contract: &str) -> Result<Bytes, L1Error> {
    let path = artifacts_dir().join(file).join(format!("{contract}.json"));
    let missing = |why: String| L1Error::Artifact { path: path.display().to_string(), why };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| missing(format!("{e} (run scripts/setup: it builds contracts/ with forge)")))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| missing(e.to_string()))?;
    let hex = json["bytecode"]["object"].as_str().ok_or_else(|| missing("no bytecode.object".to_owned()))?;
    let bytes: Bytes = hex.parse().map_err(|e| missing(format!("bytecode: {e}")))?;
    if bytes.is_empty() {
        return Err(missing("empty bytecode (abstract contract or interface?)".to_owned()));
    }
    Ok(bytes)
}

/// A deterministic L1 key: `sha256("zkcrowd.l1", role, seed, index)`, so the same seed gives the
/// same agents, deployer, nonces and therefore tx hashes.
pub fn l1_signer(role: &str, seed: u64, index: u64) -> PrivateKeySigner {
    let mut hasher = Sha256::new();
    hasher.update(b"zkcrowd.l1");
    hasher.update(role.as_bytes());
    hasher.update(seed.to_be_bytes());
    hasher.update(index.to_be_bytes());
    let key = B256::from_slice(&hasher.finalize());
    PrivateKeySigner::from_bytes(&key).expect("a sha256 digest is a valid secp256k1 key with overwhelming probability")
}
