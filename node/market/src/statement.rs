//! What a proof proves, and how the market checks it.
//!
//! A [`Statement`] is the public input of every proof: the ledger roots before and after the
//! covered transactions, a Poseidon commitment to those transactions, the job id and the prover's
//! address. Binding the prover's address makes a copied proof worthless to the copier; binding the
//! job id stops a proof from being replayed on another job.
//!
//! Commitments are Poseidon digests so that circuits can recompute them. A tx's commitment binds
//! its hash and its ledger effect ([`transfer_commitment`] for a transfer, [`call_commitment`] for
//! a market call; [`tx_commitment`], the hash alone, for txs no circuit proves); a system job's
//! folds the commitments of its txs left to right, and an aggregate's is `Poseidon(left, right)`.
//!
//! Verification goes through [`ProofVerifier`]. [`ModeledVerifier`] checks **modeled** proofs: a
//! record standing for a proof the simulation did not compute, valid when it carries
//! `keccak256("zkcrowd modeled proof v1" ‖ statement)`. Whether a plugin produces that value is
//! decided by its behaviour model; the verdict is labelled modeled wherever it appears. Real
//! plonky2 proofs are checked by the verifier of the proofs crate.

use alloy::primitives::{Address, B256, Bytes, keccak256};
use plonky2::field::types::Field;
use plonky2::hash::poseidon::PoseidonHash;
use plonky2::plonk::config::Hasher;
use zkcrowd_ledger::{Digest, F, address_limbs, digest_to_b256, u64_limbs, u128_limbs};

/// The L1 record a wrapped proof binds besides its statement's roots and commitment
/// (`Rollup.rangeBinding`: the chain id, the range, and the prover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrapRecord {
    /// The L2 chain's id.
    pub chain_id: u64,
    /// The range's first block.
    pub first_block: u64,
    /// Its last block.
    pub last_block: u64,
}

/// The public inputs a proof must bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Statement {
    /// Ledger root before the first covered transaction.
    pub pre_root: Digest,
    /// Ledger root after the last covered transaction.
    pub post_root: Digest,
    /// Poseidon commitment to the covered transactions.
    pub commitment: Digest,
    /// The job.
    pub job_id: u64,
    /// Who proved it.
    pub prover: Address,
}

impl Statement {
    /// Number of field elements in [`Self::to_fields`].
    pub const FIELDS: usize = 4 + 4 + 4 + 2 + 5;

    /// The public inputs as field elements, in circuit order.
    pub fn to_fields(&self) -> [F; Self::FIELDS] {
        let mut out = [F::ZERO; Self::FIELDS];
        out[0..4].copy_from_slice(&self.pre_root.elements);
        out[4..8].copy_from_slice(&self.post_root.elements);
        out[8..12].copy_from_slice(&self.commitment.elements);
        out[12..14].copy_from_slice(&u64_limbs(self.job_id));
        out[14..19].copy_from_slice(&address_limbs(self.prover));
        out
    }

    /// A canonical byte encoding (32 + 32 + 32 + 8 + 20 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(124);
        out.extend_from_slice(digest_to_b256(self.pre_root).as_slice());
        out.extend_from_slice(digest_to_b256(self.post_root).as_slice());
        out.extend_from_slice(digest_to_b256(self.commitment).as_slice());
        out.extend_from_slice(&self.job_id.to_be_bytes());
        out.extend_from_slice(self.prover.as_slice());
        out
    }
}

/// The commitment of a transaction no circuit proves (contract calls and creations, self-transfers):
/// `Poseidon(hash as eight 32-bit limbs, big-endian)`. Jobs over such txs only take modeled proofs.
pub fn tx_commitment(tx_hash: B256) -> Digest {
    PoseidonHash::hash_no_pad(&hash_limbs(tx_hash))
}

/// Whether `commitment`, the commitment of the tx `tx_hash`, binds the tx's ledger effect (a
/// [`transfer_commitment`] or a [`call_commitment`]) rather than its hash alone
/// ([`tx_commitment`]): only such txs have a shipped circuit.
pub fn binds_effect(commitment: Digest, tx_hash: B256) -> bool {
    commitment != tx_commitment(tx_hash)
}

/// Domain tag of [`transfer_commitment`].
pub const TRANSFER_COMMITMENT_TAG: u64 = 1;
/// Domain tag of [`call_commitment`].
pub const CALL_COMMITMENT_TAG: u64 = 2;

