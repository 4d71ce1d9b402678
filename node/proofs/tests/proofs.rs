//! Real proofs end to end: honest transfers, spans and aggregation trees prove and verify; every
//! tampering is refused by the circuit (proving fails) or by the verifier; the cache reloads.
//!
//! One [`ProofSystem`] is loaded (or built, when the cache under cargo's target tmp dir is missing
//! or stale) per test process and shared by its tests; `cache_reload` always builds. A leaf proof
//! costs about half a second and an aggregate about two on two cores, so fixtures that several
//! tests use are proven once per process.

use std::path::PathBuf;
use std::sync::OnceLock;

use alloy::primitives::{Address, B256};
use plonky2::field::types::Field;
use zkcrowd_ledger::{AccountLeaf, AccountLedger, Digest, F};
use zkcrowd_market::{
    ProofData, ProofKind, ProofVerifier, Statement, call_commitment, combine_commitments, transfer_commitment,
};
use zkcrowd_proofs::{
    AGGREGATE_PUBLIC_INPUTS, CallWitness, CircuitKind, LEAF_PUBLIC_INPUTS, ProofError, ProofSystem, RealProof,
    RealVerifier, SpanWitness, SystemOrigin, TransferWitness, Variant, WitnessError, tamper_public_input,
};

const BALANCE: u128 = 1_000_000_000_000_000_000_000;
const PROVER: Address = Address::repeat_byte(0xaa);

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkcrowd-proofs-tests")
}

fn system() -> &'static ProofSystem {
    static SYSTEM: OnceLock<ProofSystem> = OnceLock::new();
    // nextest runs each test in its own process, several at once, all sharing this directory: it
    // is never emptied here (one process would delete the file another is writing); a cache of
    // other circuits misses on its key and is replaced.
    SYSTEM.get_or_init(|| ProofSystem::load_or_build(&cache_dir()).expect("the proof system builds"))
}

fn address(byte: u8) -> Address {
    Address::with_last_byte(byte)
}

/// A ledger with accounts 1..=count, each holding [`BALANCE`].
fn funded(count: u8) -> AccountLedger {
    let mut ledger = AccountLedger::new();
    for byte in 1..=count {
        ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: BALANCE }).unwrap();
    }
    ledger
}

/// Applies a transfer to `ledger` as the chain does (two writes, lower address first), with `edit`
/// applied to the (sender, receiver) leaves the rules give before they are written: an honest
/// transfer with a no-op `edit`, a lying chain otherwise. Arithmetic wraps, so a lie can underflow.
fn transfer_with(
    ledger: &mut AccountLedger,
    from: u8,
    to: u8,
    value: u128,
    fee: u128,
    tx: u8,
    edit: impl FnOnce(&mut AccountLeaf, &mut AccountLeaf),
) -> TransferWitness {
    let sender = *ledger.get(&address(from)).unwrap();
    let receiver = ledger.get(&address(to)).copied();
    let mut sender_after = AccountLeaf {
        nonce: sender.nonce + 1,
        balance: sender.balance.wrapping_sub(value).wrapping_sub(fee),
        ..sender
    };
    let mut receiver_after = AccountLeaf {
        address: address(to),
        nonce: receiver.map_or(0, |r| r.nonce),
        balance: receiver.map_or(0, |r| r.balance).wrapping_add(value),
    };
    edit(&mut sender_after, &mut receiver_after);
    let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
    let writes = [ledger.upsert_recorded(first).unwrap(), ledger.upsert_recorded(second).unwrap()];
    TransferWitness { tx_hash: B256::repeat_byte(tx), value_wei: value, fee_wei: fee, writes }
}

fn transfer(ledger: &mut AccountLedger, from: u8, to: u8, value: u128, fee: u128, tx: u8) -> TransferWitness {
    transfer_with(ledger, from, to, value, fee, tx, |_, _| {})
}

