//! The honest submission loop on the embedded L1: it submits only in its own slot, never twice the
//! same range while one is in flight, confirms from receipts, gives up after bounded attempts and
//! takes its unsent nonces back, and a reverted range is submitted again in a later slot;
//! `send_all` over a link that is down retries within the bounds.

use alloy::consensus::TxEnvelope;
use alloy::primitives::{Address, B256, keccak256};
use zkcrowd_l1::contract::{RevertReason, l1_signer};
use zkcrowd_l1::{
    AgentLink, Deployment, EmbeddedL1, L1Backend, L1Error, NotSent, ProvenRange, SubmissionAgent, Submitted, Submitter,
    VerifierKind,
};

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

/// A link over the embedded L1 that is down for its first `down` sends; counts back-offs.
struct Flaky<'a> {
    l1: &'a mut EmbeddedL1,
    down: u32,
    backoffs: u32,
}

impl AgentLink for Flaky<'_> {
    fn send(&mut self, tx: &TxEnvelope) -> Result<B256, L1Error> {
        if self.down > 0 {
            self.down -= 1;
            return Err(L1Error::Unavailable("down (test)".to_owned()));
        }
        self.l1.send(tx)
    }

    async fn backoff(&mut self) {
        self.backoffs += 1;
    }
}

fn block_on<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().build().expect("a runtime").block_on(future)
}

/// Goal: `send_all` retries an unavailable L1 after a back-off within the bounded attempts; once
/// they run out it stops the slot, names the range and the attempts, and takes back the nonces of
/// that transaction and every later one, so the next slot's transactions are accepted.
#[test]
fn send_all_retries_then_gives_the_slot_up() {
    let (mut l1, deployment, mut submitters) = setup();
    let slot_start = |slot: u64| deployment.schedule.genesis_time + slot * SLOT_SECONDS;
    let owner = deployment.schedule.owner_index(1);
    let pending = blocks(1..=2);

    // Down for two sends, three attempts allowed: both ranges reach the pool.
    let txs = submitters[owner].due(slot_start(1), &pending);
    let mut link = Flaky { l1: &mut l1, down: 2, backoffs: 0 };
    assert_eq!(block_on(submitters[owner].send_all(txs, &mut link)), None);
    assert_eq!(link.backoffs, 2);
    let mined = l1.mine(slot_start(1) + 1).unwrap();
    assert_eq!(mined.receipts.iter().filter_map(|r| submitters[owner].on_receipt(r)).count(), 2);
    assert_eq!(deployment.proven_head(&mut l1).unwrap(), (2, root(2)));

    // Down for longer than the attempts: the first range fails, both nonces come back.
    let owner = deployment.schedule.owner_index(2);
    let pending = blocks(3..=4);
    let nonce = submitters[owner].agent_mut().nonce();
    let txs = submitters[owner].due(slot_start(2), &pending);
    let mut link = Flaky { l1: &mut l1, down: 3, backoffs: 0 };
    let failed = block_on(submitters[owner].send_all(txs, &mut link));
    assert_eq!(failed, Some(((3, 3), NotSent::Unavailable { attempts: 3 })));
    assert_eq!(link.backoffs, 2, "no back-off after the last attempt");
    assert_eq!(submitters[owner].agent_mut().nonce(), nonce, "the unsent nonces are taken back");

    // Its next slot, with the L1 back: accepted with the same nonces.
    let next = (3..).find(|&slot| deployment.schedule.owner_index(slot) == owner).unwrap();
    let txs = submitters[owner].due(slot_start(next), &pending);
    let mut link = Flaky { l1: &mut l1, down: 0, backoffs: 0 };
    assert_eq!(block_on(submitters[owner].send_all(txs, &mut link)), None);
    let mined = l1.mine(slot_start(next) + 1).unwrap();
    let accepted = mined.receipts.iter().filter_map(|r| submitters[owner].on_receipt(r));
    assert!(accepted.into_iter().all(|s| matches!(s, Submitted::Accepted { .. })));
    assert_eq!(deployment.proven_head(&mut l1).unwrap(), (4, root(4)));
}
