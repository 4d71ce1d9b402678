//! The wire codec against its own output and against corrupted bytes.
//!
//! * Round trip: every message kind of the three families (peer messages, client requests, client
//!   messages), with random contents, decodes to what was encoded (equal, and re-encoding gives the same
//!   bytes), and each kind's frame is within its limit.
//! * Mutation: corrupted frames (flipped bytes, truncations, trailing bytes, a wrong version, an
//!   unknown kind, a frame above its kind's limit) never panic the decoder, are refused with the
//!   right typed reason where the corruption determines it, and whatever still decodes is handed to
//!   a validator, which must not panic either.

mod support;

use std::fmt::Debug;
use std::sync::Arc;

use support::{CHAIN_ID, VALIDATORS, genesis, validator_set};

use alloy::consensus::TxEip1559;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zkcrowd_chain::{Block, Chain, SenderCache, SignedTx, TxRejection};
use zkcrowd_consensus::Message;
use zkcrowd_ledger::{ACCOUNT_TREE_DEPTH, AccountLeaf, LeafWrite, b256_to_digest};
use zkcrowd_market::JobKind;
use zkcrowd_node::{Certificate, CommittedBlock, Input, Node, NodeParams, PeerMessage, SignatureBytes, SignedMessage};
use zkcrowd_primitives::{SignedZkpow, dev_address, dev_signer, sign_tx};
use zkcrowd_protocol::{
    Assignment, CallInputs, ClientMessage, ClientRequest, Codec, DecodeError, Eviction, JobInputs, MempoolError,
    TxPacket, TxRefusal, TxStatus, WIRE_VERSION, decode, encode,
};

fn node() -> Node {
    let chain = Chain::from_genesis(&genesis()).unwrap();
    let params = NodeParams::for_block_time(1_000, 1_000);
    Node::new(0, validator_set(), params, chain, Arc::new(SenderCache::new(100)), dev_signer(100))
}

fn b256(rng: &mut ChaCha8Rng) -> B256 {
    B256::from(rng.random::<[u8; 32]>())
}

fn digest(rng: &mut ChaCha8Rng) -> zkcrowd_ledger::Digest {
    // Canonical words only (below the Goldilocks prime): what a chain can make.
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_exact_mut(8) {
        chunk.copy_from_slice(&rng.random_range(0..0xFFFF_FFFF_0000_0001u64).to_be_bytes());
    }
    b256_to_digest(B256::from(bytes)).unwrap()
}

fn transfer(rng: &mut ChaCha8Rng) -> TxPacket {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: rng.random_range(0..1_000),
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::from(rng.random::<[u8; 20]>())),
        value: U256::from(rng.random::<u64>()),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let mut packet: TxPacket = sign_tx(&dev_signer(rng.random_range(0..4)), tx).into();
    if rng.random_bool(0.5) {
        let mut proof = vec![0u8; rng.random_range(0..2_000)];
        rng.fill_bytes(&mut proof);
        packet.sidecar = Some(proof.into());
    }
    packet
}

fn leaf(rng: &mut ChaCha8Rng) -> AccountLeaf {
    AccountLeaf { address: Address::from(rng.random::<[u8; 20]>()), nonce: rng.random(), balance: rng.random() }
}

fn write(rng: &mut ChaCha8Rng) -> LeafWrite {
    LeafWrite {
        index: rng.random(),
        before: rng.random_bool(0.5).then(|| leaf(rng)),
        after: leaf(rng),
        siblings: (0..ACCOUNT_TREE_DEPTH).map(|_| digest(rng)).collect(),
    }
}

fn proof_bytes(rng: &mut ChaCha8Rng) -> Bytes {
    let mut bytes = vec![0u8; rng.random_range(0..4_000)];
    rng.fill_bytes(&mut bytes);
    bytes.into()
}

fn job_kind(rng: &mut ChaCha8Rng) -> JobKind {
    match rng.random_range(0..5) {
        0 => JobKind::Tx { block: rng.random(), index: rng.random() },
        1 => JobKind::System { block: rng.random(), txs: rng.random() },
        2 => JobKind::Aggregate { block: rng.random(), level: rng.random(), left: rng.random(), right: rng.random() },
        3 => JobKind::RangeAggregate {
            first: rng.random(),
            level: rng.random(),
            left: rng.random(),
            right: rng.random(),
        },
        _ => JobKind::Wrap { first: rng.random(), last: rng.random(), root: rng.random() },
    }
}

