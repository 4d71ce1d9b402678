//! Chain core tests: roots against independent computations, ledger locality, supply
//! conservation (property), every stateful rejection reason, and import/revert between validators.

use alloy::consensus::{TxEip1559, TxEip7702};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, hex};
use alloy_trie::TrieAccount;
use alloy_trie::root::{state_root_unhashed, storage_root_unhashed};
use proptest::prelude::*;
use zkcrowd_chain::tx::sign;
use zkcrowd_chain::{
    Chain, DevAccounts, Genesis, GenesisAccount, GenesisValidator, ImportError, SignedTx, TxKind as Kind, TxRejection,
};
use zkcrowd_ledger::{AccountLeaf, AccountLedger, digest_to_b256};
use zkcrowd_market::MarketCall;
use zkcrowd_primitives::{AccountRef, FEE_BURN_ADDRESS, MARKET_ADDRESS, Zkpow, dev_address, dev_signer};

const CHAIN_ID: u64 = 7777;
const USERS: u64 = 8;
const GWEI: u128 = 1_000_000_000;
/// Runtime code: `SSTORE(key = calldata[0..32], value = calldata[32..64])`.
const STORE_RUNTIME: [u8; 8] = hex!("6020356000355500");
/// Init code that deploys `STORE_RUNTIME`.
const STORE_INIT: [u8; 20] = hex!("6008600c60003960086000f36020356000355500");
const STORE_CONTRACT: Address = Address::new(hex!("00000000000000000000000000000000000c0de5"));

fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN_ID,
        timestamp: 1_000,
        gas_limit: 30_000_000,
        base_fee_per_gas: Zkpow::from_wei(GWEI),
        min_base_fee_per_gas: None,
        max_tx_size_bytes: 128 * 1024,
        accounts: vec![GenesisAccount {
            address: AccountRef::Address(STORE_CONTRACT),
            balance: Zkpow::from_wei(1),
            nonce: 1,
            code: Some(Bytes::from_static(&STORE_RUNTIME)),
        }],
        dev_accounts: Some(DevAccounts { count: USERS, balance: Zkpow::from_zkpow(1_000), first: 0 }),
        validators: vec![GenesisValidator { address: AccountRef::Dev(100), stake: Zkpow::from_zkpow(1) }],
        market: Default::default(),
    }
}

/// Signs an EIP-1559 tx from development account `from`.
fn tx(from: u64, nonce: u64, to: TxKind, value: u128, gas_limit: u64, input: &[u8]) -> SignedTx {
    let envelope = sign(
        &dev_signer(from),
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit,
            max_fee_per_gas: 20 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to,
            value: U256::from(value),
            access_list: Default::default(),
            input: Bytes::copy_from_slice(input),
        },
    );
    SignedTx::from_envelope(envelope, CHAIN_ID).expect("valid signature")
}

fn transfer(from: u64, nonce: u64, to: Address, value: u128) -> SignedTx {
    tx(from, nonce, TxKind::Call(to), value, 21_000, &[])
}

fn store_call(from: u64, nonce: u64, key: u64, value: u64) -> SignedTx {
    let mut input = [0u8; 64];
    input[24..32].copy_from_slice(&key.to_be_bytes());
    input[56..64].copy_from_slice(&value.to_be_bytes());
    tx(from, nonce, TxKind::Call(STORE_CONTRACT), 0, 100_000, &input)
}

/// The MPT root recomputed from scratch with alloy-trie's HashBuilder over a dump of the state.
fn independent_state_root(chain: &Chain) -> B256 {
    let accounts = chain.state().accounts_sorted().into_iter().map(|(address, account)| {
        let storage_root = storage_root_unhashed(account.storage.iter().map(|(k, v)| (B256::from(*k), *v)));
        let leaf =
            TrieAccount { nonce: account.nonce, balance: account.balance, storage_root, code_hash: account.code_hash };
        (address, leaf)
    });
    state_root_unhashed(accounts)
}

