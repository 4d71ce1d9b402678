//! The validator's write-ahead log: what consensus asks to persist ([`zkcrowd_consensus::WalEntry`],
//! host contract point 5 in `zkcrowd-consensus`) and the blocks those entries name, kept like the
//! chain, across crashes. A restarted validator rebuilds its consensus machine from it
//! ([`zkcrowd_consensus::Consensus::recover`]): it rejoins its height with its lock, its valid value
//! and the votes it sent, so it never votes against itself and never forgets a lock.
//!
//! The node appends an entry before executing the broadcasts that follow it (in a simulation the
//! append is the write; a disk-backed host syncs it before sending). Entries of heights below the
//! latest `StartHeight` are pruned when it is appended, with the blocks no remaining entry names.

use std::collections::BTreeMap;

use alloy::primitives::B256;
use zkcrowd_chain::Block;
use zkcrowd_consensus::{Message, WalEntry};

/// Entries kept for one height. A height's log grows by a few entries per round (round start,
/// proposal, prevote, precommit, lock, valid); rounds stop at `zkcrowd_consensus::ROUND_MAX`, so
/// this bounds a height that sits through thousands of failed rounds. Beyond it the oldest
/// *round-start* entries would be the only ones safe to drop, so the log refuses to grow and counts
/// it instead ([`WriteAheadLog::overflowed`]); recovery then resumes an earlier round, which the
/// round-skip rule repairs.
pub const WAL_ENTRIES_MAX: usize = 8_192;

/// The log (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct WriteAheadLog {
    entries: Vec<WalEntry>,
    /// Blocks named by a `Sent` proposal, a `Lock` or a `Valid` entry, by hash.
    blocks: BTreeMap<B256, Block>,
    overflowed: u64,
}

impl WriteAheadLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `entry` with the block it names (`block_of` looks it up among this node's proposals).
    pub fn append(&mut self, entry: WalEntry, block_of: impl Fn(&B256) -> Option<Block>) {
        if let WalEntry::StartHeight(height) = entry {
            self.entries.retain(|logged| logged.height() >= height);
            let named: Vec<B256> = self.entries.iter().filter_map(named_block).collect();
            self.blocks.retain(|hash, _| named.contains(hash));
        }
        if self.entries.len() >= WAL_ENTRIES_MAX {
            self.overflowed += 1;
            return;
        }
        if let Some(hash) = named_block(&entry)
            && let Some(block) = block_of(&hash)
        {
            self.blocks.insert(hash, block);
        }
        self.entries.push(entry);
    }

    /// The entries, in the order they were appended.
    pub fn entries(&self) -> &[WalEntry] {
        &self.entries
    }

    /// The blocks the entries name, by hash.
    pub fn blocks(&self) -> &BTreeMap<B256, Block> {
        &self.blocks
    }

    /// Entries refused because the height's log was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }
}

/// The block an entry names, if any.
fn named_block(entry: &WalEntry) -> Option<B256> {
    match entry {
        WalEntry::Sent(Message::Proposal { value, .. }) => Some(*value),
        WalEntry::Lock { value, .. } | WalEntry::Valid { value, .. } => Some(*value),
        _ => None,
    }
}
