//! The wrapper and the generated L1 verifier, on the Rust side: wrapped proofs of both kinds of
//! range root (leaf, aggregate) verify and bind their range record; the calldata encoding round-trips and refuses
//! non-canonical elements; the transcript the contract replays gives plonky2's challenges; the
//! committed contracts are what the generator writes today (the CI staleness check).
//!
//! One proof system and one wrapper (both cached under cargo's target tmp dir) are built per test
//! process (about a minute on two cores; a wrapped proof costs 15-40 s more), so the proving checks
//! are one test.

use std::path::PathBuf;
use std::sync::OnceLock;

use alloy::primitives::{Address, B256, keccak256};
use alloy::sol_types::SolValue;
use plonky2::field::types::Field;
use zkcrowd_ledger::{AccountLeaf, AccountLedger, F, digest_to_b256};
use zkcrowd_proofs::solidity::{self, DecodeError, Layout, Shape, challenges, decode_proof, encode_proof};
use zkcrowd_proofs::{
    KeccakC, ProofSystem, RangeRecord, RealProof, SystemOrigin, TransferWitness, WrapInputs, Wrapper,
};

const PROVER: Address = Address::repeat_byte(0xaa);

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkcrowd-proofs-tests")
}

fn system() -> &'static ProofSystem {
    static SYSTEM: OnceLock<ProofSystem> = OnceLock::new();
    SYSTEM.get_or_init(|| ProofSystem::load_or_build(&cache_dir()).expect("the proof system builds"))
}

fn wrapper() -> &'static Wrapper {
    static WRAPPER: OnceLock<Wrapper> = OnceLock::new();
    WRAPPER.get_or_init(|| Wrapper::load_or_build(system(), &cache_dir()).expect("the wrapper builds"))
}

fn address(byte: u8) -> Address {
    Address::with_last_byte(byte)
}

fn transfer(ledger: &mut AccountLedger, from: u8, to: u8, tx: u8) -> TransferWitness {
    let sender = *ledger.get(&address(from)).unwrap();
    let receiver = *ledger.get(&address(to)).unwrap();
    let sender_after = AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance - 22_000, ..sender };
    let receiver_after = AccountLeaf { balance: receiver.balance + 1_000, ..receiver };
    let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
    let writes = [ledger.upsert_recorded(first).unwrap(), ledger.upsert_recorded(second).unwrap()];
    TransferWitness { tx_hash: B256::repeat_byte(tx), value_wei: 1_000, fee_wei: 21_000, writes }
}

/// A transfer leaf and an aggregate of two transfers (the two stage-1 circuits), proven once.
fn roots() -> &'static (RealProof, RealProof) {
    static ROOTS: OnceLock<(RealProof, RealProof)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let system = system();
        let mut ledger = AccountLedger::new();
        for byte in 1..=10 {
            ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: 1 << 90 }).unwrap();
        }
        let leaf = system.prove_transfer(&transfer(&mut ledger, 3, 7, 1), 1, PROVER).unwrap();
        let right = system.prove_transfer(&transfer(&mut ledger, 5, 2, 2), 2, PROVER).unwrap();
        let aggregate = system.prove_aggregate(&leaf, &right, 3, PROVER).unwrap();
        (leaf, aggregate)
    })
}

const RECORD: RangeRecord = RangeRecord { chain_id: 7, first_block: 4, last_block: 9, prover: PROVER };

/// The wrapped aggregate for [`RECORD`], proven once.
fn wrapped() -> &'static plonky2::plonk::proof::ProofWithPublicInputs<F, KeccakC, 2> {
    static WRAPPED: OnceLock<plonky2::plonk::proof::ProofWithPublicInputs<F, KeccakC, 2>> = OnceLock::new();
    WRAPPED.get_or_init(|| wrapper().wrap(system(), &roots().1, &RECORD).expect("wrapping an aggregate"))
}

/// A wrapped leaf and a wrapped aggregate verify, expose the root's roots and commitment and the
/// record's binding, and changing any public input makes plonky2 refuse the proof; the aggregate's
/// calldata round-trips (and the decoder refuses a non-canonical element and a wrong length); the
/// transcript the contract replays gives plonky2's challenges. (One test: nextest runs each test in
/// its own process, and each builds the circuits.)
#[test]
fn wrapped_proofs_verify_bind_and_encode() {
    let (leaf, aggregate) = roots();
    let wrapped_leaf = wrapper().wrap(system(), leaf, &RECORD).unwrap();
    for (root, proof) in [(leaf, &wrapped_leaf), (aggregate, wrapped())] {
        wrapper().verify(proof).unwrap();
        let inputs = Wrapper::inputs_of(proof).unwrap();
        assert_eq!(inputs.pre_root, digest_to_b256(root.statement.pre_root));
        assert_eq!(inputs.post_root, digest_to_b256(root.statement.post_root));
        assert_eq!(inputs.commitment, digest_to_b256(root.statement.commitment));
        assert_eq!(inputs.binding, RECORD.binding());
        for index in 0..proof.public_inputs.len() {
            let mut tampered = proof.clone();
            tampered.public_inputs[index] += F::ONE;
            assert!(wrapper().verify(&tampered).is_err(), "public input {index} changed and still verified");
        }
    }
    // The wrapper reloaded from its cache has the same verifier data and verifies what the first
    // one proved. (Proving with a reloaded wrapper was shown once, by the testnet's plugins in a
    // CI run whose wrapped proofs the generated verifier accepted on anvil, and by `zkcrowd
    // calibrate`; nothing in production loads the wrapper now, and a second wrap here would cost
    // CI ~40 s.)
    let reloaded = Wrapper::load_or_build(system(), &cache_dir()).unwrap();
    assert_eq!(reloaded.origin(), &SystemOrigin::Loaded);
    assert_eq!(reloaded.final_verifier(), wrapper().final_verifier());
    reloaded.verify(&wrapped_leaf).unwrap();
    calldata_round_trips_and_refuses_bad_encodings();
    transcript_model_matches_plonky2();
}