fn inputs(rng: &mut ChaCha8Rng) -> Option<Arc<JobInputs>> {
    let inputs = match rng.random_range(0..5) {
        0 => return None,
        1 => JobInputs::Transfer {
            tx_hash: b256(rng),
            value_wei: rng.random(),
            fee_wei: rng.random(),
            writes: [write(rng), write(rng)],
        },
        2 => JobInputs::Span {
            calls: (0..rng.random_range(0..4))
                .map(|_| CallInputs {
                    tx_hash: b256(rng),
                    debit_wei: rng.random(),
                    credit_wei: rng.random(),
                    write: write(rng),
                })
                .collect(),
        },
        3 => JobInputs::Aggregate { left: proof_bytes(rng), right: proof_bytes(rng) },
        _ => JobInputs::Wrap {
            root: proof_bytes(rng),
            chain_id: rng.random(),
            first_block: rng.random(),
            last_block: rng.random(),
        },
    };
    Some(Arc::new(inputs))
}

fn assignment(rng: &mut ChaCha8Rng) -> Assignment {
    Assignment {
        job: rng.random(),
        kind: job_kind(rng),
        pre_root: digest(rng),
        post_root: digest(rng),
        commitment: digest(rng),
        created_block: rng.random(),
        deadline_block: rng.random(),
        inputs: inputs(rng),
        real_required: rng.random(),
        gas_used: rng.random(),
    }
}

fn refusal(rng: &mut ChaCha8Rng) -> TxRefusal {
    match rng.random_range(0..6) {
        0 => TxRefusal::Invalid(TxRejection::NonceTooLow { expected: rng.random(), got: rng.random() }),
        1 => TxRefusal::Invalid(TxRejection::Malformed("short input".to_string())),
        2 => TxRefusal::Mempool(MempoolError::Full { capacity: rng.random_range(0..1_000_000) }),
        3 => TxRefusal::Mempool(MempoolError::Evicted(Eviction::NonceGap { missing: rng.random(), blocks: 8 })),
        4 => TxRefusal::Mempool(MempoolError::Evicted(Eviction::FollowsRefused { refused: rng.random() })),
        _ => TxRefusal::Mempool(MempoolError::Known),
    }
}

fn consensus_message(rng: &mut ChaCha8Rng) -> Message {
    let (height, round) = (rng.random(), rng.random());
    let value = rng.random_bool(0.7).then(|| b256(rng));
    match rng.random_range(0..3) {
        0 => Message::Proposal {
            height,
            round,
            value: b256(rng),
            valid_round: rng.random_bool(0.5).then(|| rng.random()),
        },
        1 => Message::Prevote { height, round, value },
        _ => Message::Precommit { height, round, value },
    }
}

/// A real block: a few transfers built on the genesis.
fn block(rng: &mut ChaCha8Rng) -> Block {
    let mut chain = Chain::from_genesis(&genesis()).unwrap();
    let txs: Vec<SignedTx> = (0..rng.random_range(0..4u64))
        .map(|from| SignedTx::from_envelope(support::transfer(from, 0).envelope, CHAIN_ID).unwrap())
        .collect();
    chain.build_block(&txs, 1, dev_address(100)).block
}

fn signed(rng: &mut ChaCha8Rng) -> SignedMessage {
    let signer = rng.random_range(0..VALIDATORS);
    SignedMessage::sign(consensus_message(rng), signer, &dev_signer(100 + u64::from(signer)), CHAIN_ID)
}

/// One peer message of every kind.
fn peer_messages(rng: &mut ChaCha8Rng) -> Vec<PeerMessage> {
    let block = block(rng);
    let hash = block.header.hash();
    let certificate = Certificate {
        round: rng.random(),
        precommits: (0..VALIDATORS)
            .map(|v| {
                let mut signature = [0u8; 65];
                rng.fill_bytes(&mut signature);
                (v, SignatureBytes::from(signature))
            })
            .collect(),
    };
    vec![
        PeerMessage::Consensus { vote: signed(rng), block: None },
        PeerMessage::Consensus { vote: signed(rng), block: Some(Box::new(block.clone())) },
        PeerMessage::Txs((0..rng.random_range(0..5)).map(|_| transfer(rng)).collect()),
        PeerMessage::SyncRequest { from_height: rng.random() },
        PeerMessage::SyncResponse { blocks: vec![CommittedBlock { block, hash, certificate }] },
    ]
}

/// One client request of every kind.
fn client_requests(rng: &mut ChaCha8Rng) -> Vec<ClientRequest> {
    let plugin = Address::from(rng.random::<[u8; 20]>());
    vec![
        ClientRequest::SubmitTx(transfer(rng)),
        ClientRequest::Subscribe { plugin, watch_proofs: rng.random() },
        ClientRequest::Unsubscribe { plugin },
        ClientRequest::GetAccount { address: plugin },
        ClientRequest::GetAssignments { plugin },
        ClientRequest::GetTransaction { hash: b256(rng) },
        ClientRequest::Keepalive { plugin },
        ClientRequest::GetQuote,
    ]
}