/// What a lying chain would claim for a transfer: the roots around its writes and the commitment of
/// the transfer's fields, without checking any rule.
fn claimed_statement(witness: &TransferWitness, from: u8, to: u8, sender_nonce: u64) -> Statement {
    Statement {
        pre_root: witness.writes[0].root_before(),
        post_root: witness.writes[1].root_after(),
        commitment: transfer_commitment(
            witness.tx_hash,
            address(from),
            address(to),
            sender_nonce,
            witness.value_wei,
            witness.fee_wei,
        ),
        job_id: 1,
        prover: PROVER,
    }
}

/// The tampered witness gets no proof of `claimed`: the native check refuses it, and the circuit
/// on its own either refuses to prove it or proves something that does not verify as `claimed`.
fn assert_refused(witness: &TransferWitness, claimed: &Statement) {
    let system = system();
    assert!(witness.statement(claimed.job_id, claimed.prover).is_err(), "the native check refuses it");
    assert!(system.prove_transfer(witness, claimed.job_id, claimed.prover).is_err());
    match system.prove_transfer_unchecked(witness, claimed.job_id, claimed.prover) {
        Err(ProofError::Unsatisfied(reason)) => eprintln!("the circuit refuses to prove it: {reason:.200}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(proof) => {
            let verdict = system.verify(claimed, &proof.bytes);
            eprintln!("the circuit proved something else; verdict on the claim: {verdict:?}");
            assert!(verdict.is_err(), "a proof of the lie must not verify");
        }
    }
}

/// The circuit alone refuses what `result` tried to prove: proving fails, or the proof it made
/// does not verify.
fn assert_unprovable(result: Result<RealProof, ProofError>) {
    match result {
        Err(ProofError::Unsatisfied(_)) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(proof) => assert!(system().verify(&proof.statement, &proof.bytes).is_err(), "an invalid proof verified"),
    }
}

/// A transfer between existing accounts (3 → 1, so the receiver is written first).
fn existing_transfer() -> &'static (TransferWitness, RealProof) {
    static FIXTURE: OnceLock<(TransferWitness, RealProof)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut ledger = funded(4);
        let witness = transfer(&mut ledger, 3, 1, 1_000, 21, 1);
        let proof = system().prove_transfer(&witness, 1, PROVER).expect("an honest transfer proves");
        (witness, proof)
    })
}

/// A valid transfer to an existing receiver proves, verifies through the market's verifier as a
/// real proof, and proves exactly the natively computed statement.
#[test]
fn transfer_to_existing_receiver() {
    let (witness, proof) = existing_transfer();
    assert_eq!(proof.statement, witness.statement(1, PROVER).unwrap());
    assert_eq!(proof.kind(), Some(CircuitKind::Transfer));
    assert_eq!(system().claimed_statement(&proof.bytes), Ok(proof.statement));
    let verifier = RealVerifier(std::sync::Arc::new(ProofSystem::build().unwrap()));
    assert_eq!(verifier.verify(&proof.statement, &ProofData::Real(proof.bytes.clone().into())), Ok(ProofKind::Real));
}

/// A valid transfer to a new account (allocated from an empty slot) proves and verifies.
#[test]
fn transfer_to_new_receiver() {
    let mut ledger = funded(4);
    let witness = transfer(&mut ledger, 2, 9, 5, 1, 2);
    assert!(witness.writes[1].before.is_none(), "account 9 is new");
    let proof = system().prove_transfer(&witness, 7, PROVER).unwrap();
    system().verify(&witness.statement(7, PROVER).unwrap(), &proof.bytes).unwrap();
}

/// A proof does not verify for a statement with another post root, and a proof whose post-root
/// input was changed does not verify even for the statement that matches its inputs.
#[test]
fn wrong_post_root() {
    let system = system();
    let (_, proof) = existing_transfer();
    let mut other = proof.statement;
    other.post_root.elements[0] += F::ONE;
    let verdict = system.verify(&other, &proof.bytes).unwrap_err();
    assert!(verdict.contains("post root"), "{verdict}");
    let tampered = tamper_public_input(&proof.bytes, 4);
    let verdict = system.verify(&other, &tampered).unwrap_err();
    assert!(verdict.contains("does not verify"), "{verdict}");
}