/// The ledger root recomputed from scratch: every account except the fee sink, in leaf order.
fn independent_ledger_root(chain: &Chain) -> B256 {
    let mut ledger = AccountLedger::new();
    for leaf in chain.state().ledger().leaves() {
        let balance = chain.state().balance(&leaf.address);
        let nonce = chain.state().nonce(&leaf.address);
        ledger.upsert(AccountLeaf { address: leaf.address, nonce, balance: balance.to() }).unwrap();
    }
    digest_to_b256(ledger.root())
}

/// Goal: the incremental MPT root equals alloy-trie's from-scratch root after a block that mixes
/// transfers, contract storage writes and a contract creation; and so does the ledger root.
#[test]
fn state_root_matches_independent_computation() {
    let mut chain = Chain::from_genesis(&genesis()).unwrap();
    assert_eq!(chain.head().state_root, independent_state_root(&chain));
    let candidates = vec![
        transfer(0, 0, dev_address(1), 5 * GWEI),
        transfer(1, 0, Address::repeat_byte(0x77), 1),
        store_call(2, 0, 1, 42),
        store_call(2, 1, 2, 43),
        tx(3, 0, TxKind::Create, 0, 200_000, &STORE_INIT),
        transfer(0, 1, dev_address(2), 7),
    ];
    let outcome = chain.build_block(&candidates, 1_002, dev_address(100));
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    assert_eq!(outcome.txs.len(), 6);
    assert!(outcome.txs.iter().all(|t| t.success));
    let kinds: Vec<Kind> = outcome.txs.iter().map(|t| t.kind).collect();
    assert_eq!(kinds[0], Kind::Transfer);
    assert_eq!(kinds[2], Kind::ContractCall);
    assert_eq!(kinds[4], Kind::ContractCreate);
    assert_eq!(outcome.block.header.state_root, independent_state_root(&chain));
    assert_eq!(outcome.block.header.ledger_root, independent_ledger_root(&chain));
    let contract = chain.state().account(&STORE_CONTRACT).unwrap();
    assert_eq!(contract.storage.get(&U256::from(1)), Some(&U256::from(42)));

    // Roots chain: each tx's pre root is the previous tx's post root, from the parent's roots to
    // the block's.
    let genesis_header = Chain::from_genesis(&genesis()).unwrap().head().clone();
    assert_eq!(outcome.txs[0].pre_state_root, genesis_header.state_root);
    assert_eq!(outcome.txs[0].pre_ledger_root, genesis_header.ledger_root);
    for pair in outcome.txs.windows(2) {
        assert_eq!(pair[0].post_state_root, pair[1].pre_state_root);
        assert_eq!(pair[0].post_ledger_root, pair[1].pre_ledger_root);
        assert_ne!(pair[0].pre_ledger_root, pair[0].post_ledger_root, "every tx moves a balance");
    }
    assert_eq!(outcome.txs.last().unwrap().post_state_root, outcome.block.header.state_root);

    // Overwrite and delete a slot in a second block: deletions must leave the trie too.
    let outcome = chain.build_block(&[store_call(2, 2, 1, 0), store_call(4, 0, 9, 9)], 1_004, dev_address(100));
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    assert_eq!(outcome.block.header.state_root, independent_state_root(&chain));
}

/// Goal: the ledger changes exactly in the leaves of the accounts a transfer touches (sender and
/// recipient; the fee sink is not a leaf), checked leaf by leaf.
#[test]
fn ledger_changes_only_touched_accounts() {
    let mut chain = Chain::from_genesis(&genesis()).unwrap();
    let before: Vec<AccountLeaf> = chain.state().ledger().leaves().to_vec();
    let outcome = chain.build_block(&[transfer(3, 0, dev_address(5), 1_000)], 1_002, dev_address(100));
    assert_eq!(outcome.txs.len(), 1);
    let after: Vec<AccountLeaf> = chain.state().ledger().leaves().to_vec();
    assert_eq!(before.len(), after.len(), "no new account");
    let changed: Vec<Address> = before.iter().zip(&after).filter(|(b, a)| b != a).map(|(b, _)| b.address).collect();
    assert_eq!(changed, vec![dev_address(3), dev_address(5)]);
    assert!(chain.state().ledger().get(&FEE_BURN_ADDRESS).is_none());
    assert!(chain.state().balance(&FEE_BURN_ADDRESS) > U256::ZERO, "tips reach the burn address");

    // A transfer to a fresh address allocates exactly one new leaf, at the end.
    let fresh = Address::repeat_byte(0xab);
    chain.build_block(&[transfer(3, 1, fresh, 1)], 1_004, dev_address(100));
    let leaves = chain.state().ledger().leaves();
    assert_eq!(leaves.len(), after.len() + 1);
    assert_eq!(leaves.last().unwrap().address, fresh);
    assert_eq!(chain.head().ledger_root, independent_ledger_root(&chain));
}