/// One client message of every kind.
fn client_messages(rng: &mut ChaCha8Rng) -> Vec<ClientMessage> {
    let hash = b256(rng);
    let status = match rng.random_range(0..3) {
        0 => TxStatus::Committed { block: rng.random(), success: rng.random() },
        1 => TxStatus::Pending,
        _ => TxStatus::Unknown,
    };
    vec![
        ClientMessage::TxAccepted { hash },
        ClientMessage::TxRejected { hash, reason: refusal(rng) },
        ClientMessage::TxCommitted { hash, block: rng.random(), success: rng.random() },
        ClientMessage::Account {
            address: Address::from(rng.random::<[u8; 20]>()),
            nonce: rng.random(),
            balance: U256::from_be_bytes(rng.random::<[u8; 32]>()),
            market_balance: rng.random_bool(0.5).then(|| SignedZkpow::from_wei(rng.random::<i64>().into())),
            head: rng.random(),
            base_fee_per_gas: rng.random(),
        },
        ClientMessage::Assignments {
            plugin: Address::from(rng.random::<[u8; 20]>()),
            jobs: (0..rng.random_range(0..4)).map(|_| assignment(rng)).collect(),
            complete: rng.random(),
            head: rng.random(),
            active_plugins: rng.random(),
        },
        ClientMessage::ProofSeen { tx: transfer(rng) },
        ClientMessage::TxStatus { hash, status, head: rng.random() },
        ClientMessage::Keepalive {
            plugin: Address::from(rng.random::<[u8; 20]>()),
            subscribed: rng.random(),
            jobs: rng.random(),
            head: rng.random(),
            base_fee_per_gas: rng.random(),
        },
        // Every field at its largest: the frame must stay within its limit.
        ClientMessage::Quote(zkcrowd_market::MarketQuote {
            block: rng.random(),
            active_plugins: u64::MAX,
            open_jobs: u64::MAX,
            jobs_created: u64::MAX,
            bounty_base_wei: u128::MAX,
            bounty_fresh_wei: u128::MAX,
            bounty_open_mean_wei: Some(u128::MAX),
        }),
    ]
}

/// Every kind of the family appears, each round-trips, and each frame is within its limit.
fn round_trip<T: Codec + Debug + PartialEq>(messages: &[T], kinds: u8) {
    let seen: Vec<u8> = messages.iter().map(Codec::kind).collect();
    for kind in 0..kinds {
        assert!(seen.contains(&kind), "{}: kind {kind} not covered", T::FAMILY);
    }
    assert_eq!(T::bytes_max(kinds), None, "{}: no kind beyond {}", T::FAMILY, kinds - 1);
    for message in messages {
        let frame = encode(message);
        assert_eq!(frame[0], WIRE_VERSION);
        assert_eq!(frame[1], message.kind(), "the kind is the first payload byte");
        assert!(frame.len() <= T::bytes_max(message.kind()).unwrap(), "{message:?} within its limit");
        let decoded: T = decode(&frame).unwrap_or_else(|e| panic!("{message:?} decodes: {e}"));
        assert_eq!(encode(&decoded), frame, "re-encoding gives the same bytes");
        assert_eq!(&decoded, message);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Goal: every message kind of every family survives the codec unchanged.
    #[test]
    fn every_message_kind_round_trips(seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        round_trip(&peer_messages(&mut rng), 4);
        round_trip(&client_requests(&mut rng), 8);
        round_trip(&client_messages(&mut rng), 9);
    }
}

/// Corrupts `frame` in one of several ways chosen by `rng`; says which.
fn mutate(frame: &[u8], rng: &mut ChaCha8Rng) -> (Vec<u8>, &'static str) {
    let mut bytes = frame.to_vec();
    match rng.random_range(0..4) {
        0 => {
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] ^= 1 << rng.random_range(0..8);
            }
            (bytes, "flipped")
        }
        1 => {
            bytes.truncate(rng.random_range(0..bytes.len()));
            (bytes, "truncated")
        }
        2 => {
            bytes.extend((0..rng.random_range(1..16)).map(|_| rng.random::<u8>()));
            (bytes, "trailing")
        }
        _ => {
            let at = rng.random_range(1..bytes.len());
            bytes[at] = rng.random();
            (bytes, "overwritten")
        }
    }
}