/// Every public input is bound: changing any one of them breaks the proof, a leaf's statement
/// inputs and an aggregate's statement and anchor inputs alike.
#[test]
fn every_public_input_is_bound() {
    let system = system();
    let (_, proof) = existing_transfer();
    let block = block();
    let pair = system.prove_aggregate(&block.proofs[0], &block.proofs[1], 50, PROVER).unwrap();
    let leaf_inputs = [0, 7, 11, 12, 13, 14, LEAF_PUBLIC_INPUTS - 1];
    let aggregate_inputs = [0, 12, 18, 19, AGGREGATE_PUBLIC_INPUTS - 1];
    for (proof, indices) in [(proof, &leaf_inputs[..]), (&pair, &aggregate_inputs[..])] {
        for &index in indices {
            let tampered = tamper_public_input(&proof.bytes, index);
            let claimed = system.claimed_statement(&tampered).unwrap_or(proof.statement);
            assert!(system.verify(&claimed, &tampered).is_err(), "public input {index}");
        }
    }
}

/// A proof names its prover: it does not verify for a statement naming someone else (a proof
/// copied from the mempool is worthless), nor for another job.
#[test]
fn wrong_prover_or_job() {
    let (_, proof) = existing_transfer();
    let copied = Statement { prover: address(0xbb), ..proof.statement };
    assert!(system().verify(&copied, &proof.bytes).unwrap_err().contains("prover"));
    let other_job = Statement { job_id: 2, ..proof.statement };
    assert!(system().verify(&other_job, &proof.bytes).unwrap_err().contains("job id"));
}

/// The sender pays one wei less than value + fee.
#[test]
fn sender_pays_less() {
    let mut ledger = funded(4);
    let witness = transfer_with(&mut ledger, 1, 3, 1_000, 21, 3, |sender, _| sender.balance += 1);
    assert_refused(&witness, &claimed_statement(&witness, 1, 3, 0));
}

/// The receiver is credited one wei more than the value.
#[test]
fn receiver_gets_more() {
    let mut ledger = funded(4);
    let witness = transfer_with(&mut ledger, 3, 1, 1_000, 21, 3, |_, receiver| receiver.balance += 1);
    assert_refused(&witness, &claimed_statement(&witness, 3, 1, 0));
}

/// A sibling of the first write's path is changed: the path no longer opens the pre root.
#[test]
fn wrong_merkle_path() {
    let mut ledger = funded(4);
    let mut witness = transfer(&mut ledger, 1, 3, 1_000, 21, 4);
    let honest = claimed_statement(&witness, 1, 3, 0);
    witness.writes[0].siblings[2] = Digest { elements: [F::ONE; 4] };
    assert_refused(&witness, &honest);
}

/// The sender moves more than it has; the lying ledger stores the wrapped balance.
#[test]
fn sender_underflow() {
    let mut ledger = funded(4);
    ledger.upsert(AccountLeaf { address: address(2), nonce: 0, balance: 50 }).unwrap();
    let witness = transfer(&mut ledger, 2, 4, 100, 0, 5);
    assert_eq!(witness.writes[0].after.balance, 50u128.wrapping_sub(100));
    assert!(matches!(witness.statement(1, PROVER), Err(WitnessError::Underflow { .. })));
    assert_refused(&witness, &claimed_statement(&witness, 2, 4, 0));
}

/// The receiver's balance would pass 2^128; the lying ledger stores it wrapped.
#[test]
fn receiver_overflow() {
    let mut ledger = funded(4);
    ledger.upsert(AccountLeaf { address: address(4), nonce: 3, balance: u128::MAX - 5 }).unwrap();
    let witness = transfer(&mut ledger, 2, 4, 10, 0, 6);
    assert!(matches!(witness.statement(1, PROVER), Err(WitnessError::Overflow { .. })));
    assert_refused(&witness, &claimed_statement(&witness, 2, 4, 0));
}

/// The sender's nonce jumps by two.
#[test]
fn wrong_nonce() {
    let mut ledger = funded(4);
    let witness = transfer_with(&mut ledger, 1, 2, 10, 1, 7, |sender, _| sender.nonce += 1);
    assert!(matches!(witness.statement(1, PROVER), Err(WitnessError::Nonce { .. })));
    assert_refused(&witness, &claimed_statement(&witness, 1, 2, 0));
}

