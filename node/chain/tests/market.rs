//! The market through the chain: plugins and users send ordinary signed transactions; the market
//! assigns jobs; proofs arrive by transaction; blocks become fully proven; value settles; a second
//! validator imports every block; the supply identity holds after every block.

use std::collections::BTreeMap;

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, Bytes, TxKind, U256};
use zkcrowd_chain::tx::sign;
use zkcrowd_chain::{
    Chain, DevAccounts, Genesis, GenesisValidator, ImportError, SignedTx, TxKind as Kind, TxRejection,
};
use zkcrowd_market::{
    CallError, EventKind, JobId, MarketCall, MarketParams, ProofData, ProofRejection, SubmittedInputs,
};
use zkcrowd_primitives::{AccountRef, MARKET_ADDRESS, WEI_PER_ZKPOW, Zkpow, dev_address, dev_signer};

const CHAIN_ID: u64 = 7777;
const USERS: std::ops::Range<u64> = 0..4;
const PLUGINS: std::ops::Range<u64> = 10..14;

fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        timestamp: 0,
        gas_limit: 30_000_000,
        base_fee_per_gas: Zkpow::from_wei(1_000_000_000),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: Vec::new(),
        dev_accounts: Some(DevAccounts { count: 20, balance: Zkpow::from_zkpow(100), first: 0 }),
        validators: vec![GenesisValidator { address: AccountRef::Dev(100), stake: Zkpow::from_zkpow(1) }],
        market: MarketParams { heartbeat_window_blocks: 20, proof_deadline_blocks: 5, ..MarketParams::default() },
    }
}

struct Nonces(BTreeMap<u64, u64>);
impl Nonces {
    fn next(&mut self, account: u64) -> u64 {
        let n = self.0.entry(account).or_insert(0);
        *n += 1;
        *n - 1
    }
}

fn tx(nonces: &mut Nonces, from: u64, to: Address, value: U256, input: Bytes, gas_limit: u64) -> SignedTx {
    let envelope = sign(
        &dev_signer(from),
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: nonces.next(from),
            gas_limit,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(to),
            value,
            access_list: Default::default(),
            input,
        },
    );
    SignedTx::from_envelope(envelope, CHAIN_ID).unwrap()
}

fn market_tx(nonces: &mut Nonces, from: u64, call: MarketCall, value: U256) -> SignedTx {
    tx(nonces, from, MARKET_ADDRESS, value, call.encode(), 200_000)
}

