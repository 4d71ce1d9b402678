//! What the JSON-RPC server reads besides the live state: the last [`INDEXED_BLOCKS_MAX`]
//! committed blocks with their transactions and receipts, indexed by number, block hash and
//! transaction hash. The validator's runtime fills it from its commit reports, so it holds
//! exactly what the node committed (decided or synced).

use std::collections::{BTreeMap, VecDeque};

use alloy::consensus::{ReceiptEnvelope, TxEnvelope};
use alloy::primitives::B256;
use zkcrowd_chain::{BlockHeader, BlockOutcome, TxRecord};

/// Committed blocks the index keeps (~2.3 hours of 2-second blocks); older ones are dropped
/// oldest first, and the RPC says they are not kept.
pub const INDEXED_BLOCKS_MAX: usize = 4_096;

/// One committed transaction.
#[derive(Debug, Clone)]
pub struct IndexedTx {
    /// The signed transaction.
    pub envelope: TxEnvelope,
    /// What executing it did (sender, gas, fee, roots).
    pub record: TxRecord,
    /// Its receipt (status, cumulative gas, logs).
    pub receipt: ReceiptEnvelope,
}

/// One committed block.
#[derive(Debug, Clone)]
pub struct IndexedBlock {
    /// Its header.
    pub header: BlockHeader,
    /// Its hash (the Ethereum header's).
    pub hash: B256,
    /// Its transactions, in order.
    pub txs: Vec<IndexedTx>,
}

/// The index (see the module documentation).
#[derive(Debug, Default)]
pub struct ChainIndex {
    blocks: VecDeque<IndexedBlock>,
    by_hash: BTreeMap<B256, u64>,
    txs: BTreeMap<B256, (u64, usize)>,
}

impl ChainIndex {
    /// An index that starts at `header` (the genesis, or the head a node starts from).
    pub fn starting_at(header: BlockHeader) -> Self {
        let mut index = Self::default();
        let hash = header.hash();
        index.insert(IndexedBlock { header, hash, txs: Vec::new() });
        index
    }

    /// Adds a committed block.
    pub fn push(&mut self, outcome: &BlockOutcome) {
        let block = &outcome.block;
        let txs = block
            .transactions
            .iter()
            .zip(&outcome.txs)
            .zip(&outcome.receipts)
            .map(|((envelope, record), receipt)| IndexedTx {
                envelope: envelope.clone(),
                record: TxRecord { ledger_writes: Vec::new(), ..record.clone() },
                receipt: receipt.clone(),
            })
            .collect();
        self.insert(IndexedBlock { header: block.header.clone(), hash: outcome.hash, txs });
    }

    fn insert(&mut self, block: IndexedBlock) {
        // Blocks arrive in order; anything else (a restart's replay) starts the index afresh.
        if self.head().is_some_and(|head| head.header.number + 1 != block.header.number) {
            *self = Self::default();
        }
        let number = block.header.number;
        self.by_hash.insert(block.hash, number);
        for (position, tx) in block.txs.iter().enumerate() {
            self.txs.insert(*tx.envelope.tx_hash(), (number, position));
        }
        self.blocks.push_back(block);
        while self.blocks.len() > INDEXED_BLOCKS_MAX {
            let old = self.blocks.pop_front().expect("not empty");
            self.by_hash.remove(&old.hash);
            for tx in &old.txs {
                self.txs.remove(tx.envelope.tx_hash());
            }
        }
    }

    /// The newest block.
    pub fn head(&self) -> Option<&IndexedBlock> {
        self.blocks.back()
    }

    /// The oldest block kept.
    pub fn oldest(&self) -> Option<u64> {
        self.blocks.front().map(|b| b.header.number)
    }

    /// Block `number`, if kept.
    pub fn block(&self, number: u64) -> Option<&IndexedBlock> {
        let first = self.oldest()?;
        self.blocks.get(usize::try_from(number.checked_sub(first)?).ok()?)
    }

    /// The block with `hash`, if kept.
    pub fn block_by_hash(&self, hash: &B256) -> Option<&IndexedBlock> {
        self.block(*self.by_hash.get(hash)?)
    }

    /// The committed transaction `hash` with its block, if kept.
    pub fn tx(&self, hash: &B256) -> Option<(&IndexedBlock, usize)> {
        let &(number, position) = self.txs.get(hash)?;
        Some((self.block(number)?, position))
    }
}
