//! The mempool: admitted transactions waiting for a block.
//!
//! Per sender, transactions are kept by nonce; a block is offered, for each sender, only the run of
//! consecutive nonces starting at the sender's state nonce, in arrival order (a later nonce is
//! never offered before an earlier one). Bounded by `capacity`; every refusal has a reason.
//!
//! **The market lane.** Calls to the market (heartbeats, proof submissions, registrations) are the
//! rollup's own work: a plugin whose heartbeat waits behind a flood of user transfers falls out of
//! the active set, and a proof that waits misses its deadline, so a flood would shed the very
//! crowd that must prove it. The builder is therefore offered market calls first, in arrival
//! order, up to `market_lane_txs_max` per block (a bound, so that calls to the market cannot crowd
//! users out either), then everything else in arrival order. A sender's nonces stay ascending
//! across both lanes. This is the proposer's ordering policy, not a validity rule: validators do
//! not refuse a block ordered otherwise.
//!
//! **Nothing stuck forever.** A transaction that can never be offered because a nonce before it
//! is missing (a gap: the tx before it was refused by the builder, lost, or evicted) is evicted,
//! with a reason its sender is told ([`MempoolError::Evicted`]): at once when the builder refuses
//! the tx before it ([`zkcrowd_protocol::Eviction::FollowsRefused`]), else after [`NONCE_GAP_BLOCKS_MAX`] blocks
//! ([`zkcrowd_protocol::Eviction::NonceGap`]). Senders re-sync their nonce and send again, as wallets do.

use std::collections::BTreeMap;

use alloy::consensus::Transaction;
use alloy::primitives::{Address, B256};
use zkcrowd_chain::{ChainState, SignedTx};
use zkcrowd_primitives::MARKET_ADDRESS;
use zkcrowd_protocol::MempoolError;

/// How far ahead of the state nonce a sender may queue transactions.
pub const NONCE_AHEAD_MAX: u64 = 64;
/// How many blocks a sender's queue may wait behind a missing nonce before it is evicted
/// ([`zkcrowd_protocol::Eviction::NonceGap`]). Long enough for a tx lost on a link to be re-sent by its sender
/// (plugins re-send after three blocks), short enough that a gap never holds the pool for long.
pub const NONCE_GAP_BLOCKS_MAX: u64 = 30;

#[derive(Debug, Clone)]
struct Entry {
    tx: SignedTx,
    arrival: u64,
    /// The head's number when it was admitted.
    admitted_block: u64,
}

/// The pending transactions of one node.
#[derive(Debug, Clone)]
pub struct Mempool {
    entries: BTreeMap<B256, Entry>,
    by_sender: BTreeMap<Address, BTreeMap<u64, B256>>,
    next_arrival: u64,
    capacity: usize,
}

impl Mempool {
    /// An empty pool for at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self { entries: BTreeMap::new(), by_sender: BTreeMap::new(), next_arrival: 0, capacity }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hashes of every pending transaction, by sender then nonce (a deterministic order).
    pub fn hashes(&self) -> Vec<B256> {
        self.by_sender.values().flat_map(|queue| queue.values().copied()).collect()
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &B256) -> bool {
        self.entries.contains_key(hash)
    }

    /// Admits `tx` given the sender's state nonce and the head's number.
    pub fn insert(&mut self, tx: SignedTx, state_nonce: u64, head: u64) -> Result<(), MempoolError> {
        if self.entries.contains_key(&tx.hash) {
            return Err(MempoolError::Known);
        }
        let nonce = tx.envelope.nonce();
        if nonce < state_nonce {
            return Err(MempoolError::NonceTooLow { expected: state_nonce, got: nonce });
        }
        if nonce > state_nonce.saturating_add(NONCE_AHEAD_MAX) {
            return Err(MempoolError::NonceTooFarAhead {
                expected: state_nonce,
                got: nonce,
                ahead_max: NONCE_AHEAD_MAX,
            });
        }
        if self.by_sender.get(&tx.sender).is_some_and(|queue| queue.contains_key(&nonce)) {
            return Err(MempoolError::NonceTaken { nonce });
        }
        if self.entries.len() >= self.capacity {
            return Err(MempoolError::Full { capacity: self.capacity });
        }
        self.by_sender.entry(tx.sender).or_default().insert(nonce, tx.hash);
        self.entries.insert(tx.hash, Entry { tx, arrival: self.next_arrival, admitted_block: head });
        self.next_arrival += 1;
        Ok(())
    }