/// Checks the typed reason where the corruption determines it; returns the message if it decoded.
fn decode_mutated<T: Codec + Debug>(bytes: &[u8], how: &str) -> Option<T> {
    let result = decode::<T>(bytes);
    match (how, &result) {
        ("truncated", Ok(message)) => panic!("a truncated frame decoded: {message:?}"),
        ("trailing", Err(error)) => {
            assert!(matches!(error, DecodeError::Trailing { .. } | DecodeError::Oversize { .. }), "{error}")
        }
        ("trailing", Ok(message)) => panic!("trailing bytes accepted: {message:?}"),
        _ => {}
    }
    result.ok()
}

/// Goal: no corrupted frame panics the decoder or a validator that receives what still decodes;
/// a wrong version, an unknown kind and an oversize frame are refused before decoding, by name.
/// Method: 400 mutations of each message's frame, for every kind of every family, from fixed
/// seeds; decoded survivors go to a fresh validator's `handle` (as peer 1 or as a client).
#[test]
fn corrupted_frames_are_refused_and_never_panic() {
    let mut node = node();
    let _ = node.handle(0, Input::Start);
    let mut decoded = 0usize;
    for seed in 0..4u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let peers = peer_messages(&mut rng);
        let requests = client_requests(&mut rng);
        let messages = client_messages(&mut rng);
        for _ in 0..100 {
            for message in &peers {
                let (bytes, how) = mutate(&encode(message), &mut rng);
                if let Some(message) = decode_mutated::<PeerMessage>(&bytes, how) {
                    decoded += 1;
                    let _ = node.handle(1_000, Input::Peer { from: 1, message });
                }
            }
            for request in &requests {
                let (bytes, how) = mutate(&encode(request), &mut rng);
                if let Some(request) = decode_mutated::<ClientRequest>(&bytes, how) {
                    decoded += 1;
                    let _ = node.handle(1_000, Input::Client { from: 9, request });
                }
            }
            for message in &messages {
                let (bytes, how) = mutate(&encode(message), &mut rng);
                decoded += usize::from(decode_mutated::<ClientMessage>(&bytes, how).is_some());
            }
        }
    }
    assert!(decoded > 0, "some corruptions still decode (flipped value bytes): they reached the node");

    // Refusals named before any decoding.
    let frame = encode(&ClientRequest::GetTransaction { hash: B256::ZERO });
    let mut wrong_version = frame.clone();
    wrong_version[0] = WIRE_VERSION + 1;
    assert!(matches!(decode::<ClientRequest>(&wrong_version), Err(DecodeError::Version { version: 2, .. })));
    let mut unknown = frame.clone();
    // Beyond every kind there is (kinds are numbered from 0 with no gaps).
    unknown[1] = 200;
    assert!(matches!(decode::<ClientRequest>(&unknown), Err(DecodeError::UnknownKind { kind: 200, .. })));
    assert!(matches!(decode::<ClientRequest>(&[]), Err(DecodeError::Empty { .. })));
    assert!(matches!(decode::<ClientRequest>(&[WIRE_VERSION]), Err(DecodeError::Empty { .. })));
    // A keepalive padded past its kind's limit: refused by size, whatever the bytes say.
    let mut oversize = encode(&ClientRequest::Keepalive { plugin: Address::ZERO });
    oversize.resize(zkcrowd_protocol::SMALL_MESSAGE_BYTES_MAX + 1, 0);
    assert!(matches!(decode::<ClientRequest>(&oversize), Err(DecodeError::Oversize { kind: "keepalive", .. })));
    // A length prefix claiming far more than the frame holds: malformed, no huge allocation.
    let mut huge = vec![WIRE_VERSION, 1];
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(decode::<PeerMessage>(&huge), Err(DecodeError::Malformed { .. })));
    // A digest word above the field's modulus: malformed (no chain makes it).
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut bad_root = assignment(&mut rng);
    bad_root.inputs = None;
    let message = ClientMessage::Assignments {
        plugin: Address::ZERO,
        jobs: vec![bad_root],
        complete: true,
        head: 1,
        active_plugins: 1,
    };
    let mut frame = encode(&message);
    let root = zkcrowd_ledger::digest_to_b256(match &message {
        ClientMessage::Assignments { jobs, .. } => jobs[0].pre_root,
        _ => unreachable!(),
    });
    let at = frame.windows(32).position(|w| w == root.as_slice()).expect("the root is in the frame");
    frame[at..at + 8].copy_from_slice(&[0xff; 8]);
    assert!(matches!(decode::<ClientMessage>(&frame), Err(DecodeError::Malformed { .. })));
}
