//! The Rollup contract end to end, on a real anvil process and on the embedded revm L1: deploy,
//! submit three ranges from the slot owners, read their record hashes back; out-of-slot and
//! wrong-pre-root submissions revert with their reasons; the contract's range inputs (with the
//! binding) equal the Rust side's; both L1s charge the same gas.

use alloy::primitives::{Address, B256, keccak256};
use zkcrowd_l1::anvil::AnvilConfig;
use zkcrowd_l1::contract::{l1_signer, revert_reason};
use zkcrowd_l1::{AnvilL1, Deployment, EmbeddedL1, L1Backend, ProvenRange, SubmissionAgent, VerifierKind};

const CHAIN_ID: u64 = 31_337;
const GENESIS_TIMESTAMP: u64 = 1_700_000_000;
const SLOT_SECONDS: u64 = 12;
const L2_CHAIN_ID: u64 = 7_777;

fn root(n: u64) -> B256 {
    keccak256(format!("ledger root {n}"))
}

/// What a scripted run observed, to compare the two L1s.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    tx_hashes: Vec<B256>,
    gas: Vec<u64>,
    reasons: Vec<String>,
}

/// Deploys with three agents, then: range [1, 1] by the slot-1 owner, an out-of-slot attempt, a
/// wrong pre root, ranges [2, 3] and [4, 5] in later slots; reads the chain back.
fn scenario(l1: &mut dyn L1Backend) -> Observed {
    let mut agents: Vec<SubmissionAgent> =
        (0..3).map(|i| SubmissionAgent::new(l1_signer("agent", 7, i), l1.chain_id(), 0)).collect();
    let addresses: Vec<Address> = agents.iter().map(SubmissionAgent::address).collect();
    let deployment = Deployment::deploy(
        l1,
        l1_signer("deployer", 7, 0),
        VerifierKind::Modeled,
        &addresses,
        SLOT_SECONDS,
        root(0),
        L2_CHAIN_ID,
        GENESIS_TIMESTAMP + 1,
    )
    .expect("deploys");
    assert_eq!(deployment.proven_head(l1).unwrap(), (0, root(0)));
    let blocks: Vec<ProvenRange> = [(1, 1), (2, 3), (4, 5)]
        .into_iter()
        .map(|(first, last)| {
            let commitment = keccak256(format!("txs {first}-{last}"));
            let prover = Address::repeat_byte(first as u8);
            ProvenRange::modeled(L2_CHAIN_ID, first, last, root(first - 1), root(last), commitment, prover)
        })
        .collect();
    for range in &blocks {
        let inputs = deployment
            .range_inputs(
                l1,
                range.first,
                range.last,
                range.pre_root,
                range.post_root,
                range.tx_commitment,
                range.prover,
            )
            .unwrap();
        assert_eq!(inputs, range.public_inputs(), "the contract's range inputs and binding are the Rust side's");
    }
    let schedule = deployment.schedule.clone();
    let mut observed = Observed { tx_hashes: Vec::new(), gas: Vec::new(), reasons: Vec::new() };
    let mut mine = |l1: &mut dyn L1Backend, slot: u64, sends: Vec<alloy::consensus::TxEnvelope>| {
        for tx in &sends {
            observed.tx_hashes.push(l1.send(tx).expect("sent"));
        }
        let block = l1.mine(schedule.genesis_time + slot * SLOT_SECONDS + 1).expect("mined");
        assert_eq!(schedule.slot_at(block.timestamp), slot);
        assert_eq!(block.receipts.len(), sends.len(), "every transaction is mined");
        for receipt in &block.receipts {
            observed.gas.push(receipt.gas_used);
            observed.reasons.push(if receipt.success { "ok".to_owned() } else { revert_reason(&receipt.revert_data) });
        }
    };
    let rollup = deployment.rollup;
    // Slot 1: its owner submits block 1; another agent tries block 2 out of its slot.
    let owner = schedule.owner_index(1);
    let other = (owner + 1) % 3;
    let sends = vec![agents[owner].sign_submit(rollup, &blocks[0]), agents[other].sign_submit(rollup, &blocks[1])];
    mine(l1, 1, sends);
    // Slot 2: its owner submits block 2 with a wrong pre root, then the right block 2.
    let owner = schedule.owner_index(2);
    let b = &blocks[1];
    let wrong = ProvenRange::modeled(L2_CHAIN_ID, b.first, b.last, root(99), b.post_root, b.tx_commitment, b.prover);
    let sends = vec![agents[owner].sign_submit(rollup, &wrong), agents[owner].sign_submit(rollup, &blocks[1])];
    mine(l1, 2, sends);
    // Slot 3 is missed by its owner; slot 4's owner (the next agent) submits block 3.
    mine(l1, 3, Vec::new());
    let owner = schedule.owner_index(4);
    assert_ne!(owner, schedule.owner_index(3), "a missed slot passes to the next agent");
    let sends = vec![agents[owner].sign_submit(rollup, &blocks[2])];
    mine(l1, 4, sends);

    assert_eq!(deployment.proven_head(l1).unwrap(), (5, root(5)));
    for range in &blocks {
        assert_ne!(deployment.range_record_hash(l1, range.first).unwrap(), B256::ZERO, "range {} stored", range.first);
    }
    assert_eq!(deployment.range_record_hash(l1, 3).unwrap(), B256::ZERO, "records are kept by first block");
    observed
}

fn expect_reasons(observed: &Observed) {
    let reasons: Vec<&str> = observed.reasons.iter().map(|r| r.split('(').next().unwrap()).collect();
    assert_eq!(reasons, ["ok", "NotSlotOwner", "WrongPreRoot", "ok", "ok"], "{:?}", observed.reasons);
}

#[test]
fn rollup_on_anvil_and_embedded_agree() {
    let mut anvil = AnvilL1::spawn(AnvilConfig::new(CHAIN_ID, GENESIS_TIMESTAMP))
        .expect("anvil starts (scripts/setup installs it)");
    let on_anvil = scenario(&mut anvil);
    expect_reasons(&on_anvil);
    let mut embedded = EmbeddedL1::new(CHAIN_ID, GENESIS_TIMESTAMP);
    let on_embedded = scenario(&mut embedded);
    assert_eq!(on_anvil, on_embedded, "same transactions, outcomes and gas on both L1s");
    eprintln!("submitRange gas (accepted, out of slot, wrong pre root, accepted, accepted): {:?}", on_anvil.gas);
}

#[test]
fn anvil_in_lockstep_gives_the_same_block_hashes() {
    let run = || {
        let mut anvil = AnvilL1::spawn(AnvilConfig::new(CHAIN_ID, GENESIS_TIMESTAMP)).expect("anvil starts");
        scenario(&mut anvil);
        anvil.mine(GENESIS_TIMESTAMP + 100).unwrap().hash.expect("anvil has block hashes")
    };
    assert_eq!(run(), run());
}
