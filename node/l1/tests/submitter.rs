//! The honest submission loop on the embedded L1: it submits only in its own slot, never twice the
//! same range while one is in flight, confirms from receipts, gives up after bounded attempts and
//! takes its unsent nonces back, and a reverted range is submitted again in a later slot.

use alloy::primitives::{Address, B256, keccak256};
use zkcrowd_l1::contract::{RevertReason, l1_signer};
use zkcrowd_l1::{Deployment, EmbeddedL1, L1Backend, ProvenRange, SubmissionAgent, Submitted, Submitter, VerifierKind};

const SLOT_SECONDS: u64 = 12;
const GENESIS: u64 = 1_700_000_000;

fn root(n: u64) -> B256 {
    keccak256(format!("root {n}"))
}

const L2_CHAIN_ID: u64 = 7_777;

/// Single-block ranges `[n, n]` for each `n` of `range`.
fn blocks(range: std::ops::RangeInclusive<u64>) -> Vec<ProvenRange> {
    range
        .map(|n| {
            let commitment = keccak256(format!("txs {n}"));
            ProvenRange::modeled(L2_CHAIN_ID, n, n, root(n - 1), root(n), commitment, Address::repeat_byte(7))
        })
        .collect()
}

fn setup() -> (EmbeddedL1, Deployment, Vec<Submitter>) {
    let mut l1 = EmbeddedL1::new(31_337, GENESIS);
    let agents: Vec<SubmissionAgent> =
        (0..2).map(|i| SubmissionAgent::new(l1_signer("agent", 3, i), 31_337, 0)).collect();
    let addresses: Vec<Address> = agents.iter().map(SubmissionAgent::address).collect();
    let deployment = Deployment::deploy(
        &mut l1,
        l1_signer("deployer", 3, 0),
        VerifierKind::Modeled,
        &addresses,
        SLOT_SECONDS,
        root(0),
        L2_CHAIN_ID,
        GENESIS + 1,
    )
    .unwrap();
    let submitters = agents
        .into_iter()
        .enumerate()
        .map(|(i, agent)| Submitter::new(agent, i, deployment.schedule.clone(), deployment.rollup, 2, 3))
        .collect();
    (l1, deployment, submitters)
}

#[test]
fn submits_in_its_slot_confirms_and_bounds_retries() {
    let (mut l1, deployment, mut submitters) = setup();
    let slot_start = |slot: u64| deployment.schedule.genesis_time + slot * SLOT_SECONDS;
    let owner = deployment.schedule.owner_index(1);
    let other = 1 - owner;
    let pending = blocks(1..=3);

    // Not its slot: nothing. Its slot: at most two (max_per_l1_block), in order.
    assert!(submitters[other].due(slot_start(1), &pending).is_empty());
    let txs = submitters[owner].due(slot_start(1), &pending);
    assert_eq!(txs.iter().map(|t| t.0.0).collect::<Vec<_>>(), [1, 2]);
    for (number, tx) in &txs {
        submitters[owner].sent(l1.send(tx).unwrap(), *number);
    }
    // In flight: not signed again in the same slot.
    assert_eq!(submitters[owner].due(slot_start(1) + 1, &pending).iter().map(|t| t.0.0).collect::<Vec<_>>(), [3]);
    // ...which this test then never sends: its nonce is taken back, as after a failed send.
    assert!(submitters[owner].retry(1) && submitters[owner].retry(2) && !submitters[owner].retry(3));
    submitters[owner].unsent(1);

    let mined = l1.mine(slot_start(1) + 2).unwrap();
    let outcomes: Vec<Submitted> = mined.receipts.iter().filter_map(|r| submitters[owner].on_receipt(r)).collect();
    assert!(
        matches!(outcomes[..], [Submitted::Accepted { first: 1, .. }, Submitted::Accepted { first: 2, .. }]),
        "{outcomes:?}"
    );
    assert_eq!(deployment.proven_head(&mut l1).unwrap(), (2, root(2)));

    // A revert is reported with its reason and the block is submitted again in a later slot.
    let next_owner = deployment.schedule.owner_index(2);
    let mut wrong = blocks(3..=3);
    wrong[0] = ProvenRange::modeled(L2_CHAIN_ID, 3, 3, root(99), root(3), wrong[0].tx_commitment, wrong[0].prover);
    let txs = submitters[next_owner].due(slot_start(2), &wrong);
    for (number, tx) in &txs {
        submitters[next_owner].sent(l1.send(tx).unwrap(), *number);
    }
    let mined = l1.mine(slot_start(2) + 1).unwrap();
    let reverted = submitters[next_owner].on_receipt(&mined.receipts[0]).unwrap();
    assert!(
        matches!(&reverted, Submitted::Reverted { first: 3, reason: RevertReason::WrongPreRoot { .. }, .. }),
        "{reverted:?}"
    );
    let later_owner = deployment.schedule.owner_index(3);
    let txs = submitters[later_owner].due(slot_start(3), &blocks(3..=3));
    for (number, tx) in &txs {
        submitters[later_owner].sent(l1.send(tx).unwrap(), *number);
    }
    let mined = l1.mine(slot_start(3) + 1).unwrap();
    assert!(matches!(
        submitters[later_owner].on_receipt(&mined.receipts[0]),
        Some(Submitted::Accepted { first: 3, .. })
    ));
    assert_eq!(deployment.proven_head(&mut l1).unwrap(), (3, root(3)));
}
