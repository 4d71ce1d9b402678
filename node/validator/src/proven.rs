//! Which committed blocks are fully proven, as this validator's own chain says: what its L1
//! submission agent posts (docs/protocol.md §1, steps 9-10).
//!
//! Fed by every commit (decided or synced, see [`crate::Node`]): a block enters as unproven with
//! its roots; a `BlockFullyProven` market event (in the same block or a later one) marks it proven,
//! with the prover of its root job (the aggregator) from the `ProofAccepted` event of the same
//! block. The contiguous proven prefix is the node's fully proven head.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256};
use zkcrowd_chain::BlockOutcome;
use zkcrowd_market::EventKind;
use zkcrowd_primitives::BlockNumber;

/// Blocks kept (proven or not) beyond the fully proven head. A block that waits longer than this
/// many blocks for its proof is forgotten here (the chain still has it); at 2 s blocks this is
/// about 36 hours of backlog, about 10 MB.
pub const PROVEN_RECORDS_MAX: usize = 65_536;

/// What the L1 needs to know about a fully proven block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenRecord {
    /// Height.
    pub number: BlockNumber,
    /// Ledger root before the block (the previous block's).
    pub pre_root: B256,
    /// Ledger root after the block.
    pub post_root: B256,
    /// The block's transactions root.
    pub transactions_root: B256,
    /// The prover of the block's root proof (none for a block without jobs).
    pub aggregator: Option<Address>,
}

/// The tracker (see the module documentation).
#[derive(Debug, Clone)]
pub struct ProvenBlocks {
    /// Committed blocks above the fully proven head, with whether they are proven.
    records: BTreeMap<BlockNumber, (ProvenRecord, bool)>,
    /// Blocks at or below it are all proven (and dropped from `records`).
    head: BlockNumber,
    /// The ledger root of the last committed block.
    last_root: B256,
    /// Proven blocks below the head that the agent may still need, oldest first dropped.
    below_head: BTreeMap<BlockNumber, ProvenRecord>,
}

impl ProvenBlocks {
    /// A tracker for a chain whose head is `number` with ledger root `root` (blocks up to it are
    /// taken as proven: a restarted node does not re-learn its history here).
    pub fn new(number: BlockNumber, root: B256) -> Self {
        Self { records: BTreeMap::new(), head: number, last_root: root, below_head: BTreeMap::new() }
    }

    /// Records a committed block and the proofs it settled.
    pub fn after_commit(&mut self, outcome: &BlockOutcome) {
        let header = &outcome.block.header;
        let record = ProvenRecord {
            number: header.number,
            pre_root: self.last_root,
            post_root: header.ledger_root,
            transactions_root: header.transactions_root,
            aggregator: None,
        };
        self.last_root = header.ledger_root;
        self.records.insert(header.number, (record, false));
        let mut provers = BTreeMap::new();
        for event in &outcome.market_events {
            match &event.kind {
                EventKind::ProofAccepted { job, prover, .. } => {
                    provers.insert(*job, *prover);
                }
                EventKind::BlockFullyProven { block_number, root_job } => {
                    if let Some((record, proven)) = self.records.get_mut(block_number) {
                        record.aggregator = root_job.and_then(|job| provers.get(&job).copied());
                        *proven = true;
                    }
                }
                _ => {}
            }
        }
        while let Some((record, true)) = self.records.get(&(self.head + 1)).copied() {
            self.records.remove(&record.number);
            self.below_head.insert(record.number, record);
            self.head = record.number;
        }
        while self.below_head.len() > PROVEN_RECORDS_MAX {
            self.below_head.pop_first();
        }
        while self.records.len() > PROVEN_RECORDS_MAX {
            self.records.pop_first();
        }
    }

    /// The last block of the contiguous run of fully proven blocks.
    pub fn head(&self) -> BlockNumber {
        self.head
    }

    /// Fully proven blocks after `after`, contiguous, at most `max`.
    pub fn after(&self, after: BlockNumber, max: usize) -> Vec<ProvenRecord> {
        self.below_head
            .range(after + 1..)
            .map(|(_, r)| *r)
            .take_while({
                let mut next = after + 1;
                move |r| {
                    let contiguous = r.number == next;
                    next += 1;
                    contiguous
                }
            })
            .take(max)
            .collect()
    }
}
