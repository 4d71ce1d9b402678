//! Transactions: ordinary signed Ethereum transactions, decoded from raw EIP-2718 bytes and checked
//! before execution. Every refusal is a typed [`TxRejection`] with the numbers that explain it.

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{Transaction, TxEnvelope, TxType};
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::primitives::{Address, B256, Bytes, U256};
pub use zkcrowd_primitives::tx::{SIDECAR_BYTES_MAX, TxPacket, TxRejection, check_sidecar, envelope_serde};

/// A transaction that decoded and whose signature recovered: ready for stateful checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The decoded envelope.
    pub envelope: TxEnvelope,
    /// The recovered sender.
    pub sender: Address,
    /// The transaction hash (keccak of the EIP-2718 encoding).
    pub hash: B256,
    /// Size of the EIP-2718 encoding, in bytes.
    pub size_bytes: usize,
    /// A real proof carried beside the tx ([`TxPacket`]); not part of the tx hash.
    pub sidecar: Option<Bytes>,
}

impl SignedTx {
    /// Decodes raw EIP-2718 bytes and runs every check that needs no state: size, type, chain
    /// id, signature.
    pub fn decode(raw: &[u8], chain_id: u64, max_size_bytes: usize) -> Result<Self, TxRejection> {
        if raw.len() > max_size_bytes {
            return Err(TxRejection::Oversize { size_bytes: raw.len(), max_bytes: max_size_bytes });
        }
        let mut cursor = raw;
        let envelope =
            TxEnvelope::decode_2718(&mut cursor).map_err(|error| TxRejection::Malformed(error.to_string()))?;
        if !cursor.is_empty() {
            return Err(TxRejection::Malformed(format!("{} trailing bytes", cursor.len())));
        }
        Self::from_envelope(envelope, chain_id)
    }

    /// Checks an already decoded envelope (type, chain id, signature).
    pub fn from_envelope(envelope: TxEnvelope, chain_id: u64) -> Result<Self, TxRejection> {
        match envelope.tx_type() {
            TxType::Legacy | TxType::Eip2930 | TxType::Eip1559 => {}
            other => return Err(TxRejection::UnsupportedType(other as u8)),
        }
        match envelope.chain_id() {
            None => return Err(TxRejection::MissingChainId),
            Some(got) if got != chain_id => {
                return Err(TxRejection::WrongChainId { expected: chain_id, got });
            }
            Some(_) => {}
        }
        let sender = envelope.recover_signer().map_err(|error| TxRejection::BadSignature(error.to_string()))?;
        let hash = *envelope.tx_hash();
        let size_bytes = envelope.encode_2718_len();
        Ok(Self { envelope, sender, hash, size_bytes, sidecar: None })
    }

    /// Like [`Self::from_envelope`], recovering the sender through `cache` (keyed by tx hash:
    /// recovery is a pure function of the signed bytes, so a hit equals a fresh recovery).
    pub fn from_envelope_cached(envelope: TxEnvelope, chain_id: u64, cache: &SenderCache) -> Result<Self, TxRejection> {
        let hash = *envelope.tx_hash();
        if let Some(sender) = cache.get(&hash) {
            match envelope.chain_id() {
                Some(id) if id == chain_id => {}
                Some(got) => return Err(TxRejection::WrongChainId { expected: chain_id, got }),
                None => return Err(TxRejection::MissingChainId),
            }
            let size_bytes = envelope.encode_2718_len();
            return Ok(Self { envelope, sender, hash, size_bytes, sidecar: None });
        }
        let tx = Self::from_envelope(envelope, chain_id)?;
        cache.insert(hash, tx.sender);
        Ok(tx)
    }

    /// Attaches a sidecar.
    pub fn with_sidecar(mut self, sidecar: Option<Bytes>) -> Self {
        self.sidecar = sidecar;
        self
    }

    /// The tx as it travels.
    pub fn packet(&self) -> TxPacket {
        TxPacket { envelope: self.envelope.clone(), sidecar: self.sidecar.clone() }
    }

    /// The EIP-2718 encoding.
    pub fn encoded(&self) -> Bytes {
        self.envelope.encoded_2718().into()
    }

    /// The most the tx can cost the sender: `value + gas_limit × max_fee_per_gas`, saturating (a
    /// value near 2^256 must not wrap to a small cost; U256's operators wrap).
    pub fn max_cost(&self) -> U256 {
        // u64 × u128 fits in 192 bits: the product cannot wrap.
        let gas = U256::from(self.envelope.gas_limit()) * U256::from(self.envelope.max_fee_per_gas());
        gas.saturating_add(self.envelope.value())
    }
}