    /// What to offer the block builder, at most `count_max`: for each sender the consecutive run
    /// from its state nonce. Market calls first (each sender's run up to its first other tx, at
    /// most `market_lane_max` in all), then the rest; each lane in arrival order, a sender's
    /// nonces ascending throughout (a tx is ranked no earlier than the one before it).
    pub fn candidates(&self, state: &ChainState, count_max: usize, market_lane_max: usize) -> Vec<SignedTx> {
        // (lane: 0 market, 1 other; rank; nonce; tx)
        let mut ranked: Vec<(u8, u64, u64, &SignedTx)> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let mut expected = state.nonce(sender);
            let mut priority = 0u64;
            let mut lane = 0u8;
            for (&nonce, hash) in queue.range(expected..) {
                if nonce != expected {
                    break;
                }
                // `by_sender` and `entries` hold the same hashes (insert and remove keep them in step).
                let Some(entry) = self.entries.get(hash) else { continue };
                if entry.tx.envelope.to() != Some(MARKET_ADDRESS) {
                    lane = 1;
                }
                priority = priority.max(entry.arrival);
                ranked.push((lane, priority, nonce, &entry.tx));
                // A nonce of u64::MAX can never be followed (EIP-2681 caps nonces below it).
                let Some(next) = expected.checked_add(1) else { break };
                expected = next;
            }
        }
        ranked.sort_by_key(|(lane, priority, nonce, tx)| (*lane, *priority, tx.sender, *nonce));
        // Past the lane's bound, market calls wait their turn among the rest, by arrival; a
        // sender's later market calls follow its earlier ones (same sender: ascending ranks).
        let lane_end = ranked.iter().take_while(|(lane, ..)| *lane == 0).count();
        if lane_end > market_lane_max {
            let mut overflow: Vec<_> = ranked.drain(market_lane_max..).collect();
            for entry in &mut overflow {
                entry.0 = 1;
            }
            overflow.sort_by_key(|(lane, priority, nonce, tx)| (*lane, *priority, tx.sender, *nonce));
            // Keep per-sender order: a sender's overflowing market calls may precede its own
            // later txs only by rank, which ascends with nonce for one sender.
            ranked.extend(overflow);
        }
        ranked.into_iter().take(count_max).map(|(_, _, _, tx)| tx.clone()).collect()
    }

    /// Removes a transaction (committed, or refused by the builder).
    pub fn remove(&mut self, hash: &B256) -> Option<SignedTx> {
        let entry = self.entries.remove(hash)?;
        let nonce = entry.tx.envelope.nonce();
        if let Some(queue) = self.by_sender.get_mut(&entry.tx.sender) {
            queue.remove(&nonce);
            if queue.is_empty() {
                self.by_sender.remove(&entry.tx.sender);
            }
        }
        Some(entry.tx)
    }

    /// Drops every pending tx of `sender` whose nonce is now below the state nonce (it can never
    /// be included), returning them.
    pub fn prune_sender(&mut self, sender: &Address, state_nonce: u64) -> Vec<SignedTx> {
        let stale: Vec<B256> = self
            .by_sender
            .get(sender)
            .map(|queue| queue.range(..state_nonce).map(|(_, h)| *h).collect())
            .unwrap_or_default();
        stale.iter().filter_map(|hash| self.remove(hash)).collect()
    }

    /// Evicts `sender`'s txs after `nonce` (the builder refused the tx with `nonce`: they can no
    /// longer be offered), returning them.
    pub fn evict_followers(&mut self, sender: &Address, nonce: u64) -> Vec<SignedTx> {
        let Some(after) = nonce.checked_add(1) else { return Vec::new() };
        let followers: Vec<B256> =
            self.by_sender.get(sender).map(|queue| queue.range(after..).map(|(_, h)| *h).collect()).unwrap_or_default();
        followers.iter().filter_map(|hash| self.remove(hash)).collect()
    }

    /// Evicts the queues that waited more than [`NONCE_GAP_BLOCKS_MAX`] behind a missing nonce at
    /// head `head`, returning them with the nonce each waited for. Costs a pass over the senders.
    pub fn evict_gapped(&mut self, state: &ChainState, head: u64) -> Vec<(SignedTx, u64)> {
        let mut gapped = Vec::new();
        for (sender, queue) in &self.by_sender {
            let expected = state.nonce(sender);
            let Some((&first, _)) = queue.first_key_value() else { continue };
            if first <= expected {
                continue;
            }
            let oldest = queue.values().filter_map(|h| self.entries.get(h)).map(|e| e.admitted_block).min();
            if oldest.is_some_and(|block| head >= block.saturating_add(NONCE_GAP_BLOCKS_MAX)) {
                gapped.extend(queue.values().map(|h| (*h, expected)));
            }
        }
        gapped.into_iter().filter_map(|(hash, expected)| self.remove(&hash).map(|tx| (tx, expected))).collect()
    }

    /// Whether `sender` has a pending transaction with `nonce`.
    pub fn has_nonce(&self, sender: &Address, nonce: u64) -> bool {
        self.by_sender.get(sender).is_some_and(|queue| queue.contains_key(&nonce))
    }

    /// Senders with pending transactions.
    pub fn senders(&self) -> impl Iterator<Item = &Address> {
        self.by_sender.keys()
    }
}

