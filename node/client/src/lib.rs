//! The plugin client: what a proving plugin runs to take part in the market. Sans-I/O, like the
//! validator: the host feeds [`Event`]s and carries out [`Action`]s, so the simulator runs the same
//! client as a real plugin would.
//!
//! 1. Coming online: ask the validator for the account (nonce, whether registered) and subscribe
//!    to assignments. Not registered: send `register()`.
//! 2. Heartbeat every `heartbeat_every_ms` while online, so the plugin stays eligible for work
//!    (eligibility needs a heartbeat recent enough to cover a job's whole deadline).
//! 3. For each assignment: ask the host to prove it ([`Action::Prove`]); when the host reports the
//!    proof ([`Event::ProofReady`]), submit it if its deadline has not passed.
//! 4. Nonces are tracked locally; a nonce refusal triggers a resync and the call is re-sent with a
//!    fresh nonce. A transaction neither committed nor refused after `resend_after_ms` is re-sent.
//!
//! How (or whether) a job is proven is the host's business: the simulator's behaviour models
//! (honest, lazy, invalid proofs, copier, withholder) sit there, not here.

use std::collections::{BTreeMap, VecDeque};

use alloy::consensus::{TxEip1559, TxEnvelope};
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use zkcrowd_market::{JobId, MarketCall, ProofData, Statement, SubmittedInputs};
use zkcrowd_primitives::{BlockNumber, DevSigner, MARKET_ADDRESS, sign_tx as sign};
use zkcrowd_protocol::{Assignment, ClientMessage, ClientRequest, TxPacket};

/// Client parameters.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Time between heartbeats while online.
    pub heartbeat_every_ms: u64,
    /// Re-send a transaction not yet committed or refused after this long.
    pub resend_after_ms: u64,
    /// Fee cap of every transaction.
    pub max_fee_per_gas: u128,
    /// Tip of every transaction.
    pub max_priority_fee_per_gas: u128,
    /// Also receive other plugins' proof submissions (copier behaviour).
    pub watch_proofs: bool,
}

/// What a transaction was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `register()`.
    Register,
    /// `heartbeat()`.
    Heartbeat,
    /// `submitProof` for this job.
    Proof(JobId),
    /// Anything else the host asked for.
    Other,
}

/// Something that happened to the client.
#[derive(Debug, Clone)]
pub enum Event {
    /// The plugin comes online.
    Online,
    /// The plugin goes offline (the device sleeps, the browser closes): no message is sent.
    Offline,
    /// Time passes (the host calls this periodically).
    Tick,
    /// A message from the validator.
    Message(ClientMessage),
    /// The host finished (or failed to finish honestly) a proof.
    ProofReady {
        /// The job.
        job: JobId,
        /// The proof to submit.
        proof: ProofData,
    },
    /// Send this market call as is (copier behaviour: someone else's proof under this name).
    SendCall(MarketCall),
    /// The host switched this client to another validator: resubscribe and resync.
    Reconnected,
}

/// What the host must do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send to the validator.
    Send(ClientRequest),
    /// Prove this assignment (the host decides how, and reports [`Event::ProofReady`]).
    Prove {
        /// The job.
        assignment: Assignment,
        /// Its statement bound to this plugin.
        statement: Statement,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    packet: TxPacket,
    sent_at_ms: u64,
    purpose: Purpose,
}

/// A plugin's client.
#[derive(Debug)]
pub struct PluginClient {
    signer: DevSigner,
    address: Address,
    config: ClientConfig,
    nonce: Option<u64>,
    registered: bool,
    online: bool,
    last_heartbeat_ms: Option<u64>,
    held: BTreeMap<JobId, Assignment>,
    pending: BTreeMap<B256, Pending>,
    /// Calls waiting for a nonce (with the sidecar of a real proof).
    queue: VecDeque<(MarketCall, U256, Purpose, Option<Bytes>)>,
    head: BlockNumber,
    active_plugins: u64,
    now_ms: u64,
}

/// Gas limit of market calls (a modeled proof needs ~60k; real proofs carry ~100 KiB of calldata).
pub const MARKET_CALL_GAS: u64 = 3_000_000;

impl PluginClient {
    /// A client signing with `signer`.
    pub fn new(signer: DevSigner, config: ClientConfig) -> Self {
        let address = signer.address();
        Self {
            signer,
            address,
            config,
            nonce: None,
            registered: false,
            online: false,
            last_heartbeat_ms: None,
            held: BTreeMap::new(),
            pending: BTreeMap::new(),
            queue: VecDeque::new(),
            head: 0,
            active_plugins: 0,
            now_ms: 0,
        }
    }

