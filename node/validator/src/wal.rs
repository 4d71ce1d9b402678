//! The validator's write-ahead log: what consensus asks to persist ([`zkcrowd_consensus::WalEntry`],
//! host contract point 5 in `zkcrowd-consensus`) and the blocks those entries name, kept like the
//! chain, across crashes. A restarted validator rebuilds its consensus machine from it
//! ([`zkcrowd_consensus::Consensus::recover`]): it rejoins its height with its lock, its valid value
//! and the votes it sent, so it never votes against itself and never forgets a lock.
//!
//! With a `Lock` or `Valid` entry the node also keeps the signed prevotes of its polka (consensus
//! host contract point 5): after a restart it relays them again, the evidence others need to accept
//! a re-proposal of that value.
//!
//! The node appends an entry before executing the broadcasts that follow it (in a simulation the
//! append is the write; a disk-backed host syncs it before sending). Entries of heights below the
//! latest `StartHeight` are pruned when it is appended, with the blocks no remaining entry names.

use std::collections::BTreeMap;

use alloy::primitives::B256;
use zkcrowd_chain::Block;
use zkcrowd_consensus::{Message, WalEntry};

use crate::wire::SignedMessage;

/// Entries kept for one height. A height's log grows by a few entries per round (round start,
/// proposal, prevote, precommit, lock, valid); rounds stop at `zkcrowd_consensus::ROUND_MAX`, so
/// this bounds a height that sits through thousands of failed rounds. Beyond it the oldest
/// *round-start* entries would be the only ones safe to drop, so the log refuses to grow and counts
/// it instead ([`WriteAheadLog::overflowed`]); recovery then resumes an earlier round, which the
/// round-skip rule repairs.
pub const WAL_ENTRIES_MAX: usize = 8_192;

/// The log (see the module documentation). It serializes (serde) so that a host with a disk can
/// write it whole whenever [`WriteAheadLog::changes`] moves.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WriteAheadLog {
    entries: Vec<WalEntry>,
    /// Blocks named by a `Sent` proposal, a `Lock` or a `Valid` entry, by hash.
    blocks: BTreeMap<B256, Block>,
    /// The signed prevotes of the polkas that `Lock` and `Valid` entries name (at most one per
    /// validator and entry, so bounded with the entries).
    polkas: Vec<SignedMessage>,
    overflowed: u64,
    /// Mutations so far (not persisted: a host compares it with the count it last wrote).
    #[serde(skip)]
    changes: u64,
}

impl WriteAheadLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `entry` with the block it names (`block_of` looks it up among this node's proposals).
    pub fn append(&mut self, entry: WalEntry, block_of: impl Fn(&B256) -> Option<Block>) {
        self.changes += 1;
        if let WalEntry::StartHeight(height) = entry {
            self.entries.retain(|logged| logged.height() >= height);
            let named: Vec<B256> = self.entries.iter().filter_map(named_block).collect();
            self.blocks.retain(|hash, _| named.contains(hash));
            self.polkas.retain(|vote| vote.message.height() >= height);
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

    /// Keeps the signed prevotes of a polka a `Lock` or `Valid` entry just named (not once the log
    /// is full: the entry is refused too).
    pub fn keep_polka(&mut self, votes: impl IntoIterator<Item = SignedMessage>) {
        if self.entries.len() >= WAL_ENTRIES_MAX {
            return;
        }
        for vote in votes {
            if !self.polkas.contains(&vote) {
                self.changes += 1;
                self.polkas.push(vote);
            }
        }
    }

    /// How many times the log changed since this value was made: a host with a disk writes the
    /// log when the count moves (before sending what the change precedes).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The kept polka prevotes.
    pub fn polkas(&self) -> &[SignedMessage] {
        &self.polkas
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

#[cfg(test)]
mod tests {
    use super::*;
    use zkcrowd_primitives::dev_signer;

    fn prevote(height: u64, signer: u16) -> SignedMessage {
        let message = Message::Prevote { height, round: 0, value: Some(B256::repeat_byte(7)) };
        SignedMessage::sign(message, signer, &dev_signer(u64::from(signer)), 1)
    }

    /// Goal: polka prevotes are kept once each and pruned with their height's entries.
    #[test]
    fn polka_prevotes_are_kept_once_and_pruned_with_their_height() {
        let mut wal = WriteAheadLog::new();
        wal.append(WalEntry::StartHeight(5), |_| None);
        wal.keep_polka([prevote(5, 0), prevote(5, 1)]);
        wal.keep_polka([prevote(5, 1), prevote(5, 2)]);
        assert_eq!(wal.polkas().len(), 3);
        wal.append(WalEntry::StartHeight(6), |_| None);
        assert!(wal.polkas().is_empty(), "height 5's polka went with its entries");
    }
}
