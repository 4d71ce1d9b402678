//! Four validators as they run in processes (the production host over tokio and TCP on
//! loopback): they agree on blocks, a client's transfer over TCP is accepted and committed, a
//! validator stopped like a crash leaves the others finalising, and rebuilt from its disk alone it
//! catches up to the same head hash. Malformed connections and frames are refused without harm.

#[path = "../../validator/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use zkcrowd_chain::{Chain, SenderCache};
use zkcrowd_node::{Node, NodeParams};
use zkcrowd_primitives::dev_signer;
use zkcrowd_process::store::Store;
use zkcrowd_process::transport::framing;
use zkcrowd_process::{Head, Hello, ValidatorHandle, ValidatorOptions, start_validator};
use zkcrowd_protocol::{ClientMessage, ClientRequest, decode, encode};

use support::{VALIDATORS, genesis, transfer, validator_set};

const BLOCK_MS: u64 = 300;
/// Longest wait for anything in this test (loopback is fast; CI machines are slow).
const PATIENCE: Duration = Duration::from_secs(60);

fn node(index: u16) -> Arc<Mutex<Node>> {
    let chain = Chain::from_genesis(&genesis()).unwrap();
    let params = NodeParams::for_block_time(BLOCK_MS, 1_000);
    let senders = Arc::new(SenderCache::new(1_000));
    let key = dev_signer(100 + u64::from(index));
    Arc::new(Mutex::new(Node::new(index, validator_set(), params, chain, senders, key)))
}

/// Waits until validator `v`'s head is at least `height`; its head then.
async fn reach(v: &ValidatorHandle, height: u64) -> Head {
    let mut head = v.head.clone();
    let reached = tokio::time::timeout(PATIENCE, head.wait_for(|h| h.number >= height)).await;
    *reached.expect("the validator reaches the height in time").expect("the validator runs")
}

/// Block hash at `height` in validator `v`'s chain.
fn hash_at(v: &ValidatorHandle, height: u64) -> alloy::primitives::B256 {
    let node = v.node.lock().unwrap();
    node.blocks().find(|b| b.block.header.number == height).map(|b| b.block.header.hash()).expect("block kept")
}

fn live(validators: &[Option<ValidatorHandle>], i: usize) -> &ValidatorHandle {
    validators[i].as_ref().expect("validator running")
}

async fn client(addr: SocketAddr) -> Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec> {
    let mut framed = Framed::new(TcpStream::connect(addr).await.unwrap(), framing());
    framed.send(Hello::Client.encode().0).await.unwrap();
    framed
}

async fn next_message(framed: &mut Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>) -> ClientMessage {
    let frame = tokio::time::timeout(PATIENCE, framed.next()).await.expect("a reply in time").unwrap().unwrap();
    decode(&frame).expect("the validator's frames decode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_over_tcp_commit_survive_a_crash_and_catch_up() {
    let listeners: Vec<TcpListener> =
        futures::future::join_all((0..VALIDATORS).map(|_| TcpListener::bind("127.0.0.1:0")))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    // Validator 3 keeps a disk; the others keep their state in memory only.
    let disk = std::env::temp_dir().join(format!("zkcrowd-test-tcp-{}.redb", std::process::id()));
    let _ = std::fs::remove_file(&disk);
    let mut validators: Vec<Option<ValidatorHandle>> = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let store = (i == 3).then(|| Arc::new(Store::open(&disk).unwrap()));
        let options = ValidatorOptions { store, ..Default::default() };
        validators.push(Some(start_validator(node(i as u16), listener, &addrs, options).await.unwrap()));
    }

    // They agree on the first blocks.
    for i in 0..4 {
        reach(live(&validators, i), 3).await;
    }
    let agreed = hash_at(live(&validators, 0), 3);
    for i in 1..4 {
        assert_eq!(hash_at(live(&validators, i), 3), agreed, "validator {i} committed another block 3");
    }

    // A client's transfer: accepted at once, then committed.
    let mut wallet = client(addrs[1]).await;
    let packet = transfer(0, 0);
    let hash = packet.hash();
    wallet.send(bytes::Bytes::from(encode(&ClientRequest::SubmitTx(packet)))).await.unwrap();
    assert!(matches!(next_message(&mut wallet).await, ClientMessage::TxAccepted { hash: h } if h == hash));
    let committed = loop {
        if let ClientMessage::TxCommitted { hash: h, block, success } = next_message(&mut wallet).await
            && h == hash
        {
            assert!(success);
            break block;
        }
    };

    // Garbage does no harm: a connection without a hello, a client frame that does not decode.
    let mut junk = TcpStream::connect(addrs[2]).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut junk, b"\x00\x00\x00\x03abc").await.unwrap();
    let mut bad = client(addrs[2]).await;
    bad.send(bytes::Bytes::from_static(&[1, 200, 0, 0])).await.unwrap();

    // Validator 3 crashes; the other three (more than 2/3 of the stake) keep finalising.
    let crashed = validators[3].take().unwrap();
    let crashed_head = crashed.head.borrow().number;
    drop(crashed.stop().await);
    let target = crashed_head.max(committed) + 4;
    for i in 0..3 {
        reach(live(&validators, i), target).await;
    }

    // Rebuilt from its disk alone (a fresh node from the genesis, its stored blocks replayed with
    // their certificates checked, its write-ahead log taken back), on the same address, it catches
    // up to the same head hash.
    let store = Store::open(&disk).unwrap();
    let stored = store.blocks().unwrap();
    let stored_head = stored.len() as u64;
    assert!(stored_head >= crashed_head, "every block it committed is on its disk");
    assert!(stored.iter().enumerate().all(|(i, b)| b.block.header.number == i as u64 + 1), "in order, from block 1");
    let restored = node(3);
    let replayed = restored.lock().unwrap().restore(stored, store.wal().unwrap()).expect("its own blocks replay");
    assert_eq!(replayed.len() as u64, stored_head);
    assert_eq!(restored.lock().unwrap().chain().head().number, stored_head);
    let listener = TcpListener::bind(addrs[3]).await.expect("the crashed validator's port is free again");
    let options = ValidatorOptions { restarted: true, store: Some(Arc::new(store)), ..Default::default() };
    validators[3] = Some(start_validator(restored, listener, &addrs, options).await.unwrap());
    let caught_up = reach(live(&validators, 3), target + 2).await;
    reach(live(&validators, 0), caught_up.number).await;
    assert_eq!(hash_at(live(&validators, 3), caught_up.number), hash_at(live(&validators, 0), caught_up.number));

    let refused = live(&validators, 2).counters.hellos_refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused >= 1, "the connection without a hello is refused");
    let malformed = live(&validators, 2).node.lock().unwrap().counters().frames_malformed;
    assert!(malformed >= 1, "the client's bad frame is a counted drop");

    for v in validators.into_iter().flatten() {
        v.stop().await;
    }
    let _ = std::fs::remove_file(&disk);
    // Let the stopped tasks wind down before the runtime goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
}