/// Goal: each stateful rejection reason is produced by the input that should produce it, and
/// rejected txs stay out of the block while the valid ones around them commit.
#[test]
fn stateful_rejections() {
    let mut chain = Chain::from_genesis(&genesis()).unwrap();
    let base_fee = chain.next_base_fee();
    let low_fee = sign(
        &dev_signer(6),
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(dev_address(1)),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        },
    );
    let low_fee = SignedTx::from_envelope(low_fee, CHAIN_ID).unwrap();
    let candidates = vec![
        transfer(0, 0, dev_address(1), 1),                            // ok
        transfer(0, 0, dev_address(1), 1),                            // replay: nonce too low
        transfer(1, 5, dev_address(2), 1),                            // nonce gap
        transfer(2, 0, dev_address(3), 2_000 * 1_000_000_000 * GWEI), // more than the balance
        low_fee,                                                      // fee cap below base fee
        tx(4, 0, TxKind::Call(dev_address(1)), 1, 40_000_000, &[]),   // above block gas limit
        tx(5, 0, TxKind::Call(dev_address(1)), 1, 20_000, &[]),       // below intrinsic gas
        transfer(7, 0, dev_address(1), 1),                            // ok
    ];
    let outcome = chain.build_block(&candidates, 1_002, dev_address(100));
    assert_eq!(outcome.txs.len(), 2);
    let reasons: Vec<(usize, TxRejection)> = outcome.rejected.iter().map(|r| (r.position, r.reason.clone())).collect();
    assert_eq!(reasons[0], (1, TxRejection::NonceTooLow { expected: 1, got: 0 }));
    assert_eq!(reasons[1], (2, TxRejection::NonceGap { expected: 0, got: 5 }));
    assert!(matches!(reasons[2], (3, TxRejection::InsufficientBalance { .. })), "{:?}", reasons[2]);
    assert_eq!(reasons[3], (4, TxRejection::FeeCapBelowBaseFee { max_fee_per_gas: 1, base_fee_per_gas: base_fee }));
    assert_eq!(reasons[4], (5, TxRejection::GasAboveBlockLimit { gas_limit: 40_000_000, block_gas_limit: 30_000_000 }));
    assert!(matches!(&reasons[5], (6, TxRejection::Evm(m)) if m.contains("gas")), "{:?}", reasons[5]);
    assert_eq!(reasons.len(), 6);

    // Unsupported type: an EIP-7702 set-code tx decodes but is refused.
    let set_code = sign(&dev_signer(1), TxEip7702 { chain_id: CHAIN_ID, gas_limit: 50_000, ..Default::default() });
    assert_eq!(chain.decode(&set_code.encoded_2718()), Err(TxRejection::UnsupportedType(4)));
}

