//! The Rollup contract end to end, on a real anvil process and on the embedded revm L1: deploy,
//! submit three blocks from the slot owners, read them back; out-of-slot and wrong-pre-root
//! submissions revert with their reasons; both L1s charge the same gas.

use alloy::primitives::{Address, B256, keccak256};
use zkcrowd_l1::anvil::AnvilConfig;
use zkcrowd_l1::contract::{l1_signer, revert_reason};
use zkcrowd_l1::{AnvilL1, Deployment, EmbeddedL1, L1Backend, ProvenBlock, SubmissionAgent};

const CHAIN_ID: u64 = 31_337;
const GENESIS_TIMESTAMP: u64 = 1_700_000_000;
const SLOT_SECONDS: u64 = 12;

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

/// Deploys with three agents, then: block 1 by the slot-1 owner, an out-of-slot attempt, a wrong
/// pre root, blocks 2 and 3 in later slots; reads the chain back.
fn scenario(l1: &mut dyn L1Backend) -> Observed {
    let mut agents: Vec<SubmissionAgent> =
        (0..3).map(|i| SubmissionAgent::new(l1_signer("agent", 7, i), l1.chain_id(), 0)).collect();
    let addresses: Vec<Address> = agents.iter().map(SubmissionAgent::address).collect();
    let deployment = Deployment::deploy_simulation(
        l1,
        l1_signer("deployer", 7, 0),
        &addresses,
        SLOT_SECONDS,
        root(0),
        GENESIS_TIMESTAMP + 1,
    )
    .expect("deploys");
    assert_eq!(deployment.proven_head(l1).unwrap(), (0, root(0)));
    let blocks: Vec<ProvenBlock> = (1..=3)
        .map(|n| {
            ProvenBlock::modeled(n, root(n - 1), root(n), keccak256(format!("txs {n}")), Address::repeat_byte(n as u8))
        })
        .collect();
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
    let mut wrong = blocks[1].clone();
    wrong.pre_root = root(99);
    wrong = ProvenBlock::modeled(wrong.number, wrong.pre_root, wrong.post_root, wrong.tx_commitment, wrong.aggregator);
    let sends = vec![agents[owner].sign_submit(rollup, &wrong), agents[owner].sign_submit(rollup, &blocks[1])];
    mine(l1, 2, sends);
    // Slot 3 is missed by its owner; slot 4's owner (the next agent) submits block 3.
    mine(l1, 3, Vec::new());
    let owner = schedule.owner_index(4);
    assert_ne!(owner, schedule.owner_index(3), "a missed slot passes to the next agent");
    let sends = vec![agents[owner].sign_submit(rollup, &blocks[2])];
    mine(l1, 4, sends);

    assert_eq!(deployment.proven_head(l1).unwrap(), (3, root(3)));
    for block in &blocks {
        let record = deployment.block_at(l1, block.number).expect("accepted");
        assert_eq!(
            (record.preRoot, record.postRoot, record.txCommitment, record.aggregator),
            (block.pre_root, block.post_root, block.tx_commitment, block.aggregator)
        );
    }
    assert_eq!(deployment.block_at(l1, 4).unwrap_err().to_string(), "call reverted: UnknownBlock(4)");
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
    eprintln!("submitBlock gas (accepted, out of slot, wrong pre root, accepted, accepted): {:?}", on_anvil.gas);
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