/// The binding is keccak256(abi.encode(uint64, uint64, uint64, address)) with each word's top bit
/// cleared, so all four words are canonical field elements; any field of the record changes it.
#[test]
fn binding_is_the_masked_abi_hash() {
    let expected = {
        let mut hash = keccak256((RECORD.chain_id, RECORD.first_block, RECORD.last_block, RECORD.prover).abi_encode());
        for word in hash.0.chunks_exact_mut(8) {
            word[0] &= 0x7f;
        }
        hash
    };
    assert_eq!(RECORD.binding(), expected);
    let inputs =
        WrapInputs { pre_root: B256::ZERO, post_root: B256::ZERO, commitment: B256::ZERO, binding: RECORD.binding() };
    assert!(inputs.to_fields().is_some(), "the binding is four canonical elements");
    for changed in [
        RangeRecord { chain_id: 8, ..RECORD },
        RangeRecord { first_block: 5, ..RECORD },
        RangeRecord { last_block: 10, ..RECORD },
        RangeRecord { prover: address(1), ..RECORD },
    ] {
        assert_ne!(changed.binding(), RECORD.binding(), "{changed:?}");
    }
}

/// The committed contracts are exactly what the generator writes for today's circuits (run
/// `cargo run --release -p zkcrowd-proofs --bin zkcrowd-verifier-gen` after changing a circuit). The
/// circuits are built in this process, the committed files by another: this also checks that
/// building the circuits is deterministic.
#[test]
fn committed_verifier_is_fresh() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in solidity::generate(wrapper()).unwrap() {
        let committed = std::fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        assert!(committed == file.contents, "{} is stale: run zkcrowd-verifier-gen", file.path);
    }
}

/// Calldata round-trips to the same proof, has the layout's length, and the decoder refuses a
/// non-canonical element (p written over the first opening) and a wrong length.
fn calldata_round_trips_and_refuses_bad_encodings() {
    let shape = Shape::of(wrapper().final_common()).unwrap();
    let layout = Layout::of(&shape);
    let proof = wrapped();
    let calldata = encode_proof(&shape, proof).unwrap();
    assert_eq!(calldata.len(), layout.total);
    let decoded = decode_proof(&shape, &calldata, proof.public_inputs.clone()).unwrap();
    assert_eq!(&decoded, proof);
    let mut bad = calldata.clone();
    bad[layout.openings..layout.openings + 8].copy_from_slice(&0xffff_ffff_0000_0001u64.to_le_bytes());
    assert_eq!(
        decode_proof(&shape, &bad, proof.public_inputs.clone()),
        Err(DecodeError::NonCanonical { offset: layout.openings })
    );
    assert!(matches!(
        decode_proof(&shape, &calldata[1..], proof.public_inputs.clone()),
        Err(DecodeError::Length { .. })
    ));
}

/// The transcript model the contract replays (constant prefix, then the proof in calldata order)
/// gives exactly plonky2's challenges.
fn transcript_model_matches_plonky2() {
    let proof = wrapped();
    let common = wrapper().final_common();
    let digest = wrapper().final_verifier().circuit_digest;
    let public_inputs_hash = proof.get_public_inputs_hash();
    let expected = proof.get_challenges(public_inputs_hash, &digest, common).unwrap();
    let model = challenges(common, &digest, proof);
    assert_eq!(model.betas, expected.plonk_betas);
    assert_eq!(model.gammas, expected.plonk_gammas);
    assert_eq!(model.alphas, expected.plonk_alphas);
    assert_eq!(solidity::from_coordinates(model.zeta), expected.plonk_zeta);
    let fri = &expected.fri_challenges;
    assert_eq!(solidity::from_coordinates(model.fri_alpha), fri.fri_alpha);
    let betas: Vec<_> = model.fri_betas.iter().map(|&b| solidity::from_coordinates(b)).collect();
    assert_eq!(betas, fri.fri_betas);
    assert_eq!(model.pow_response, fri.fri_pow_response);
    assert_eq!(model.query_indices, fri.fri_query_indices);
}