    /// The plugin's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Whether online.
    pub fn is_online(&self) -> bool {
        self.online
    }

    /// Jobs held.
    pub fn held(&self) -> impl Iterator<Item = &Assignment> {
        self.held.values()
    }

    /// Whether a transaction has waited for a verdict longer than `ms` (the validator may be down).
    pub fn has_overdue(&self, now_ms: u64, ms: u64) -> bool {
        self.pending.values().any(|p| now_ms >= p.sent_at_ms + ms)
    }

    /// The head the validator last reported.
    pub fn head(&self) -> BlockNumber {
        self.head
    }

    /// Active plugins the validator last reported (for bounty estimates).
    pub fn active_plugins(&self) -> u64 {
        self.active_plugins
    }

    /// Handles one event at `now_ms`.
    pub fn handle(&mut self, now_ms: u64, event: Event) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        match event {
            Event::Online => {
                self.online = true;
                self.nonce = None;
                self.resync(&mut out);
            }
            Event::Reconnected => {
                if self.online {
                    self.nonce = None;
                    self.resync(&mut out);
                    // Re-send what is still pending to the new validator.
                    for pending in self.pending.values_mut() {
                        pending.sent_at_ms = now_ms;
                        out.push(Action::Send(ClientRequest::SubmitTx(pending.packet.clone())));
                    }
                }
            }
            Event::Offline => {
                self.online = false;
                self.held.clear();
                self.pending.clear();
                self.queue.clear();
            }
            Event::Tick => self.tick(&mut out),
            Event::Message(message) => self.on_message(message, &mut out),
            Event::ProofReady { job, proof } => {
                if let Some(assignment) = self.held.get(&job) {
                    if self.online && self.head <= assignment.deadline_block {
                        let statement = assignment.statement(self.address);
                        let call = MarketCall::SubmitProof {
                            job_id: job,
                            inputs: SubmittedInputs::from_statement(&statement),
                            proof,
                        };
                        self.call(call, U256::ZERO, Purpose::Proof(job), &mut out);
                    }
                }
            }
            Event::SendCall(call) => {
                if self.online {
                    self.call(call, U256::ZERO, Purpose::Other, &mut out);
                }
            }
        }
        out
    }

    fn resync(&mut self, out: &mut Vec<Action>) {
        out.push(Action::Send(ClientRequest::GetAccount { address: self.address }));
        out.push(Action::Send(ClientRequest::Subscribe {
            plugin: self.address,
            watch_proofs: self.config.watch_proofs,
        }));
    }

    fn tick(&mut self, out: &mut Vec<Action>) {
        if !self.online {
            return;
        }
        let due = self.last_heartbeat_ms.is_none_or(|last| self.now_ms >= last + self.config.heartbeat_every_ms);
        let heartbeat_pending = self.pending.values().any(|p| p.purpose == Purpose::Heartbeat)
            || self.queue.iter().any(|(_, _, p, _)| *p == Purpose::Heartbeat);
        if self.registered && due && !heartbeat_pending {
            self.last_heartbeat_ms = Some(self.now_ms);
            self.call(MarketCall::Heartbeat, U256::ZERO, Purpose::Heartbeat, out);
        }
        let stale: Vec<B256> = self
            .pending
            .iter()
            .filter(|(_, p)| self.now_ms >= p.sent_at_ms + self.config.resend_after_ms)
            .map(|(h, _)| *h)
            .collect();
        for hash in stale {
            let pending = self.pending.get_mut(&hash).expect("listed");
            pending.sent_at_ms = self.now_ms;
            out.push(Action::Send(ClientRequest::SubmitTx(pending.packet.clone())));
        }
    }

    fn on_message(&mut self, message: ClientMessage, out: &mut Vec<Action>) {
        match message {
            ClientMessage::Account { address, nonce, market_balance, head, .. } if address == self.address => {
                self.head = self.head.max(head);
                // Pending txs already hold nonces below the validator's count; keep ours if ahead.
                self.nonce = Some(self.nonce.map_or(nonce, |n| n.max(nonce)));
                self.registered |= market_balance.is_some();
                let registering = self.pending.values().any(|p| p.purpose == Purpose::Register)
                    || self.queue.iter().any(|(_, _, p, _)| *p == Purpose::Register);
                if self.online && !self.registered && !registering {
                    self.call(MarketCall::Register, U256::ZERO, Purpose::Register, out);
                }
                self.flush_queue(out);
            }
            ClientMessage::Assignments { plugin, jobs, complete, head, active_plugins } if plugin == self.address => {
                self.head = self.head.max(head);
                self.active_plugins = active_plugins;
                if complete {
                    self.held.retain(|job, _| jobs.iter().any(|a| a.job == *job));
                }
                for assignment in jobs {
                    if !self.online || self.held.contains_key(&assignment.job) {
                        continue;
                    }
                    let statement = assignment.statement(self.address);
                    self.held.insert(assignment.job, assignment.clone());
                    out.push(Action::Prove { assignment, statement });
                }
            }
            ClientMessage::TxCommitted { hash, block, success } => {
                self.head = self.head.max(block);
                if let Some(pending) = self.pending.remove(&hash) {
                    match pending.purpose {
                        Purpose::Register if success => {
                            self.registered = true;
                            self.last_heartbeat_ms = Some(self.now_ms);
                        }
                        Purpose::Register => self.registered = true, // already registered
                        Purpose::Proof(job) => {
                            self.held.remove(&job);
                        }
                        Purpose::Heartbeat | Purpose::Other => {}
                    }
                }
            }
            ClientMessage::TxRejected { hash, reason } => {
                if let Some(pending) = self.pending.remove(&hash) {
                    if reason.contains("nonce") || reason.contains("already known") {
                        // Our count drifted (lost tx, another validator's view): resync and retry.
                        if !reason.contains("already known") {
                            if let Some(call) = decode_call(&pending.packet.envelope) {
                                let value = pending.envelope_value();
                                self.queue.push_back((call, value, pending.purpose, pending.packet.sidecar));
                            }
                            self.nonce = None;
                            out.push(Action::Send(ClientRequest::GetAccount { address: self.address }));
                        }
                    } else if let Purpose::Proof(job) = pending.purpose {
                        self.held.remove(&job);
                    }
                }
            }
            ClientMessage::TxAccepted { .. }
            | ClientMessage::ProofSeen { .. }
            | ClientMessage::Account { .. }
            | ClientMessage::Assignments { .. } => {}
        }
    }

    /// Queues a call. A real proof travels as a sidecar (its bytes are not deterministic, so they
    /// stay out of the tx hash; see `zkcrowd_chain::TxPacket`).
    fn call(&mut self, call: MarketCall, value: U256, purpose: Purpose, out: &mut Vec<Action>) {
        let (call, sidecar) = match call {
            MarketCall::SubmitProof { job_id, inputs, proof: ProofData::Real(bytes) } => {
                (MarketCall::SubmitProof { job_id, inputs, proof: ProofData::Sidecar }, Some(bytes))
            }
            call => (call, None),
        };
        self.queue.push_back((call, value, purpose, sidecar));
        self.flush_queue(out);
    }

    fn flush_queue(&mut self, out: &mut Vec<Action>) {
        while let Some(nonce) = self.nonce {
            let Some((call, value, purpose, sidecar)) = self.queue.pop_front() else { break };
            let envelope = sign(
                &self.signer,
                TxEip1559 {
                    chain_id: self.config.chain_id,
                    nonce,
                    gas_limit: MARKET_CALL_GAS,
                    max_fee_per_gas: self.config.max_fee_per_gas,
                    max_priority_fee_per_gas: self.config.max_priority_fee_per_gas,
                    to: TxKind::Call(MARKET_ADDRESS),
                    value,
                    access_list: Default::default(),
                    input: call.encode(),
                },
            );
            self.nonce = Some(nonce + 1);
            let packet = TxPacket { envelope, sidecar };
            self.pending.insert(packet.hash(), Pending { packet: packet.clone(), sent_at_ms: self.now_ms, purpose });
            out.push(Action::Send(ClientRequest::SubmitTx(packet)));
        }
    }
}