/// Goal: the whole loop of the seed, in real transactions, with a follower validator agreeing on
/// every header (market root included) and no token created or lost.
#[test]
fn plugins_prove_blocks_through_transactions() {
    let mut chain = Chain::from_genesis(&genesis()).unwrap();
    let mut follower = Chain::from_genesis(&genesis()).unwrap();
    let mut nonces = Nonces(BTreeMap::new());
    let mut pending_proofs: Vec<(u64, JobId)> = Vec::new();
    let mut fully_proven = Vec::new();
    let mut blocks_with_user_txs = Vec::new();
    let mut accepted = 0;

    for number in 1..=30u64 {
        let mut candidates = Vec::new();
        // Market txs first in the candidate list: the builder must move them after user txs.
        if number == 1 {
            for plugin in PLUGINS {
                candidates.push(market_tx(&mut nonces, plugin, MarketCall::Register, U256::ZERO));
            }
        } else if number % 8 == 0 {
            for plugin in PLUGINS {
                candidates.push(market_tx(&mut nonces, plugin, MarketCall::Heartbeat, U256::ZERO));
            }
        }
        for (plugin, job) in pending_proofs.drain(..) {
            let statement = chain.market().job(job).expect("live job").statement(dev_address(plugin));
            let call = MarketCall::SubmitProof {
                job_id: job,
                inputs: SubmittedInputs::from_statement(&statement),
                proof: ProofData::modeled_valid(&statement),
            };
            candidates.push(market_tx(&mut nonces, plugin, call, U256::ZERO));
        }
        if number <= 12 {
            for user in USERS {
                let to = dev_address((user + 1) % USERS.end);
                candidates.push(tx(&mut nonces, user, to, U256::from(1_000 + number), Bytes::new(), 21_000));
            }
        }
        let outcome = chain.build_block(&candidates, number * 2, dev_address(100));
        assert!(outcome.rejected.is_empty(), "block {number}: {:?}", outcome.rejected);
        let kinds: Vec<Kind> = outcome.txs.iter().map(|t| t.kind).collect();
        let first_system = kinds.iter().position(|k| *k == Kind::System).unwrap_or(kinds.len());
        assert!(kinds[first_system..].iter().all(|k| *k == Kind::System), "system txs last: {kinds:?}");
        if first_system > 0 {
            blocks_with_user_txs.push(number);
        }
        assert!(
            outcome.txs.iter().all(|t| t.success),
            "block {number}: a market call failed: {:?}",
            outcome.market_events
        );

        let imported = follower.import_block(&outcome.block).expect("follower imports");
        assert_eq!(imported.hash, outcome.hash);
        assert_eq!(imported.market_events, outcome.market_events);
        chain.check_supply().unwrap();

        for event in &outcome.market_events {
            match event.kind {
                EventKind::JobAssigned { job, plugin, .. } => {
                    let index = PLUGINS.clone().find(|&p| dev_address(p) == plugin).expect("a plugin");
                    pending_proofs.push((index, job));
                }
                EventKind::BlockFullyProven { block_number, .. } => fully_proven.push(block_number),
                EventKind::ProofAccepted { .. } => accepted += 1,
                _ => {}
            }
        }
    }
    for block in &blocks_with_user_txs {
        assert!(fully_proven.contains(block), "block {block} never fully proven ({fully_proven:?})");
    }
    assert!(accepted > 48, "tx, system and aggregation proofs: {accepted}");

    // Withdraw 1 ZKPOW: market balance down, native balance up by 1 ZKPOW minus the fee.
    let plugin = PLUGINS.start;
    let market_before = chain.market().plugin(&dev_address(plugin)).unwrap().balance;
    let native_before = chain.state().balance(&dev_address(plugin));
    let withdraw = market_tx(&mut nonces, plugin, MarketCall::Withdraw(U256::from(WEI_PER_ZKPOW)), U256::ZERO);
    let outcome = chain.build_block(&[withdraw], 100, dev_address(100));
    follower.import_block(&outcome.block).unwrap();
    let fee = U256::from(outcome.txs[0].fee_wei);
    assert_eq!(chain.state().balance(&dev_address(plugin)), native_before + U256::from(WEI_PER_ZKPOW) - fee);
    assert_eq!(
        chain.market().plugin(&dev_address(plugin)).unwrap().balance.wei(),
        market_before.wei() - WEI_PER_ZKPOW as i128
    );
    chain.check_supply().unwrap();

    // Repay 2 ZKPOW with value, and a refused call with value (refunded): only fees leave native.
    let native_before = chain.state().balance(&dev_address(plugin));
    let repay = market_tx(&mut nonces, plugin, MarketCall::Repay, U256::from(2 * WEI_PER_ZKPOW));
    let refused = market_tx(&mut nonces, plugin, MarketCall::Heartbeat, U256::from(5 * WEI_PER_ZKPOW));
    let outcome = chain.build_block(&[repay, refused], 102, dev_address(100));
    follower.import_block(&outcome.block).unwrap();
    assert!(outcome.txs[0].success);
    assert!(!outcome.txs[1].success, "value on heartbeat is refused");
    let fees = U256::from(outcome.txs[0].fee_wei + outcome.txs[1].fee_wei);
    assert_eq!(chain.state().balance(&dev_address(plugin)), native_before - U256::from(2 * WEI_PER_ZKPOW) - fees);
    assert_eq!(chain.state().balance(&MARKET_ADDRESS), U256::ZERO, "the market address keeps nothing");
    assert!(chain.state().ledger().get(&MARKET_ADDRESS).is_none());
    assert!(
        outcome
            .market_events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::CallRejected { reason: CallError::ValueNotAccepted, .. }))
    );
    chain.check_supply().unwrap();
    assert_eq!(follower.head_hash(), chain.head_hash());
}

/// Goal: a proposed block with a user tx after a market tx is refused on import.
#[test]
fn user_tx_after_market_tx_is_refused() {
    let mut chain = Chain::from_genesis(&genesis()).unwrap();
    let mut follower = Chain::from_genesis(&genesis()).unwrap();
    let mut nonces = Nonces(BTreeMap::new());
    let register = market_tx(&mut nonces, 10, MarketCall::Register, U256::ZERO);
    let transfer = tx(&mut nonces, 0, dev_address(1), U256::from(1), Bytes::new(), 21_000);
    let mut block = chain.build_block(&[register, transfer], 2, dev_address(100)).block;
    block.transactions.swap(0, 1);
    assert_eq!(follower.import_block(&block).unwrap_err(), ImportError::SystemTxOrder { index: 1 });
}