/// The commitment of a ZKPoW transfer between two distinct accounts, binding its ledger effect:
/// `Poseidon(1 ‖ hash(8) ‖ sender(5) ‖ receiver(5) ‖ nonce(2) ‖ value(4) ‖ fee(4))`, limbs as in
/// [`zkcrowd_ledger`]. The transfer circuit proves that the sender's leaf (nonce `nonce` → `nonce + 1`,
/// balance − value − fee, no underflow) and the receiver's leaf (balance + value, no overflow,
/// allocated if new) take the pre root to the post root. The chain, which executed the tx, computes
/// this from what it executed; the circuit does not re-derive the hash from the fields.
pub fn transfer_commitment(
    tx_hash: B256,
    sender: Address,
    receiver: Address,
    nonce: u64,
    value_wei: u128,
    fee_wei: u128,
) -> Digest {
    let mut fields = Vec::with_capacity(29);
    fields.push(F::from_canonical_u64(TRANSFER_COMMITMENT_TAG));
    fields.extend(hash_limbs(tx_hash));
    fields.extend(address_limbs(sender));
    fields.extend(address_limbs(receiver));
    fields.extend(u64_limbs(nonce));
    fields.extend(u128_limbs(value_wei));
    fields.extend(u128_limbs(fee_wei));
    PoseidonHash::hash_no_pad(&fields)
}

/// The commitment of a market call, binding its ledger effect on the sender (the only ledger leaf
/// a market call writes): `Poseidon(2 ‖ hash(8) ‖ sender(5) ‖ nonce(2) ‖ debit(4) ‖ credit(4))`,
/// where the sender's balance goes from `b` to `b − debit + credit` (exactly one of the two is
/// non-zero, or both are zero) and its nonce from `nonce` to `nonce + 1`. What the market did
/// (which proof it accepted, whom it paid) is executed by the validators, not proven.
pub fn call_commitment(tx_hash: B256, sender: Address, nonce: u64, debit_wei: u128, credit_wei: u128) -> Digest {
    let mut fields = Vec::with_capacity(24);
    fields.push(F::from_canonical_u64(CALL_COMMITMENT_TAG));
    fields.extend(hash_limbs(tx_hash));
    fields.extend(address_limbs(sender));
    fields.extend(u64_limbs(nonce));
    fields.extend(u128_limbs(debit_wei));
    fields.extend(u128_limbs(credit_wei));
    PoseidonHash::hash_no_pad(&fields)
}

/// A 32-byte hash as eight 32-bit limbs, big-endian.
pub fn hash_limbs(hash: B256) -> [F; 8] {
    std::array::from_fn(|i| {
        F::from_canonical_u32(u32::from_be_bytes(hash[4 * i..4 * i + 4].try_into().expect("4 bytes")))
    })
}

/// The commitment of two adjacent spans: `Poseidon(left, right)`.
pub fn combine_commitments(left: Digest, right: Digest) -> Digest {
    PoseidonHash::two_to_one(left, right)
}

/// A submitted proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofData {
    /// A modeled proof: its binding value (see the module documentation).
    Modeled(B256),
    /// A real proof's bytes (plonky2, verified by the proofs crate).
    Real(Bytes),
    /// A real proof carried beside the transaction, not in it: the tx names no bytes, and the
    /// chain hands the market the tx's sidecar (see `zkcrowd_chain::TxPacket`). Real proof bytes
    /// are not deterministic (plonky2 randomizes them), so they stay out of tx hashes and block
    /// hashes, like EIP-4844 blobs; what enters the state is only the verdict.
    Sidecar,
}

impl ProofData {
    /// Tag byte of a modeled proof in [`Self::encode`].
    pub const MODELED: u8 = 0;
    /// Tag byte of a real proof in [`Self::encode`].
    pub const REAL: u8 = 1;
    /// Tag byte of a proof in the tx's sidecar in [`Self::encode`].
    pub const SIDECAR: u8 = 2;

    /// The modeled proof of `statement` that [`ModeledVerifier`] accepts.
    pub fn modeled_valid(statement: &Statement) -> Self {
        Self::Modeled(modeled_binding(statement))
    }