impl Pending {
    fn envelope_value(&self) -> U256 {
        use alloy::consensus::Transaction;
        self.packet.envelope.value()
    }
}

fn decode_call(envelope: &TxEnvelope) -> Option<MarketCall> {
    use alloy::consensus::Transaction;
    MarketCall::decode(envelope.input()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkcrowd_ledger::Digest;
    use zkcrowd_market::JobKind;

    fn client() -> PluginClient {
        PluginClient::new(
            zkcrowd_primitives::dev_signer(7),
            ClientConfig {
                chain_id: 1,
                heartbeat_every_ms: 10_000,
                resend_after_ms: 5_000,
                max_fee_per_gas: 10,
                max_priority_fee_per_gas: 1,
                watch_proofs: false,
            },
        )
    }

    fn sent_calls(actions: &[Action]) -> Vec<MarketCall> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(ClientRequest::SubmitTx(tx)) => decode_call(&tx.envelope),
                _ => None,
            })
            .collect()
    }

    /// Goal: the client registers when unregistered, heartbeats on schedule, proves assignments
    /// and submits proofs with consecutive nonces; a nonce refusal resyncs and re-sends.
    #[test]
    fn lifecycle() {
        let mut c = client();
        let address = c.address();
        let actions = c.handle(0, Event::Online);
        assert!(matches!(actions[0], Action::Send(ClientRequest::GetAccount { .. })));
        let account = ClientMessage::Account { address, nonce: 3, balance: U256::ZERO, market_balance: None, head: 1 };
        let actions = c.handle(10, Event::Message(account));
        assert_eq!(sent_calls(&actions), vec![MarketCall::Register]);
        let Action::Send(ClientRequest::SubmitTx(register)) = &actions[0] else { panic!() };
        use alloy::consensus::Transaction;
        assert_eq!(register.envelope.nonce(), 3);
        c.handle(20, Event::Message(ClientMessage::TxCommitted { hash: register.hash(), block: 2, success: true }));
        assert!(sent_calls(&c.handle(5_000, Event::Tick)).is_empty(), "no heartbeat before it is due");
        assert_eq!(sent_calls(&c.handle(10_020, Event::Tick)), vec![MarketCall::Heartbeat]);

        let assignment = Assignment {
            job: 9,
            kind: JobKind::Tx { block: 2, index: 0 },
            pre_root: Digest::default(),
            post_root: Digest::default(),
            commitment: Digest::default(),
            created_block: 2,
            deadline_block: 20,
            inputs: None,
        };
        let message = ClientMessage::Assignments {
            plugin: address,
            jobs: vec![assignment.clone()],
            complete: false,
            head: 3,
            active_plugins: 1,
        };
        let actions = c.handle(10_100, Event::Message(message));
        let Action::Prove { statement, .. } = &actions[0] else { panic!("expected a prove action") };
        assert_eq!(statement.prover, address);
        // A real proof goes out as a sidecar: the calldata carries only the marker.
        let proof = ProofData::Real(Bytes::from_static(b"plonky2 proof bytes"));
        let actions = c.handle(11_000, Event::ProofReady { job: 9, proof });
        let Action::Send(ClientRequest::SubmitTx(submission)) = &actions[0] else { panic!() };
        assert_eq!(submission.envelope.nonce(), 5, "register 3, heartbeat 4, proof 5");
        assert_eq!(submission.sidecar, Some(Bytes::from_static(b"plonky2 proof bytes")));
        assert!(matches!(sent_calls(&actions)[..], [MarketCall::SubmitProof { proof: ProofData::Sidecar, .. }]));

        // A nonce refusal: resync, then the same call goes out with the validator's nonce.
        let actions = c.handle(
            11_100,
            Event::Message(ClientMessage::TxRejected {
                hash: submission.hash(),
                reason: "nonce too low: account nonce is 6, tx nonce is 5".into(),
            }),
        );
        assert!(matches!(actions[0], Action::Send(ClientRequest::GetAccount { .. })));
        let account = ClientMessage::Account {
            address,
            nonce: 6,
            balance: U256::ZERO,
            market_balance: Some(Default::default()),
            head: 4,
        };
        let actions = c.handle(11_200, Event::Message(account));
        let calls = sent_calls(&actions);
        assert!(matches!(calls[..], [MarketCall::SubmitProof { job_id: 9, .. }]), "{calls:?}");
        let Action::Send(ClientRequest::SubmitTx(resent)) = &actions[0] else { panic!() };
        assert_eq!(resent.sidecar, submission.sidecar, "the sidecar survives a re-send");

        // Offline drops held work and sends nothing.
        assert!(c.handle(12_000, Event::Offline).is_empty());
        assert_eq!(c.held().count(), 0);
    }
}