/// A market call on `ledger`: its sender's nonce +1 and balance − debit + credit.
fn call(ledger: &mut AccountLedger, who: u8, debit: u128, credit: u128, tx: u8) -> CallWitness {
    let before = *ledger.get(&address(who)).unwrap();
    let after = AccountLeaf { nonce: before.nonce + 1, balance: before.balance - debit + credit, ..before };
    CallWitness {
        tx_hash: B256::repeat_byte(tx),
        debit_wei: debit,
        credit_wei: credit,
        write: ledger.upsert_recorded(after).unwrap(),
    }
}

/// A span of one call and a full span of sixteen (repeating senders) prove and verify, with the
/// commitment folded left to right over the calls.
#[test]
fn spans_of_one_and_sixteen_calls() {
    let system = system();
    let mut ledger = funded(6);
    let one = SpanWitness { calls: vec![call(&mut ledger, 1, 7, 0, 1)] };
    let proof = system.prove_span(&one, 3, PROVER).unwrap();
    assert_eq!(proof.kind(), Some(CircuitKind::Span));
    let c = &one.calls[0];
    assert_eq!(proof.statement.commitment, call_commitment(c.tx_hash, address(1), 0, 7, 0));

    let calls: Vec<CallWitness> = (0..16u8)
        .map(|i| {
            let (debit, credit) = if i % 3 == 0 { (0, 1_000 + u128::from(i)) } else { (u128::from(i) * 11, 0) };
            call(&mut ledger, 1 + i % 6, debit, credit, 10 + i)
        })
        .collect();
    let sixteen = SpanWitness { calls };
    let pre = sixteen.calls[0].write.root_before();
    let proof = system.prove_span(&sixteen, 4, PROVER).unwrap();
    assert_eq!(proof.statement.pre_root, pre);
    assert_eq!(proof.statement.post_root, ledger.root());
    system.verify(&sixteen.statement(4, PROVER).unwrap(), &proof.bytes).unwrap();
}

/// A call that both debits and credits is refused by the circuit, not only by the native check.
#[test]
fn span_debit_and_credit() {
    let mut ledger = funded(2);
    let before = *ledger.get(&address(1)).unwrap();
    let write = ledger.upsert_recorded(AccountLeaf { nonce: 1, balance: before.balance - 5 + 3, ..before }).unwrap();
    let span = SpanWitness { calls: vec![CallWitness { tx_hash: B256::ZERO, debit_wei: 5, credit_wei: 3, write }] };
    assert!(matches!(span.statement(1, PROVER), Err(WitnessError::DebitAndCredit { .. })));
    assert_unprovable(system().prove_span_unchecked(&span, 1, PROVER));
}

/// A 16-transfer block over 20 accounts (one transfer creates account 21), each tx proven.
struct Block {
    pre_root: Digest,
    post_root: Digest,
    proofs: Vec<RealProof>,
}

fn block() -> &'static Block {
    static BLOCK: OnceLock<Block> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut ledger = funded(20);
        let pre_root = ledger.root();
        let proofs = (0..16u8)
            .map(|i| {
                let (from, to) = if i == 9 { (5, 21) } else { (1 + (i * 7) % 20, 1 + (i * 3 + 5) % 20) };
                let witness = transfer(&mut ledger, from, to, 1_000 + u128::from(i), 21_000, 100 + i);
                system().prove_transfer(&witness, u64::from(i), PROVER).unwrap()
            })
            .collect();
        Block { pre_root, post_root: ledger.root(), proofs }
    })
}

/// Folds proofs pairwise into a balanced tree, returning the root proof.
fn fold(mut level: Vec<RealProof>) -> RealProof {
    let mut job = 1_000;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                job += 1;
                system().prove_aggregate(&pair[0], &pair[1], job, address(0xcc)).unwrap()
            })
            .collect();
    }
    level.pop().unwrap()
}