/// Goal: a block built but not decided (opened, then reverted) leaves no trace in the chain or
/// the market: executing another block at that height afterwards gives the same state as if the
/// first had never existed.
#[test]
fn reverted_proposal_leaves_no_trace() {
    let mut a = Chain::from_genesis(&genesis()).unwrap();
    let mut b = Chain::from_genesis(&genesis()).unwrap();
    let mut nonces = Nonces(BTreeMap::new());
    let register = market_tx(&mut nonces, 10, MarketCall::Register, U256::ZERO);
    let first = a.build_block(&[register], 2, dev_address(100)).block;
    b.import_block(&first).unwrap();
    // `a` proposes block 2, which is not decided; `b`'s block 2 is.
    let transfer = tx(&mut nonces, 0, dev_address(1), U256::from(5), Bytes::new(), 21_000);
    let heartbeat = market_tx(&mut nonces, 10, MarketCall::Heartbeat, U256::ZERO);
    let accounts_before = a.market().accounts();
    let open = a.build_block_open(&[transfer, heartbeat], 4, dev_address(100));
    assert_ne!(a.market().accounts(), accounts_before);
    a.revert_block();
    assert_eq!(a.market().accounts(), accounts_before, "the market is restored");
    let decided = b.build_block(&[], 4, dev_address(101)).block;
    assert_ne!(decided.header.hash(), open.hash);
    let mut outcome = a.execute_block(&decided, None).unwrap();
    a.commit_block(&mut outcome);
    assert_eq!(a.head_hash(), b.head_hash());
    assert_eq!(a.market().accounts(), b.market().accounts());
    a.check_supply().unwrap();
}

/// Goal: market transactions record the roots of their span (spans of `system_job_txs_max`),
/// user transactions their own; the roots chain from the parent's to the header's, and the block's
/// jobs are one per user tx plus one per span.
#[test]
fn market_txs_record_span_roots() {
    let mut g = genesis();
    g.market.system_job_txs_max = 3;
    let mut chain = Chain::from_genesis(&g).unwrap();
    let parent = chain.head().clone();
    let mut nonces = Nonces(BTreeMap::new());
    let mut candidates: Vec<SignedTx> =
        PLUGINS.map(|p| market_tx(&mut nonces, p, MarketCall::Register, U256::ZERO)).collect();
    candidates.extend(PLUGINS.map(|p| market_tx(&mut nonces, p, MarketCall::Heartbeat, U256::ZERO)));
    candidates.push(tx(&mut nonces, 0, dev_address(1), U256::from(7), Bytes::new(), 21_000));
    candidates.push(tx(&mut nonces, 1, dev_address(2), U256::from(8), Bytes::new(), 21_000));
    let outcome = chain.build_block(&candidates, 2, dev_address(100));
    let txs = &outcome.txs;
    assert_eq!(txs.len(), 10);
    assert!(!txs[0].span_roots && !txs[1].span_roots);
    assert_eq!(txs[0].pre_ledger_root, parent.ledger_root);
    assert_eq!(txs[0].post_ledger_root, txs[1].pre_ledger_root);
    // Spans of 3, 3 and 2 market txs.
    for span in [&txs[2..5], &txs[5..8], &txs[8..10]] {
        assert!(span.iter().all(|t| t.span_roots));
        assert!(span.iter().all(|t| t.pre_ledger_root == span[0].pre_ledger_root && t.post_ledger_root == span[0].post_ledger_root));
        assert!(
            span.iter()
                .all(|t| t.pre_state_root == span[0].pre_state_root && t.post_state_root == span[0].post_state_root)
        );
    }
    assert_eq!(txs[1].post_ledger_root, txs[2].pre_ledger_root);
    assert_eq!(txs[4].post_ledger_root, txs[5].pre_ledger_root);
    assert_eq!(txs[7].post_state_root, txs[8].pre_state_root);
    assert_eq!(txs[9].post_ledger_root, outcome.block.header.ledger_root);
    assert_eq!(txs[9].post_state_root, outcome.block.header.state_root);
    let created = outcome.market_events.iter().filter(|e| matches!(e.kind, EventKind::JobCreated { .. })).count();
    assert_eq!(created, 2 + 3, "two tx jobs and three span jobs");
}

