//! The mempool: admitted transactions waiting for a block.
//!
//! Per sender, transactions are kept by nonce; a block is offered, for each sender, only the run of
//! consecutive nonces starting at the sender's state nonce, in arrival order (a later nonce is
//! never offered before an earlier one). Bounded by `capacity`; every refusal has a reason.

use std::collections::{BTreeMap, HashMap};

use alloy::consensus::Transaction;
use alloy::primitives::{Address, B256};
use zkcrowd_chain::{ChainState, SignedTx};
use zkcrowd_protocol::MempoolError;

/// How far ahead of the state nonce a sender may queue transactions.
pub const NONCE_AHEAD_MAX: u64 = 64;

#[derive(Debug, Clone)]
struct Entry {
    tx: SignedTx,
    arrival: u64,
}

/// The pending transactions of one node.
#[derive(Debug, Clone)]
pub struct Mempool {
    entries: HashMap<B256, Entry>,
    by_sender: BTreeMap<Address, BTreeMap<u64, B256>>,
    next_arrival: u64,
    capacity: usize,
}

impl Mempool {
    /// An empty pool for at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), by_sender: BTreeMap::new(), next_arrival: 0, capacity }
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

    /// Admits `tx` given the sender's state nonce.
    pub fn insert(&mut self, tx: SignedTx, state_nonce: u64) -> Result<(), MempoolError> {
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
        self.entries.insert(tx.hash, Entry { tx, arrival: self.next_arrival });
        self.next_arrival += 1;
        Ok(())
    }

    /// What to offer the block builder: for each sender the consecutive run from its state nonce,
    /// merged in arrival order with each sender's nonces kept ascending, at most `count_max`.
    pub fn candidates(&self, state: &ChainState, count_max: usize) -> Vec<SignedTx> {
        let mut ranked: Vec<(u64, u64, &SignedTx)> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let mut expected = state.nonce(sender);
            let mut priority = 0u64;
            for (&nonce, hash) in queue.range(expected..) {
                if nonce != expected {
                    break;
                }
                // `by_sender` and `entries` hold the same hashes (insert and remove keep them in step).
                let Some(entry) = self.entries.get(hash) else { continue };
                // A tx is offered no earlier than the one before it from the same sender.
                priority = priority.max(entry.arrival);
                ranked.push((priority, nonce, &entry.tx));
                // A nonce of u64::MAX can never be followed (EIP-2681 caps nonces below it).
                let Some(next) = expected.checked_add(1) else { break };
                expected = next;
            }
        }
        ranked.sort_by_key(|(priority, nonce, tx)| (*priority, tx.sender, *nonce));
        ranked.into_iter().take(count_max).map(|(_, _, tx)| tx.clone()).collect()
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

    /// Whether `sender` has a pending transaction with `nonce`.
    pub fn has_nonce(&self, sender: &Address, nonce: u64) -> bool {
        self.by_sender.get(sender).is_some_and(|queue| queue.contains_key(&nonce))
    }

    /// Senders with pending transactions.
    pub fn senders(&self) -> impl Iterator<Item = &Address> {
        self.by_sender.keys()
    }
}