/// Sixteen transfer proofs fold into one root proof (height 4) whose public inputs are the block's
/// first pre root, last post root and the balanced fold of the tx commitments.
#[test]
fn block_of_sixteen_aggregates_to_one_proof() {
    let block = block();
    let mut commitments: Vec<Digest> = block.proofs.iter().map(|p| p.statement.commitment).collect();
    while commitments.len() > 1 {
        commitments = commitments.chunks(2).map(|pair| combine_commitments(pair[0], pair[1])).collect();
    }
    let root = fold(block.proofs.clone());
    assert_eq!(root.kind(), Some(CircuitKind::Aggregate(Variant { left_leaf: false, right_leaf: false })));
    assert_eq!(root.statement.pre_root, block.pre_root);
    assert_eq!(root.statement.post_root, block.post_root);
    assert_eq!(root.statement.commitment, commitments[0]);
    let verifier = RealVerifier(std::sync::Arc::new(ProofSystem::load_or_build(&cache_dir()).unwrap()));
    assert_eq!(verifier.verify(&root.statement, &ProofData::Real(root.bytes.clone().into())), Ok(ProofKind::Real));
}

/// A caterpillar tree over the block, (((t1, t2), t3), ...), t16): height 15, every aggregate
/// above the first taking an aggregate and a transfer (the (aggregate, leaf) circuit).
#[test]
fn caterpillar_of_height_fifteen() {
    let block = block();
    let mut root = block.proofs[0].clone();
    for (height, leaf) in block.proofs[1..].iter().enumerate() {
        root = system().prove_aggregate(&root, leaf, 2_000 + height as u64, PROVER).unwrap();
    }
    assert_eq!((root.statement.pre_root, root.statement.post_root), (block.pre_root, block.post_root));
    let expected = block.proofs[1..]
        .iter()
        .fold(block.proofs[0].statement.commitment, |folded, p| combine_commitments(folded, p.statement.commitment));
    assert_eq!(root.statement.commitment, expected);
    system().verify(&root.statement, &root.bytes).unwrap();
}

/// An unbalanced tree ((t1, t2), s), a span beside an aggregate, also verifies; so does the mirror
/// image (t1, (t2, s)) under the (leaf, aggregate) circuit: any tree shape works.
#[test]
fn unbalanced_tree() {
    let system = system();
    let mut ledger = funded(5);
    let pre_root = ledger.root();
    let t1 = system.prove_transfer(&transfer(&mut ledger, 1, 2, 10, 1, 1), 1, PROVER).unwrap();
    let t2 = system.prove_transfer(&transfer(&mut ledger, 4, 3, 20, 2, 2), 2, PROVER).unwrap();
    let span = SpanWitness { calls: vec![call(&mut ledger, 5, 3, 0, 3), call(&mut ledger, 1, 0, 9, 4)] };
    let s = system.prove_span(&span, 3, PROVER).unwrap();
    let left = system.prove_aggregate(&t1, &t2, 4, PROVER).unwrap();
    let root = system.prove_aggregate(&left, &s, 5, PROVER).unwrap();
    assert_eq!(root.statement.pre_root, pre_root);
    assert_eq!(root.statement.post_root, ledger.root());
    let expected = combine_commitments(
        combine_commitments(t1.statement.commitment, t2.statement.commitment),
        s.statement.commitment,
    );
    assert_eq!(root.statement.commitment, expected);
    system.verify(&root.statement, &root.bytes).unwrap();

    let right = system.prove_aggregate(&t2, &s, 6, PROVER).unwrap();
    let mirror = system.prove_aggregate(&t1, &right, 7, PROVER).unwrap();
    assert_eq!((mirror.statement.pre_root, mirror.statement.post_root), (pre_root, ledger.root()));
}

/// Children whose roots do not chain are refused: natively, and by the circuit on its own.
#[test]
fn non_adjacent_children() {
    let block = block();
    let (t1, t3) = (&block.proofs[0], &block.proofs[2]);
    assert!(matches!(system().prove_aggregate(t1, t3, 9, PROVER), Err(ProofError::NotAdjacent { .. })));
    let reversed = system().prove_aggregate(&block.proofs[1], t1, 9, PROVER);
    assert!(matches!(reversed, Err(ProofError::NotAdjacent { .. })));
    assert_unprovable(system().prove_aggregate_unchecked(t1, t3, 9, PROVER));
}

