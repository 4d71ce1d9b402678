//! Byzantine validators (`faults: - { at, byzantine: { validator, behaviour, for } }`): the
//! validator's node runs unchanged and correct; what leaves it is tampered with, one recipient at
//! a time. This is the world's adversary, like the plugins' behaviours, not node code.
//!
//! Behaviours ([`ByzantineBehaviour`]):
//! 1. `equivocate`: each prevote and precommit goes as sent to every peer, and peers with an odd
//!    index also get a second vote of the same step with a different value (nil for a block; a
//!    made-up hash for nil).
//! 2. `conflicting_proposals`: each own proposal goes as built to every peer, and odd peers also get
//!    a second block of the same height with the same transactions and a timestamp one second
//!    later: a valid block with another hash.
//! 3. `withhold_votes`: prevotes and precommits are not sent at all.
//! 4. `invalid_block`: each own proposal carries its block with a wrong state root (execution
//!    fails on every correct validator, which prevotes nil).
//!
//! Odd peers receive both messages of an equivocation and record the evidence (the two signed
//! messages, `zkcrowd_node::Evidence`); even peers see one, as if the other had been lost. The
//! adversary holds its own validator key and signs what it makes up: it can lie in its own name,
//! never in another's. Messages it relays for others pass unchanged.

use alloy::primitives::{B256, keccak256};
use zkcrowd_consensus::Message;
use zkcrowd_node::{PeerMessage, SignedMessage};
use zkcrowd_primitives::DevSigner;

use crate::scenario::ByzantineBehaviour;

/// The Byzantine validator: its index, its key and its chain.
pub struct Adversary<'a> {
    /// The validator's index.
    pub index: u16,
    /// Its key.
    pub key: &'a DevSigner,
    /// The chain id (the signatures' domain).
    pub chain_id: u64,
}

/// What a Byzantine validator sends to peer `to` instead of `message`, in order (empty: nothing).
pub fn tamper(
    behaviour: ByzantineBehaviour,
    adversary: &Adversary<'_>,
    message: &PeerMessage,
    to: u16,
) -> Vec<PeerMessage> {
    let PeerMessage::Consensus { vote: signed, block } = message else {
        return vec![message.clone()];
    };
    if signed.signer != adversary.index {
        return vec![message.clone()];
    }
    let consensus = &signed.message;
    let odd = to % 2 == 1;
    let sign = |message: Message| SignedMessage::sign(message, adversary.index, adversary.key, adversary.chain_id);
    let vote = |message: Message| PeerMessage::Consensus { vote: sign(message), block: None };
    match (behaviour, consensus) {
        (ByzantineBehaviour::WithholdVotes, Message::Prevote { .. } | Message::Precommit { .. }) => Vec::new(),
        (ByzantineBehaviour::Equivocate, Message::Prevote { height, round, value }) if odd => {
            let value = other_value(*height, *round, *value);
            vec![message.clone(), vote(Message::Prevote { height: *height, round: *round, value })]
        }
        (ByzantineBehaviour::Equivocate, Message::Precommit { height, round, value }) if odd => {
            let value = other_value(*height, *round, *value);
            vec![message.clone(), vote(Message::Precommit { height: *height, round: *round, value })]
        }
        (ByzantineBehaviour::ConflictingProposals, Message::Proposal { height, round, valid_round, .. }) if odd => {
            let Some(block) = block.as_deref() else { return vec![message.clone()] };
            let mut other = block.clone();
            other.header.timestamp += 1;
            let value = other.header.hash();
            let second = Message::Proposal { height: *height, round: *round, value, valid_round: *valid_round };
            vec![message.clone(), PeerMessage::Consensus { vote: sign(second), block: Some(Box::new(other)) }]
        }
        (ByzantineBehaviour::InvalidBlock, Message::Proposal { height, round, valid_round, .. }) => {
            let Some(block) = block.as_deref() else { return vec![message.clone()] };
            let mut bad = block.clone();
            bad.header.state_root = keccak256(bad.header.state_root);
            let value = bad.header.hash();
            let message = Message::Proposal { height: *height, round: *round, value, valid_round: *valid_round };
            vec![PeerMessage::Consensus { vote: sign(message), block: Some(Box::new(bad)) }]
        }
        _ => vec![message.clone()],
    }
}

/// A vote value other than `value`: nil for a block, a made-up block hash for nil.
fn other_value(height: u64, round: u32, value: Option<B256>) -> Option<B256> {
    match value {
        Some(_) => None,
        None => {
            let mut preimage = b"zkcrowd byzantine".to_vec();
            preimage.extend_from_slice(&height.to_be_bytes());
            preimage.extend_from_slice(&round.to_be_bytes());
            Some(keccak256(preimage))
        }
    }
}
