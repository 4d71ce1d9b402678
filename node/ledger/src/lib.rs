//! Merkle trees that commit to the ZKPoW ledgers, built on plonky2's own field and Poseidon hash so
//! the circuits prove exactly what the chain computes.
//!
//! * [`AccountLedger`]: every account's (address, nonce, balance); its root is the header's
//!   **ledger root**, and each committed tx records the root before and after it.
//! * [`MerkleTree`]: the left-packed tree behind it (a key gets a leaf index when first seen, Mina's
//!   design, so an update costs `depth` hashes), generic over its hash: [`Poseidon`] for what
//!   circuits open, [`Sha256`] for commitments only validators recompute (the market's).

mod account;
mod tree;

pub use account::{ACCOUNT_TREE_DEPTH, AccountLeaf, AccountLedger, LeafWrite};
pub use tree::{MerklePath, MerkleTree, Poseidon, Sha256, TreeError, TreeHasher, sha256};

use alloy::primitives::{Address, B256};
use plonky2::field::goldilocks_field::GoldilocksField;
use plonky2::field::types::{Field, Field64, PrimeField64};
use plonky2::hash::hash_types::HashOut;

/// The field of every hash and circuit: Goldilocks, p = 2^64 − 2^32 + 1.
pub type F = GoldilocksField;

/// A Poseidon digest: four field elements.
pub type Digest = HashOut<F>;

/// A digest as 32 bytes: each element's canonical value, big-endian, in order. This is how ledger
/// roots appear in block headers and on L1.
pub fn digest_to_b256(digest: Digest) -> B256 {
    let mut bytes = [0u8; 32];
    for (chunk, element) in bytes.chunks_exact_mut(8).zip(digest.elements) {
        chunk.copy_from_slice(&element.to_canonical_u64().to_be_bytes());
    }
    B256::from(bytes)
}

/// The inverse of [`digest_to_b256`]; `None` if a word is not a canonical field element.
pub fn b256_to_digest(bytes: B256) -> Option<Digest> {
    let mut elements = [F::ZERO; 4];
    for (element, chunk) in elements.iter_mut().zip(bytes.chunks_exact(8)) {
        let value = u64::from_be_bytes(chunk.try_into().expect("8-byte chunk"));
        if value >= F::ORDER {
            return None;
        }
        *element = F::from_canonical_u64(value);
    }
    Some(HashOut { elements })
}

/// Serde for a [`Digest`] as its 32 bytes ([`digest_to_b256`]): `#[serde(with = "zkcrowd_ledger::digest_serde")]`.
/// Decoding refuses a non-canonical word, so a message cannot carry a digest the chain could not
/// have made.
pub mod digest_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{B256, Digest, b256_to_digest, digest_to_b256};

    /// Serializes `digest` as 32 bytes.
    pub fn serialize<S: Serializer>(digest: &Digest, serializer: S) -> Result<S::Ok, S::Error> {
        digest_to_b256(*digest).serialize(serializer)
    }

    /// Deserializes 32 bytes of canonical field elements.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let bytes = B256::deserialize(deserializer)?;
        b256_to_digest(bytes).ok_or_else(|| serde::de::Error::custom("a digest word is not a canonical field element"))
    }

    /// The same for a list of digests.
    pub mod list {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::super::{B256, Digest, b256_to_digest, digest_to_b256};

        /// Serializes each digest as 32 bytes.
        pub fn serialize<S: Serializer>(digests: &[Digest], serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(digests.iter().map(|digest| digest_to_b256(*digest)))
        }

        /// Deserializes a list of canonical digests (serde caps the allocation a sender's length
        /// prefix can ask for).
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Digest>, D::Error> {
            Vec::<B256>::deserialize(deserializer)?
                .into_iter()
                .map(|bytes| {
                    b256_to_digest(bytes)
                        .ok_or_else(|| serde::de::Error::custom("a digest word is not a canonical field element"))
                })
                .collect()
        }
    }
}

/// An address as five 32-bit limbs, most significant first: how circuits see addresses.
pub fn address_limbs(address: Address) -> [F; 5] {
    let bytes = address.as_slice();
    std::array::from_fn(|i| {
        F::from_canonical_u32(u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes")))
    })
}

/// A `u128` as four 32-bit limbs, most significant first.
pub fn u128_limbs(value: u128) -> [F; 4] {
    std::array::from_fn(|i| F::from_canonical_u32((value >> (32 * (3 - i))) as u32))
}

/// A `u64` as two 32-bit limbs, most significant first.
pub fn u64_limbs(value: u64) -> [F; 2] {
    [F::from_canonical_u32((value >> 32) as u32), F::from_canonical_u32(value as u32)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use plonky2::hash::poseidon::PoseidonHash;
    use plonky2::plonk::config::Hasher;

    /// The byte encoding of digests round-trips and rejects non-canonical words.
    #[test]
    fn digest_bytes_round_trip() {
        let digest = PoseidonHash::hash_no_pad(&[F::from_canonical_u64(7)]);
        assert_eq!(b256_to_digest(digest_to_b256(digest)), Some(digest));
        assert_eq!(b256_to_digest(B256::repeat_byte(0xff)), None);
    }

    /// Limbs are big-endian 32-bit words.
    #[test]
    fn limbs() {
        assert_eq!(u64_limbs(0x1_0000_0002), [F::ONE, F::TWO]);
        assert_eq!(u128_limbs(3), [F::ZERO, F::ZERO, F::ZERO, F::from_canonical_u32(3)]);
        let address = Address::with_last_byte(9);
        assert_eq!(address_limbs(address)[4], F::from_canonical_u32(9));
    }
}