/// Goal: with witnesses recorded, each transfer writes two leaves in address order and each market
/// call one (its sender's); the writes chain from the tx's (or span's) pre ledger root to its post
/// root; and each job binds the commitment of the tx's ledger effect, which a transfer to a new
/// account, a market call that pays a fee, and a self-transfer (hash only) each get.
#[test]
fn recorded_witnesses_chain_roots_and_bind_commitments() {
    use zkcrowd_ledger::b256_to_digest;
    use zkcrowd_market::{call_commitment, transfer_commitment, tx_commitment};
    let mut g = genesis();
    g.market.system_job_txs_max = 3;
    let mut chain = Chain::from_genesis(&g).unwrap();
    chain.state_mut().set_record_witnesses(true);
    let mut nonces = Nonces(BTreeMap::new());
    let fresh = Address::repeat_byte(0x42);
    let mut candidates: Vec<SignedTx> =
        PLUGINS.map(|p| market_tx(&mut nonces, p, MarketCall::Register, U256::ZERO)).collect();
    candidates.push(tx(&mut nonces, 0, dev_address(1), U256::from(7), Bytes::new(), 21_000));
    candidates.push(tx(&mut nonces, 1, fresh, U256::from(8), Bytes::new(), 21_000));
    candidates.push(tx(&mut nonces, 2, dev_address(2), U256::from(9), Bytes::new(), 21_000));
    let outcome = chain.build_block(&candidates, 2, dev_address(100));
    let txs = &outcome.txs;
    assert_eq!(txs.len(), 7);
    let digest = |b| b256_to_digest(b).unwrap();
    for (i, t) in txs[..2].iter().enumerate() {
        let [a, b] = &t.ledger_writes[..] else { panic!("tx {i}: {} writes", t.ledger_writes.len()) };
        assert!(a.after.address < b.after.address);
        assert_eq!(a.root_before(), digest(t.pre_ledger_root));
        assert_eq!(a.root_after(), b.root_before());
        assert_eq!(b.root_after(), digest(t.post_ledger_root));
        let receiver = t.to.unwrap();
        let value = u128::try_from(t.value).unwrap();
        let expected = transfer_commitment(t.hash, t.sender, receiver, t.nonce, value, t.fee_wei);
        assert_eq!(digest(t.commitment), expected, "tx {i}");
    }
    assert!(txs[1].ledger_writes.iter().any(|w| w.before.is_none() && w.after.address == fresh), "allocation");
    // A self-transfer writes one leaf and binds its hash only.
    assert_eq!(txs[2].ledger_writes.len(), 1);
    assert_eq!(digest(txs[2].commitment), tx_commitment(txs[2].hash));
    // Market calls: spans of 3 and 1; each call writes its sender's leaf; writes chain across the span.
    for span in [&txs[3..6], &txs[6..7]] {
        let writes: Vec<_> = span.iter().flat_map(|t| t.ledger_writes.iter()).collect();
        assert_eq!(writes.len(), span.len());
        assert_eq!(writes[0].root_before(), digest(span[0].pre_ledger_root));
        for pair in writes.windows(2) {
            assert_eq!(pair[0].root_after(), pair[1].root_before());
        }
        assert_eq!(writes.last().unwrap().root_after(), digest(span[0].post_ledger_root));
        for t in span {
            let w = &t.ledger_writes[0];
            let debit = w.before.unwrap().balance - w.after.balance;
            assert_eq!(debit, t.fee_wei, "a register pays its fee and nothing else");
            assert_eq!(digest(t.commitment), call_commitment(t.hash, t.sender, t.nonce, debit, 0));
        }
    }
}

/// A test double for a real-proof verifier: a "real proof" is valid when its bytes are the
/// statement's encoding. (The plonky2 verifier lives in the proofs crate; this checks the plumbing.)
struct EchoVerifier;