/// A bounded cache of recovered senders by tx hash (first in, first out). Recovery costs ~45 µs
/// (docs/benchmarks.md); a node meets each tx at admission and again in a block. Thread-safe, so
/// validators simulated in one process can share one.
#[derive(Debug)]
pub struct SenderCache {
    #[allow(
        clippy::disallowed_types,
        reason = "a cache looked up by hash; eviction follows the VecDeque's order, never the map's"
    )]
    inner: std::sync::Mutex<(std::collections::HashMap<B256, Address>, std::collections::VecDeque<B256>)>,
    capacity: usize,
}

impl SenderCache {
    /// A cache holding at most `capacity` senders.
    pub fn new(capacity: usize) -> Self {
        Self { inner: std::sync::Mutex::new(Default::default()), capacity: capacity.max(1) }
    }

    /// The sender recovered for `hash`, if cached.
    pub fn get(&self, hash: &B256) -> Option<Address> {
        self.inner.lock().expect("sender cache lock").0.get(hash).copied()
    }

    /// Remembers a recovered sender.
    pub fn insert(&self, hash: B256, sender: Address) {
        let mut guard = self.inner.lock().expect("sender cache lock");
        let (map, order) = &mut *guard;
        if map.insert(hash, sender).is_none() {
            order.push_back(hash);
            while order.len() > self.capacity {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }
}

pub use zkcrowd_primitives::sign_tx as sign;

#[cfg(test)]
pub(crate) mod test_support {
    //! Signing helpers shared by this crate's tests.
    use alloy::consensus::{SignableTransaction, TxEip1559, TxLegacy};
    use alloy::primitives::{Address, Bytes, TxKind, U256};

    use super::*;

    /// Signs an EIP-1559 transfer from development account `from`.
    pub(crate) fn transfer(from: u64, to: Address, value: u128, nonce: u64, chain_id: u64) -> TxEnvelope {
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(to),
            value: U256::from(value),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        sign(from, tx)
    }

    fn sign<T: SignableTransaction<alloy::signers::Signature>>(from: u64, tx: T) -> TxEnvelope
    where
        alloy::consensus::Signed<T>: Into<TxEnvelope>,
    {
        super::sign(&zkcrowd_primitives::dev_signer(from), tx)
    }

    /// Signs a legacy transaction, with or without EIP-155.
    pub(crate) fn legacy(from: u64, chain_id: Option<u64>, nonce: u64) -> TxEnvelope {
        let tx = TxLegacy {
            chain_id,
            nonce,
            gas_price: 10_000_000_000,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(0x42)),
            value: U256::from(1),
            input: Bytes::new(),
        };
        sign(from, tx)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    /// The stateless rejections: oversize, malformed, trailing bytes, no EIP-155, wrong chain,
    /// bad signature; and a good tx recovers its sender.
    #[test]
    fn stateless_rejections() {
        let good = transfer(1, Address::repeat_byte(2), 5, 0, 7);
        let raw = good.encoded_2718();
        let tx = SignedTx::decode(&raw, 7, 1024).unwrap();
        assert_eq!(tx.sender, zkcrowd_primitives::dev_address(1));

        assert!(matches!(SignedTx::decode(&raw, 7, 10), Err(TxRejection::Oversize { max_bytes: 10, .. })));
        assert!(matches!(SignedTx::decode(&[0xde, 0xad], 7, 1024), Err(TxRejection::Malformed(_))));
        let mut trailing = raw.clone();
        trailing.push(0);
        assert!(matches!(SignedTx::decode(&trailing, 7, 1024), Err(TxRejection::Malformed(_))));
        assert_eq!(SignedTx::decode(&raw, 8, 1024), Err(TxRejection::WrongChainId { expected: 8, got: 7 }));
        let pre_155 = legacy(1, None, 0).encoded_2718();
        assert_eq!(SignedTx::decode(&pre_155, 7, 1024), Err(TxRejection::MissingChainId));
        let with_155 = legacy(1, Some(7), 0).encoded_2718();
        assert!(SignedTx::decode(&with_155, 7, 1024).is_ok());

        // Flip a bit of `s` in the signature (the last 32 bytes before nothing: EIP-1559 ends
        // with y_parity, r, s): the signature no longer recovers the same sender, or none.
        let mut tampered = raw.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        match SignedTx::decode(&tampered, 7, 1024) {
            Err(TxRejection::BadSignature(_)) => {}
            Ok(other) => assert_ne!(other.sender, tx.sender, "tampered signature kept its sender"),
            Err(other) => panic!("unexpected rejection {other:?}"),
        }
        // s above n/2 (EIP-2) must be refused outright.
        let mut high_s = raw.clone();
        let s_start = high_s.len() - 32;
        high_s[s_start..].copy_from_slice(&[0xff; 32]);
        assert!(matches!(SignedTx::decode(&high_s, 7, 1024), Err(TxRejection::BadSignature(_))));
    }
}