#[cfg(test)]
mod tests {
    use alloy::consensus::TxEip1559;
    use alloy::primitives::{Bytes, TxKind, U256};
    use zkcrowd_primitives::{dev_address, dev_signer, sign_tx};

    use super::*;

    fn tx(from: u64, nonce: u64, to: Address) -> SignedTx {
        let envelope = sign_tx(
            &dev_signer(from),
            TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 1,
                max_priority_fee_per_gas: 0,
                to: TxKind::Call(to),
                value: U256::ZERO,
                access_list: Default::default(),
                input: Bytes::new(),
            },
        );
        SignedTx::from_envelope(envelope, 1).unwrap()
    }

    fn senders_and_nonces(txs: &[SignedTx]) -> Vec<(Address, u64)> {
        txs.iter().map(|t| (t.sender, t.envelope.nonce())).collect()
    }

    /// Goal: under a flood, market calls that arrived last are offered first, up to the lane's
    /// bound, and no sender's nonces are ever offered out of order.
    #[test]
    fn market_calls_go_first_up_to_the_lane_bound() {
        let state = ChainState::new();
        let mut pool = Mempool::new(100);
        for user in 0..10 {
            pool.insert(tx(user, 0, dev_address(99)), 0, 1).unwrap();
        }
        for plugin in 20..23 {
            pool.insert(tx(plugin, 0, MARKET_ADDRESS), 0, 1).unwrap();
        }
        // A sender whose user tx comes first keeps its order: its market call waits for it.
        pool.insert(tx(30, 0, dev_address(99)), 0, 1).unwrap();
        pool.insert(tx(30, 1, MARKET_ADDRESS), 0, 1).unwrap();

        let offered = pool.candidates(&state, 5, 100);
        let first: Vec<Address> = offered.iter().take(3).map(|t| t.sender).collect();
        assert_eq!(first, (20..23).map(dev_address).collect::<Vec<_>>(), "market calls first");
        assert_eq!(offered[3].sender, dev_address(0), "then the rest in arrival order");

        let bounded = pool.candidates(&state, 100, 2);
        assert_eq!(bounded.iter().filter(|t| t.envelope.to() == Some(MARKET_ADDRESS)).count(), 4);
        assert_eq!(bounded[..2].iter().map(|t| t.sender).collect::<Vec<_>>(), vec![dev_address(20), dev_address(21)]);
        assert_eq!(bounded[2].sender, dev_address(0), "past the bound a market call waits its turn");
        let all = senders_and_nonces(&bounded);
        let p30: Vec<u64> = all.iter().filter(|(s, _)| *s == dev_address(30)).map(|(_, n)| *n).collect();
        assert_eq!(p30, vec![0, 1], "a sender's nonces stay ascending across lanes");
    }

    /// Goal: a refused tx's followers are evicted at once; a queue behind a missing nonce is
    /// evicted after `NONCE_GAP_BLOCKS_MAX` blocks, not before, and a queue without a gap never.
    #[test]
    fn gaps_are_evicted_with_a_reason() {
        let state = ChainState::new();
        let mut pool = Mempool::new(100);
        for nonce in 0..4 {
            pool.insert(tx(1, nonce, MARKET_ADDRESS), 0, 10).unwrap();
        }
        let evicted = pool.evict_followers(&dev_address(1), 1);
        assert_eq!(senders_and_nonces(&evicted), vec![(dev_address(1), 2), (dev_address(1), 3)]);
        assert_eq!(pool.len(), 2);

        // Sender 2 lost its nonce 0: nonces 1 and 2 wait behind the gap.
        pool.insert(tx(2, 1, MARKET_ADDRESS), 0, 10).unwrap();
        pool.insert(tx(2, 2, MARKET_ADDRESS), 0, 12).unwrap();
        assert!(pool.evict_gapped(&state, 10 + NONCE_GAP_BLOCKS_MAX - 1).is_empty(), "not yet");
        let gapped = pool.evict_gapped(&state, 10 + NONCE_GAP_BLOCKS_MAX);
        assert_eq!(gapped.len(), 2);
        assert!(gapped.iter().all(|(t, missing)| t.sender == dev_address(2) && *missing == 0));
        assert!(pool.evict_gapped(&state, 10_000).is_empty(), "sender 1's queue has no gap");
        assert_eq!(pool.len(), 2);
    }
}