    /// Wire form: a tag byte, then the binding or the proof bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match self {
            Self::Modeled(binding) => {
                out.push(Self::MODELED);
                out.extend_from_slice(binding.as_slice());
            }
            Self::Real(bytes) => {
                out.push(Self::REAL);
                out.extend_from_slice(bytes);
            }
            Self::Sidecar => out.push(Self::SIDECAR),
        }
        out.into()
    }

    /// Parses the wire form.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&Self::MODELED, rest)) if rest.len() == 32 => Ok(Self::Modeled(B256::from_slice(rest))),
            Some((&Self::MODELED, rest)) => Err(format!("modeled proof of {} bytes, expected 32", rest.len())),
            Some((&Self::REAL, rest)) => Ok(Self::Real(Bytes::copy_from_slice(rest))),
            Some((&Self::SIDECAR, [])) => Ok(Self::Sidecar),
            Some((&Self::SIDECAR, rest)) => Err(format!("sidecar marker with {} trailing bytes", rest.len())),
            Some((tag, _)) => Err(format!("unknown proof kind {tag}")),
            None => Err("empty proof".into()),
        }
    }

    /// Whether this is a real proof (in the tx or in its sidecar).
    pub fn is_real(&self) -> bool {
        matches!(self, Self::Real(_) | Self::Sidecar)
    }
}

/// `keccak256("zkcrowd modeled proof v1" ‖ statement.encode())`.
pub fn modeled_binding(statement: &Statement) -> B256 {
    let mut preimage = b"zkcrowd modeled proof v1".to_vec();
    preimage.extend_from_slice(&statement.encode());
    keccak256(preimage)
}

/// Whether a proof was real or modeled, once accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProofKind {
    /// A plonky2 proof, verified.
    Real,
    /// A modeled proof (simulation only).
    Modeled,
}

/// Checks a proof against its statement. Implementations must be deterministic: every validator
/// must reach the same verdict.
pub trait ProofVerifier: Send + Sync {
    /// `Ok(kind)` if `proof` proves `statement`, otherwise the reason it does not.
    fn verify(&self, statement: &Statement, proof: &ProofData) -> Result<ProofKind, String>;

    /// `Ok(kind)` if `proof` is a wrapped proof of a range (a `Wrap` job): a real one proves the
    /// statement's roots and commitment and binds `record` with the statement's prover (the proof
    /// the L1 verifies); a modeled record must match the statement, whose job id names the range.
    /// By default only modeled records are accepted.
    fn verify_wrap(&self, statement: &Statement, record: &WrapRecord, proof: &ProofData) -> Result<ProofKind, String> {
        let _ = record;
        match proof {
            ProofData::Real(_) => Err("no verifier of wrapped proofs is configured".into()),
            other => ModeledVerifier.verify(statement, other),
        }
    }
}

/// Verifies modeled proofs and refuses real ones (a chain that runs without the proofs crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct ModeledVerifier;

impl ProofVerifier for ModeledVerifier {
    fn verify(&self, statement: &Statement, proof: &ProofData) -> Result<ProofKind, String> {
        match proof {
            ProofData::Modeled(binding) if *binding == modeled_binding(statement) => Ok(ProofKind::Modeled),
            ProofData::Modeled(_) => Err("modeled proof does not match the statement".into()),
            ProofData::Real(_) => Err("no real-proof verifier is configured".into()),
            ProofData::Sidecar => Err("the proof's sidecar is missing".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modeled verifier accepts exactly the binding of the statement: any change of prover,
    /// roots or job id invalidates it, and the wire form round-trips.
    #[test]
    fn modeled_binding_is_specific() {
        let statement = Statement {
            pre_root: tx_commitment(B256::repeat_byte(1)),
            post_root: tx_commitment(B256::repeat_byte(2)),
            commitment: tx_commitment(B256::repeat_byte(3)),
            job_id: 9,
            prover: Address::repeat_byte(4),
        };
        let proof = ProofData::modeled_valid(&statement);
        assert_eq!(ModeledVerifier.verify(&statement, &proof), Ok(ProofKind::Modeled));
        assert_eq!(ProofData::decode(&proof.encode()), Ok(proof.clone()));
        let copied = Statement { prover: Address::repeat_byte(5), ..statement };
        assert!(ModeledVerifier.verify(&copied, &proof).is_err());
        let other_job = Statement { job_id: 10, ..statement };
        assert!(ModeledVerifier.verify(&other_job, &proof).is_err());
        assert!(ProofData::decode(&[7, 1]).is_err());
    }
}
