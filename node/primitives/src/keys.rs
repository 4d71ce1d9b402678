//! Deterministic development keys, like anvil's dev accounts but derived from an index, so a
//! genesis file can fund `dev_accounts: { count: 1000 }` and the simulator can sign for user 999
//! without shipping key files. Never use them for anything of value: the derivation is public.

use alloy::consensus::{SignableTransaction, Signed, TxEnvelope};
use alloy::primitives::{Address, B256, keccak256};
use alloy::signers::{Signature, SignerSync};

/// The local signer used for development keys: alloy's signer over the C secp256k1 library,
/// about three times faster at signing than the pure-Rust default (the simulator signs every
/// heartbeat and proof submission of thousands of plugins).
#[cfg(not(target_arch = "wasm32"))]
pub type DevSigner = alloy::signers::local::Secp256k1Signer;
/// The local signer used for development keys in WebAssembly (the web plugin): alloy's pure-Rust
/// k256 signer, the same keys and signatures.
#[cfg(target_arch = "wasm32")]
pub type DevSigner = alloy::signers::local::PrivateKeySigner;

/// The signer of development account `index`: its secret key is `keccak256("zkcrowd dev key" ‖ index)`.
pub fn dev_signer(index: u64) -> DevSigner {
    let mut preimage = b"zkcrowd dev key".to_vec();
    preimage.extend_from_slice(&index.to_be_bytes());
    let secret: B256 = keccak256(&preimage);
    // A keccak output is a valid secp256k1 secret except with probability ~2^-128.
    DevSigner::from_bytes(&secret).expect("dev key is a valid secp256k1 scalar")
}

/// The address of development account `index`.
pub fn dev_address(index: u64) -> Address {
    dev_signer(index).address()
}

/// Signs a transaction with `signer` (development keys, the simulator's users and plugins).
pub fn sign_tx<T, S>(signer: &S, tx: T) -> TxEnvelope
where
    S: SignerSync,
    T: SignableTransaction<Signature>,
    Signed<T>: Into<TxEnvelope>,
{
    let signature = signer.sign_hash_sync(&tx.signature_hash()).expect("local signing cannot fail");
    tx.into_signed(signature).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are stable across builds (a genesis file names these addresses) and distinct.
    #[test]
    fn dev_keys_are_stable_and_distinct() {
        assert_eq!(dev_address(0), dev_address(0));
        assert_ne!(dev_address(0), dev_address(1));
        // Pinned so that a change to the derivation is noticed: genesis files depend on it.
        assert_eq!(dev_address(0).to_string(), "0xf6469D4f16b5E772513877224aC942BDb1022a72");
    }
}