/// Goal: a second validator importing the proposer's blocks reaches the same head; a block with
/// a forged ledger root or an invalid tx is refused with the reason and leaves no trace.
#[test]
fn import_and_revert() {
    let mut proposer = Chain::from_genesis(&genesis()).unwrap();
    let mut follower = Chain::from_genesis(&genesis()).unwrap();
    let block = proposer
        .build_block(&[transfer(0, 0, dev_address(1), 10), store_call(1, 0, 3, 4)], 1_002, dev_address(100))
        .block;

    let mut forged = block.clone();
    forged.header.ledger_root = B256::repeat_byte(1);
    let head_before = (follower.head_hash(), follower.head().state_root, follower.head().ledger_root);
    match follower.import_block(&forged) {
        Err(ImportError::HeaderMismatch { field: "ledger_root", .. }) => {}
        other => panic!("expected a ledger_root mismatch, got {other:?}"),
    }
    assert_eq!(follower.head_hash(), head_before.0);
    // The revert restored the state exactly: roots recomputed from scratch agree with genesis.
    assert_eq!(independent_state_root(&follower), head_before.1);
    assert_eq!(independent_ledger_root(&follower), head_before.2);
    assert_eq!(follower.state_mut().state_root(), head_before.1);
    assert_eq!(follower.state_mut().ledger_root(), head_before.2);

    let mut invalid = block.clone();
    invalid.transactions.push(transfer(0, 0, dev_address(1), 10).envelope);
    assert!(matches!(follower.import_block(&invalid), Err(ImportError::InvalidTx { index: 2, .. })));
    assert_eq!(follower.state_mut().ledger_root(), head_before.2);

    let imported = follower.import_block(&block).unwrap();
    assert_eq!(imported.hash, proposer.head_hash());
    assert_eq!(follower.head(), proposer.head());
    let second = proposer.build_block(&[transfer(1, 1, dev_address(2), 3)], 1_004, dev_address(100)).block;
    follower.import_block(&second).unwrap();
    assert_eq!(follower.head_hash(), proposer.head_hash());
}

/// Goal: a block that runs out of gas defers the valid txs that do not fit (they are not lost:
/// the builder returns their positions for the next block).
#[test]
fn deferral_when_gas_runs_out() {
    let mut g = genesis();
    g.gas_limit = 50_000;
    let mut chain = Chain::from_genesis(&g).unwrap();
    let candidates =
        vec![transfer(0, 0, dev_address(1), 1), transfer(1, 0, dev_address(2), 1), transfer(2, 0, dev_address(3), 1)];
    let outcome = chain.build_block(&candidates, 1_002, dev_address(100));
    assert_eq!(outcome.txs.len(), 2);
    assert_eq!(outcome.deferred, vec![2]);
    assert!(outcome.rejected.is_empty());
}

/// Goal: a deferred tx's later nonces are deferred with it, not refused for the gap its deferral
/// leaves (that refusal would cost the sender every tx it had queued, in a full block).
#[test]
fn deferral_keeps_the_senders_later_nonces() {
    let mut g = genesis();
    g.gas_limit = 50_000;
    let mut chain = Chain::from_genesis(&g).unwrap();
    let candidates = vec![
        transfer(0, 0, dev_address(1), 1),
        transfer(1, 0, dev_address(2), 1),
        transfer(2, 0, dev_address(3), 1),
        transfer(2, 1, dev_address(3), 1),
        transfer(2, 2, dev_address(3), 1),
    ];
    let outcome = chain.build_block(&candidates, 1_002, dev_address(100));
    assert_eq!(outcome.txs.len(), 2);
    assert_eq!(outcome.deferred, vec![2, 3, 4]);
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
}

/// Goal: market calls offered to the builder are not deferred by user transactions that would
/// fill the block: the builder keeps room for them (up to half the block's gas), though they
/// execute after the user transactions.
#[test]
fn builder_keeps_room_for_market_calls() {
    let mut g = genesis();
    g.gas_limit = 100_000;
    let mut chain = Chain::from_genesis(&g).unwrap();
    let heartbeat = tx(7, 0, TxKind::Call(MARKET_ADDRESS), 0, 40_000, &MarketCall::Heartbeat.encode());
    let mut candidates: Vec<SignedTx> = (0..4).map(|u| transfer(u, 0, dev_address(20), 1)).collect();
    candidates.push(heartbeat.clone());
    let outcome = chain.build_block(&candidates, 1_002, dev_address(100));
    let included: Vec<B256> = outcome.txs.iter().map(|r| r.hash).collect();
    assert!(included.contains(&heartbeat.hash), "the market call is in the block");
    assert_eq!(outcome.txs.len(), 3, "two transfers fit beside it");
    assert_eq!(outcome.deferred, vec![2, 3]);
}

