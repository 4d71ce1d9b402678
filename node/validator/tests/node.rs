//! The validator against bad peers and lost messages: block sync refuses what it cannot trust and
//! keeps syncing from honest peers; clients can ask what became of a transaction; the block store
//! and its receipts stay within their bound.
//!
//! The driver below runs four validators in one process with instant delivery and a simulated
//! clock: no madsim, just the sans-I/O `Node::handle`.

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use support::{CHAIN_ID, VALIDATORS, genesis, transfer, validator_set};

use alloy::primitives::B256;
use zkcrowd_chain::{Chain, SenderCache};
use zkcrowd_consensus::ValidatorIndex;
use zkcrowd_node::{CommittedBlock, Input, Node, NodeCounters, NodeParams, Output, PeerMessage, SignedMessage, Timer};
use zkcrowd_primitives::dev_signer;
use zkcrowd_protocol::{ClientMessage, ClientRequest, TxStatus};

const BLOCK_MS: u64 = 1_000;
const CLIENT: u64 = 7;

/// Four validators, instant links that can be cut per validator, timers on a simulated clock.
struct Cluster {
    nodes: Vec<Node>,
    now_ms: u64,
    timers: BTreeMap<(u64, u64), (usize, Timer)>,
    timer_sequence: u64,
    inbox: VecDeque<(usize, Input)>,
    connected: Vec<bool>,
    /// Messages to the client, in order.
    client: Vec<ClientMessage>,
}

impl Cluster {
    fn new(params: NodeParams) -> Self {
        let genesis = genesis();
        let set = validator_set();
        let senders = Arc::new(SenderCache::new(1_000));
        let nodes = (0..VALIDATORS)
            .map(|i| {
                let chain = Chain::from_genesis(&genesis).unwrap();
                Node::new(i, set.clone(), params.clone(), chain, senders.clone(), dev_signer(100 + u64::from(i)))
            })
            .collect();
        let mut cluster = Self {
            nodes,
            now_ms: 0,
            timers: BTreeMap::new(),
            timer_sequence: 0,
            inbox: VecDeque::new(),
            connected: vec![true; usize::from(VALIDATORS)],
            client: Vec::new(),
        };
        for i in 0..usize::from(VALIDATORS) {
            cluster.inbox.push_back((i, Input::Start));
        }
        cluster
    }