impl zkcrowd_market::ProofVerifier for EchoVerifier {
    fn verify(
        &self,
        statement: &zkcrowd_market::Statement,
        proof: &ProofData,
    ) -> Result<zkcrowd_market::ProofKind, String> {
        match proof {
            ProofData::Real(bytes) if bytes[..] == statement.encode()[..] => Ok(zkcrowd_market::ProofKind::Real),
            ProofData::Real(_) => Err("echo mismatch".into()),
            other => zkcrowd_market::ModeledVerifier.verify(statement, other),
        }
    }
}

/// Goal: a proof submitted as a sidecar reaches the verifier with its bytes, travels in the block
/// outside the tx hash, and a follower re-verifies it; a block whose sidecar is dropped or changed
/// fails import (the verdict shows in the receipts and market roots); a missing sidecar is a rejected proof (with its reason); a
/// sidecar on a transfer is refused.
#[test]
fn proofs_travel_as_sidecars() {
    use std::sync::Arc;
    let g = genesis();
    let mut chain = Chain::from_genesis_with_verifier(&g, Arc::new(EchoVerifier)).unwrap();
    let mut follower = Chain::from_genesis_with_verifier(&g, Arc::new(EchoVerifier)).unwrap();
    let mut nonces = Nonces(BTreeMap::new());
    let plugin = PLUGINS.start;
    let register = market_tx(&mut nonces, plugin, MarketCall::Register, U256::ZERO);
    let user = tx(&mut nonces, 0, dev_address(1), U256::from(5), Bytes::new(), 21_000);
    let mut assigned = None;
    let mut candidates = vec![register, user];
    let mut number = 1;
    while assigned.is_none() {
        let outcome = chain.build_block(&candidates, number * 2, dev_address(100));
        follower.import_block(&outcome.block).unwrap();
        assigned = outcome.market_events.iter().find_map(|e| match e.kind {
            EventKind::JobAssigned { job, .. } => Some(job),
            _ => None,
        });
        candidates.clear();
        number += 1;
        assert!(number < 10, "no assignment");
    }
    let job = assigned.unwrap();
    let statement = chain.market().job(job).unwrap().statement(dev_address(plugin));
    let submit = |nonces: &mut Nonces| {
        let call = MarketCall::SubmitProof {
            job_id: job,
            inputs: SubmittedInputs::from_statement(&statement),
            proof: ProofData::Sidecar,
        };
        market_tx(nonces, plugin, call, U256::ZERO)
    };

    // Without its sidecar: rejected with the reason, the tx still committed (fee paid).
    let bare = submit(&mut nonces);
    let outcome = chain.build_block(&[bare], number * 2, dev_address(100));
    follower.import_block(&outcome.block).unwrap();
    assert!(
        outcome
            .market_events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::ProofRejected { reason: ProofRejection::SidecarMissing, .. }))
    );
    number += 1;

    // A sidecar on a transfer is refused.
    let odd = tx(&mut nonces, 1, dev_address(2), U256::from(5), Bytes::new(), 21_000)
        .with_sidecar(Some(Bytes::from_static(b"x")));
    let outcome = chain.build_block(&[odd], number * 2, dev_address(100));
    assert!(matches!(&outcome.rejected[..], [r] if r.reason == TxRejection::SidecarNotAllowed));
    follower.import_block(&outcome.block).unwrap();
    number += 1;

    // With its sidecar: accepted as real, the block carries the sidecar, the follower agrees.
    let hash_without = submit(&mut Nonces(nonces.0.clone())).hash;
    let with = submit(&mut nonces).with_sidecar(Some(Bytes::from(statement.encode())));
    assert_eq!(with.hash, hash_without, "the sidecar is outside the tx hash");
    let outcome = chain.build_block(&[with], number * 2, dev_address(100));
    assert!(
        outcome
            .market_events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ProofAccepted { proof: zkcrowd_market::ProofKind::Real, .. })),
        "{:?}",
        outcome.market_events
    );
    assert_eq!(outcome.block.sidecars.len(), 1);
    let mut dropped = outcome.block.clone();
    dropped.sidecars.clear();
    let result = follower.import_block(&dropped);
    assert!(matches!(result, Err(ImportError::HeaderMismatch { .. })), "{result:?}");
    let mut changed = outcome.block.clone();
    changed.sidecars[0].bytes = Bytes::from_static(b"forged");
    assert!(matches!(follower.import_block(&changed), Err(ImportError::HeaderMismatch { .. })));
    let imported = follower.import_block(&outcome.block).unwrap();
    assert_eq!(imported.hash, outcome.hash);
}