/// Goal: a full account ledger refuses the tx that would create an account, with a typed
/// rejection, while the block still builds with the txs that create none; a proposed block that
/// includes such a tx is refused on import. Method: cap both ledgers at the accounts they hold.
#[test]
fn full_ledger_rejects_account_creation() {
    let mut proposer = Chain::from_genesis(&genesis()).unwrap();
    let mut follower = Chain::from_genesis(&genesis()).unwrap();
    for chain in [&mut proposer, &mut follower] {
        let held = chain.state().ledger().len();
        chain.state_mut().ledger_mut().set_capacity(held);
    }
    let fresh = Address::repeat_byte(0x77);
    let candidates = [transfer(0, 0, fresh, 10), transfer(1, 0, dev_address(2), 10)];
    let outcome = proposer.build_block(&candidates, 1_002, dev_address(100));
    assert_eq!(outcome.txs.len(), 1, "the transfer between existing accounts is included");
    assert_eq!(outcome.txs[0].hash, candidates[1].hash);
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(outcome.rejected[0].position, 0);
    assert!(
        matches!(outcome.rejected[0].reason, TxRejection::LedgerFull { needed: 1, room: 0, .. }),
        "{:?}",
        outcome.rejected[0].reason
    );
    assert_eq!(proposer.state().balance(&fresh), U256::ZERO, "the refused tx left no trace");
    follower.import_block(&outcome.block).unwrap();
    assert_eq!(follower.head_hash(), proposer.head_hash());

    // A proposer with room includes the creating tx; the full follower refuses that block.
    let mut roomy = Chain::from_genesis(&genesis()).unwrap();
    roomy.build_block(&[transfer(1, 0, dev_address(2), 10)], 1_002, dev_address(100));
    let creating = roomy.build_block(&[transfer(0, 0, fresh, 10)], 1_004, dev_address(100)).block;
    let head = follower.head_hash();
    match follower.import_block(&creating) {
        Err(ImportError::InvalidTx { index: 0, reason: TxRejection::LedgerFull { .. } }) => {}
        other => panic!("expected a full-ledger refusal, got {other:?}"),
    }
    assert_eq!(follower.head_hash(), head);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Goal: random valid transfer sequences conserve ZKPoW: the ledger's balances plus the fees
    /// burned always equal the genesis balances, block after block, and the fee sink holds exactly
    /// the tips (the base fee leaves the state entirely).
    #[test]
    fn transfers_conserve_supply(
        blocks in proptest::collection::vec(
            proptest::collection::vec((0..USERS, 0..USERS + 2, 0u128..5_000_000_000_000_000_000u128), 1..12),
            1..5,
        )
    ) {
        let mut chain = Chain::from_genesis(&genesis()).unwrap();
        let genesis_balances = chain.genesis_supply_wei();
        let mut nonces = vec![0u64; USERS as usize];
        let mut tips: u128 = 0;
        let mut timestamp = 1_000;
        for block in blocks {
            let candidates: Vec<SignedTx> = block
                .iter()
                .map(|&(from, to, value)| {
                    let recipient = if to < USERS { dev_address(to) } else { Address::repeat_byte(to as u8) };
                    let t = transfer(from, nonces[from as usize], recipient, value);
                    nonces[from as usize] += 1;
                    t
                })
                .collect();
            timestamp += 2;
            let base_fee = chain.next_base_fee();
            let outcome = chain.build_block(&candidates, timestamp, dev_address(100));
            prop_assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
            for record in &outcome.txs {
                tips += u128::from(record.gas_used) * GWEI;
                prop_assert_eq!(record.fee_wei, u128::from(record.gas_used) * (u128::from(base_fee) + GWEI));
            }
            let ledger_total: u128 = chain.state().ledger().leaves().iter().map(|l| l.balance).sum();
            prop_assert_eq!(ledger_total + chain.totals().fees_burned_wei, genesis_balances);
            prop_assert_eq!(chain.state().balance(&FEE_BURN_ADDRESS), U256::from(tips));
            prop_assert_eq!(chain.head().ledger_root, independent_ledger_root(&chain));
            prop_assert_eq!(chain.check_supply(), Ok(()));
        }
    }
}