/// A proof presented as another circuit's (its first byte changed) does not verify, and the
/// aggregation circuit refuses a child presented as the wrong kind.
#[test]
fn wrong_circuit_id() {
    let system = system();
    let (_, proof) = existing_transfer();
    let aggregates = Variant::ALL.map(CircuitKind::Aggregate);
    for id in [CircuitKind::Span].iter().chain(&aggregates) {
        let mut bytes = proof.bytes.clone();
        bytes[0] = id.byte();
        assert!(system.verify(&proof.statement, &bytes).is_err(), "presented as {id}");
    }
    // An aggregate presented as another variant's.
    let block = block();
    let pair = system.prove_aggregate(&block.proofs[0], &block.proofs[1], 50, PROVER).unwrap();
    assert_eq!(pair.kind(), Some(CircuitKind::Aggregate(Variant { left_leaf: true, right_leaf: true })));
    for id in &aggregates[..3] {
        let mut bytes = pair.bytes.clone();
        bytes[0] = id.byte();
        assert!(system.verify(&pair.statement, &bytes).is_err(), "presented as {id}");
    }
    let mut as_span = block.proofs[1].clone();
    as_span.bytes[0] = CircuitKind::Span.byte();
    assert!(matches!(system.prove_aggregate(&block.proofs[0], &as_span, 9, PROVER), Err(ProofError::Child { .. })));
    assert_unprovable(system.prove_aggregate_unchecked(&block.proofs[0], &as_span, 9, PROVER));
}

/// Malformed bytes get a verdict, not a panic; modeled proofs go to the modeled verifier.
#[test]
fn malformed_and_modeled() {
    let system = system();
    let (_, proof) = existing_transfer();
    let statement = proof.statement;
    for bytes in [
        vec![],
        vec![7u8; 10],
        vec![0u8, 1, 2, 3],
        proof.bytes[..proof.bytes.len() - 1].to_vec(),
        [proof.bytes.clone(), vec![0]].concat(),
    ] {
        assert!(system.verify(&statement, &bytes).is_err());
    }
    let verifier = RealVerifier(std::sync::Arc::new(ProofSystem::load_or_build(&cache_dir()).unwrap()));
    assert_eq!(verifier.verify(&statement, &ProofData::modeled_valid(&statement)), Ok(ProofKind::Modeled));
    assert!(verifier.verify(&statement, &ProofData::Modeled(B256::ZERO)).is_err());
}

/// Reloading the cache gives a system that verifies the original's proofs and whose proofs the
/// original verifies; a damaged cache is rebuilt and replaced.
#[test]
fn cache_reload() {
    let original = system();
    let (witness, proof) = existing_transfer();
    let reloaded = ProofSystem::load_or_build(&cache_dir()).unwrap();
    assert_eq!(reloaded.origin(), &SystemOrigin::Loaded);
    reloaded.verify(&proof.statement, &proof.bytes).unwrap();
    let again = reloaded.prove_transfer(witness, 2, PROVER).unwrap();
    original.verify(&again.statement, &again.bytes).unwrap();
    drop(reloaded);

    let damaged_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkcrowd-proofs-damaged-cache");
    let _ = std::fs::remove_dir_all(&damaged_dir);
    std::fs::create_dir_all(&damaged_dir).unwrap();
    // The proof system's file (the wrapper's cache may share the directory).
    let file = std::fs::read_dir(cache_dir())
        .unwrap()
        .map(Result::unwrap)
        .find(|entry| entry.file_name().to_string_lossy().starts_with("proof-system-"))
        .unwrap();
    let mut bytes = std::fs::read(file.path()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(damaged_dir.join(file.file_name()), bytes).unwrap();
    let rebuilt = ProofSystem::load_or_build(&damaged_dir).unwrap();
    match rebuilt.origin() {
        SystemOrigin::Built { cache_miss } => assert!(cache_miss.contains("checksum"), "{cache_miss}"),
        SystemOrigin::Loaded => panic!("a damaged cache must not load"),
    }
    drop(rebuilt);
    assert_eq!(ProofSystem::load_or_build(&damaged_dir).unwrap().origin(), &SystemOrigin::Loaded);
    std::fs::remove_dir_all(&damaged_dir).unwrap();
}