    fn handle(&mut self, at: usize, input: Input) {
        let outputs = self.nodes[at].handle(self.now_ms, input);
        for output in outputs {
            match output {
                Output::ToPeer { to, message } => self.send(at, usize::from(to), message),
                Output::Broadcast(message) => {
                    for to in (0..self.nodes.len()).filter(|to| *to != at) {
                        self.send(at, to, message.clone());
                    }
                }
                Output::ToClient { message, .. } => self.client.push(message),
                Output::SetTimer { timer, after_ms } => {
                    self.timer_sequence += 1;
                    self.timers.insert((self.now_ms + after_ms, self.timer_sequence), (at, timer));
                }
                Output::Committed(_) | Output::Evidence(_) => {}
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, message: PeerMessage) {
        if self.connected[from] && self.connected[to] {
            let from = ValidatorIndex::try_from(from).unwrap();
            // Every message crosses as bytes, as it would between processes.
            let message =
                zkcrowd_protocol::decode(&zkcrowd_protocol::encode(&message)).expect("a node's message decodes");
            self.inbox.push_back((to, Input::Peer { from, message }));
        }
    }

    /// Runs until `until_ms` of simulated time.
    fn run_until(&mut self, until_ms: u64) {
        loop {
            while let Some((at, input)) = self.inbox.pop_front() {
                self.handle(at, input);
            }
            let Some((&(at_ms, sequence), _)) = self.timers.first_key_value() else { return };
            if at_ms > until_ms {
                self.now_ms = until_ms;
                return;
            }
            let (node, timer) = self.timers.remove(&(at_ms, sequence)).unwrap();
            self.now_ms = at_ms;
            self.handle(node, Input::Timer(timer));
        }
    }

    fn height(&self, node: usize) -> u64 {
        self.nodes[node].chain().head().number
    }

    fn counters(&self, node: usize) -> NodeCounters {
        self.nodes[node].counters()
    }

    /// Hands `node` a sync response from validator `from` directly.
    fn sync_response(&mut self, node: usize, from: ValidatorIndex, blocks: Vec<CommittedBlock>) {
        self.handle(node, Input::Peer { from, message: PeerMessage::SyncResponse { blocks } });
    }

    fn client_request(&mut self, node: usize, request: ClientRequest) -> Vec<ClientMessage> {
        let before = self.client.len();
        self.handle(node, Input::Client { from: CLIENT, request });
        self.client[before..].to_vec()
    }
}

fn params() -> NodeParams {
    NodeParams::for_block_time(BLOCK_MS, 1_000)
}

/// Goal: every kind of bad sync response (a short, duplicated or unknown-member certificate, a
/// forged precommit signature, signatures over another block or round, a hash that is not the
/// block's, a block that does not execute, a batch above the limit) is refused and counted without
/// moving the node or stopping it, and the node still syncs from honest peers afterwards. Method:
/// cut validator 3 off while the others commit blocks, feed it forged responses built from an
/// honest one, then reconnect it.
#[test]
fn bad_sync_responses_are_refused_and_sync_recovers() {
    let mut cluster = Cluster::new(params());
    cluster.connected[3] = false;
    cluster.run_until(12 * BLOCK_MS);
    let ahead = cluster.height(0);
    assert!(ahead >= 5, "three of four validators are a quorum: height {ahead}");
    assert_eq!(cluster.height(3), 0);
    let honest: Vec<CommittedBlock> = cluster.nodes[0].blocks().take(3).cloned().collect();
    assert_eq!(honest[0].block.header.number, 1);

    let mut refusals = Vec::new();
    let forged = |edit: &dyn Fn(&mut CommittedBlock)| {
        let mut blocks = honest.clone();
        edit(&mut blocks[0]);
        blocks
    };
    assert!(honest[0].certificate.precommits.len() >= 3, "an honest certificate holds a quorum");
    let other_block = honest[1].certificate.clone();
    refusals.push(("short certificate", forged(&|b| b.certificate.precommits.truncate(2))));
    refusals
        .push(("duplicated certificate", forged(&|b| b.certificate.precommits = vec![b.certificate.precommits[0]; 4])));
    refusals.push((
        "unknown validator",
        forged(&|b| {
            let signature = b.certificate.precommits[0].1;
            b.certificate.precommits.push((999, signature));
        }),
    ));
    refusals.push((
        "forged signature",
        forged(&|b| {
            // Validator 1's precommit, signed by a key that is not validator 1's.
            let message =
                zkcrowd_consensus::Message::Precommit { height: 1, round: b.certificate.round, value: Some(b.hash) };
            let forged = SignedMessage::sign(message, 1, &dev_signer(5), CHAIN_ID);
            b.certificate.precommits[1] = (b.certificate.precommits[1].0, forged.signature);
        }),
    ));
    refusals.push(("signatures over another block", forged(&|b| b.certificate = other_block.clone())));
    refusals.push(("signatures of another round", forged(&|b| b.certificate.round += 1)));
    refusals.push(("hash mismatch", forged(&|b| b.hash = B256::repeat_byte(0xaa))));
    refusals.push((
        "does not execute",
        forged(&|b| {
            b.block.header.gas_used += 1;
            b.hash = b.block.header.hash();
            // Certified by a (here: forged) quorum of real keys: execution still refuses it.
            let message =
                zkcrowd_consensus::Message::Precommit { height: 1, round: b.certificate.round, value: Some(b.hash) };
            for (validator, signature) in &mut b.certificate.precommits {
                let key = dev_signer(100 + u64::from(*validator));
                *signature = SignedMessage::sign(message.clone(), *validator, &key, CHAIN_ID).signature;
            }
        }),
    ));
    let oversize: Vec<CommittedBlock> = honest.iter().cycle().take(params().sync_batch_max + 1).cloned().collect();
    refusals.push(("oversize", oversize));
    for (what, blocks) in refusals {
        let before = cluster.counters(3);
        cluster.sync_response(3, 0, blocks);
        assert_eq!(cluster.height(3), 0, "{what}: nothing imported");
        let after = cluster.counters(3);
        let counted = match what {
            "short certificate"
            | "duplicated certificate"
            | "unknown validator"
            | "forged signature"
            | "signatures over another block"
            | "signatures of another round" => after.sync_bad_certificate == before.sync_bad_certificate + 1,
            "hash mismatch" => after.sync_hash_mismatch == before.sync_hash_mismatch + 1,
            "does not execute" => after.sync_invalid_block == before.sync_invalid_block + 1,
            "oversize" => after.sync_oversize == before.sync_oversize + 1,
            _ => unreachable!(),
        };
        assert!(counted, "{what}: counted ({after:?})");
    }
    // A good block followed by a bad one: the good one stays imported.
    let mut partial = honest.clone();
    partial[1].hash = B256::repeat_byte(0xbb);
    cluster.sync_response(3, 1, partial);
    assert_eq!(cluster.height(3), 1, "the block before the refused one is imported");
    assert_eq!(cluster.counters(3).sync_hash_mismatch, 2);

    // A message from outside the validator set is dropped and counted, not trusted.
    let request = PeerMessage::SyncRequest { from_height: 1 };
    cluster.handle(3, Input::Peer { from: 999, message: request });
    assert_eq!(cluster.counters(3).peer_messages_from_unknown, 1);

    // Reconnected: it syncs from the honest validators and takes part again.
    cluster.connected[3] = true;
    cluster.run_until(40 * BLOCK_MS);
    let head = cluster.height(0);
    assert!(head > ahead, "the cluster kept going");
    assert!(cluster.height(3) + 1 >= head, "validator 3 caught up: {} of {head}", cluster.height(3));
    assert_eq!(cluster.nodes[3].chain().head_hash(), cluster.nodes[usize::from(VALIDATORS) - 2].chain().head_hash());
}

/// Goal: a client can ask a validator what became of a transaction (pending, committed in block N
/// with its status, unknown), a committed tx sent again is answered with `TxCommitted` (its first
/// one may have been lost), and the store and its receipts keep only the last
/// `store_blocks_max` blocks. Method: submit a transfer, query it before and after its block,
/// then run past the store's bound.
#[test]
fn transaction_status_and_bounded_store() {
    let mut params = params();
    params.store_blocks_max = 4;
    let mut cluster = Cluster::new(params);
    cluster.run_until(BLOCK_MS / 2);
    let tx = transfer(0, 0);
    let hash = tx.hash();
    let status = |cluster: &mut Cluster| -> TxStatus {
        match cluster.client_request(1, ClientRequest::GetTransaction { hash })[..] {
            [ClientMessage::TxStatus { hash: answered, status, .. }] if answered == hash => status,
            ref other => panic!("expected one status, got {other:?}"),
        }
    };
    assert_eq!(status(&mut cluster), TxStatus::Unknown);
    let answer = cluster.client_request(1, ClientRequest::SubmitTx(tx.clone()));
    assert!(matches!(answer[..], [ClientMessage::TxAccepted { .. }]), "{answer:?}");
    assert_eq!(status(&mut cluster), TxStatus::Pending);
    cluster.run_until(2 * BLOCK_MS + BLOCK_MS / 2);
    let got = status(&mut cluster);
    let TxStatus::Committed { block, success } = got else { panic!("not committed: {got:?}") };
    assert!(success);
    assert!(cluster.client.iter().any(|m| matches!(m, ClientMessage::TxCommitted { hash: h, .. } if *h == hash)));
    let again = cluster.client_request(2, ClientRequest::SubmitTx(tx));
    assert!(
        matches!(again[..], [ClientMessage::TxCommitted { hash: h, block: b, success: true }] if h == hash && b == block),
        "{again:?}"
    );

    cluster.run_until(20 * BLOCK_MS);
    assert!(cluster.height(1) > block + 4);
    assert_eq!(cluster.nodes[1].blocks().count(), 4, "the store keeps store_blocks_max blocks");
    assert_eq!(status(&mut cluster), TxStatus::Unknown, "its block left the store, and its receipt with it");
    // A peer asking for a block the store no longer has is refused and counted.
    cluster.handle(1, Input::Peer { from: 0, message: PeerMessage::SyncRequest { from_height: 1 } });
    assert_eq!(cluster.counters(1).sync_requests_unserved, 1);
}
