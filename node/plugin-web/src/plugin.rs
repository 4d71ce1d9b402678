//! The volunteer's plugin in a browser tab: [`WebPlugin`] is the plugin host of `zkcrowd plugin`
//! and of the simulator's plugins ([`zkcrowd_client::PluginHost`], honest strategy) over a runtime
//! whose I/O is done by JavaScript. The module is sans-I/O towards its page:
//!
//! 1. the page's worker (`www/plugin-worker.js`) owns the WebSocket to the validator, the timers
//!    and the clock; it feeds [`WebPlugin::frame`], [`WebPlugin::timer`], [`WebPlugin::online`]
//!    and drains [`WebPlugin::outputs`] (frames to send, timers to set) after each;
//! 2. proving is pulled, not pushed: an assignment the host starts waits in a queue of at most
//!    [`PROOF_QUEUE_MAX`]; the worker calls [`WebPlugin::prove_next`] when it is free, which
//!    proves one job (blocking the worker for seconds) and hands the proof to the host, which
//!    submits it if the job is still held;
//! 3. the clock is the page's (`performance.now()` style milliseconds, given with each call):
//!    wall-clock time is fine here, this is a real plugin, not simulated code.
//!
//! The circuits are built in the browser when the plugin starts (tens of seconds, never a
//! download); the wrapper (the L1's proof) only on a first wrap job.

use std::collections::{BTreeMap, VecDeque};

use alloy::primitives::{Address, B256, Bytes};
use serde::Serialize;
use zkcrowd_client::prover::prove;
use zkcrowd_client::{
    ChainCadence, ClientConfig, Honest, PluginClient, PluginEvent, PluginHost, PluginRuntime, PluginTimer, ProofDue,
};
use zkcrowd_market::{JobId, ProofData, Statement};
use zkcrowd_primitives::DevSigner;
use zkcrowd_proofs::{ProofSystem, Wrapper};
use zkcrowd_protocol::{Assignment, ChainParams, DecodeError, JobInputs};

/// Assignments waiting for the worker to prove them.
pub const PROOF_QUEUE_MAX: usize = 16;
/// Frames and timers waiting for the worker to drain them.
pub const OUTPUTS_MAX: usize = 4_096;
/// Proofs remembered for the page (most recent last).
pub const RECENT_PROOFS_MAX: usize = 32;

/// Something the worker must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    /// Send `frame` (an encoded client request, hex) to validator `validator` with
    /// `zkcrowd_clientRequest`.
    Send {
        /// Index into the validators the page knows.
        validator: u16,
        /// The encoded request.
        frame: Bytes,
    },
    /// Call [`WebPlugin::timer`] with `timer` and `generation` after `after_ms`.
    Timer {
        /// Delay.
        after_ms: u64,
        /// `tick` or `decide`.
        timer: &'static str,
        /// Its session.
        generation: u64,
    },
}

/// A proof the worker made, for the page.
#[derive(Debug, Clone, Serialize)]
pub struct ProofRecord {
    /// The job.
    pub job: JobId,
    /// What it proves (`Tx { block, index }`, `System { .. }`, `Aggregate { .. }`, …).
    pub kind: String,
    /// Proving time, ms (measured by the page's clock; never enters chain state).
    pub proving_ms: u64,
    /// Proven (`false`: the prover refused the inputs; `error` says why).
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// What the page shows (`WebPlugin::status`).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The plugin's account.
    pub address: Address,
    /// Online (between `online` and `offline`).
    pub online: bool,
    /// The chain head as the validator last reported it.
    pub head: u64,
    /// Active plugins as last reported.
    pub active_plugins: u64,
    /// Jobs the plugin holds now.
    pub held_jobs: Vec<JobId>,
    /// Assignments waiting for the worker.
    pub waiting: usize,
    /// Proofs made since the page started.
    pub proofs_made: u64,
    /// Proofs the prover could not make.
    pub proofs_failed: u64,
    /// The most recent proofs, oldest first.
    pub recent: Vec<ProofRecord>,
    /// Frames from the validator that did not decode.
    pub frames_malformed: u64,
    /// Outputs dropped because [`OUTPUTS_MAX`] were waiting.
    pub outputs_dropped: u64,
    /// Assignments not proven because [`PROOF_QUEUE_MAX`] were waiting.
    pub assignments_dropped: u64,
}

/// The runtime under the host: it records what the host asks for; the worker carries it out.
struct WebRuntime {
    now_ms: u64,
    outputs: Vec<Output>,
    outputs_dropped: u64,
    queue: VecDeque<(Assignment, Statement)>,
    assignments_dropped: u64,
    finished: BTreeMap<JobId, ProofData>,
    refused: Vec<String>,
}

impl WebRuntime {
    fn output(&mut self, output: Output) {
        if self.outputs.len() < OUTPUTS_MAX {
            self.outputs.push(output);
        } else {
            self.outputs_dropped += 1;
        }
    }
}

impl PluginRuntime for WebRuntime {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn set_timer(&mut self, after_ms: u64, timer: PluginTimer) {
        let (timer, generation) = match timer {
            PluginTimer::Tick { generation } => ("tick", generation),
            PluginTimer::Decide { generation } => ("decide", generation),
        };
        self.output(Output::Timer { after_ms, timer, generation });
    }

    fn send(&mut self, validator: u16, frame: Bytes) {
        self.output(Output::Send { validator, frame });
    }

    fn start_proof(&mut self, assignment: &Assignment, statement: Statement) {
        if self.queue.len() < PROOF_QUEUE_MAX {
            self.queue.push_back((assignment.clone(), statement));
        } else {
            self.assignments_dropped += 1;
        }
    }

    fn take_proof(&mut self, _assignment: &Assignment, due: &ProofDue) -> Option<ProofData> {
        self.finished.remove(&due.job)
    }

    fn abandon_proofs(&mut self) {
        self.queue.clear();
        self.finished.clear();
    }

    fn frame_refused(&mut self, error: &DecodeError) {
        if self.refused.len() < RECENT_PROOFS_MAX {
            self.refused.push(error.to_string());
        }
    }
}

/// Why a plugin could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The key is not 32 bytes of hex, or not a valid secp256k1 secret.
    #[error("the key is not a secp256k1 private key (64 hex digits): {0}")]
    BadKey(String),
    /// The chain parameters are not `zkcrowd_chainParams`'s answer.
    #[error("the chain parameters do not parse: {0}")]
    BadChainParams(String),
    /// A plugin needs at least one validator.
    #[error("no validator to talk to")]
    NoValidator,
    /// The circuits could not be built.
    #[error("building the circuits: {0}")]
    Circuits(String),
}

/// The signer of private key `secret_hex` (64 hex digits, `0x` optional).
pub fn signer(secret_hex: &str) -> Result<DevSigner, StartError> {
    let secret: B256 = secret_hex.trim().parse().map_err(|e| StartError::BadKey(format!("{e}")))?;
    DevSigner::from_bytes(&secret).map_err(|e| StartError::BadKey(e.to_string()))
}

/// One plugin in a browser (see the module documentation).
pub struct WebPlugin {
    host: PluginHost<WebRuntime, Honest>,
    system: ProofSystem,
    wrapper: Option<Wrapper>,
    proofs_made: u64,
    proofs_failed: u64,
    recent: VecDeque<ProofRecord>,
}

impl WebPlugin {
    /// A plugin with key `secret_hex` on the chain `chain_params_json` describes, talking to
    /// `validators` validators (the page's list; the first is its home). Builds the circuits.
    pub fn new(secret_hex: &str, chain_params_json: &str, validators: u16) -> Result<Self, StartError> {
        let signer = signer(secret_hex)?;
        let params: ChainParams =
            serde_json::from_str(chain_params_json).map_err(|e| StartError::BadChainParams(e.to_string()))?;
        if validators == 0 {
            return Err(StartError::NoValidator);
        }
        let system = ProofSystem::build().map_err(|e| StartError::Circuits(format!("{e:#}")))?;
        let cadence = ChainCadence::from(&params);
        let client = PluginClient::new(signer, ClientConfig::for_chain(cadence, false));
        let runtime = WebRuntime {
            now_ms: 0,
            outputs: Vec::new(),
            outputs_dropped: 0,
            queue: VecDeque::new(),
            assignments_dropped: 0,
            finished: BTreeMap::new(),
            refused: Vec::new(),
        };
        Ok(Self {
            host: PluginHost::new(client, runtime, Honest, validators, 0),
            system,
            wrapper: None,
            proofs_made: 0,
            proofs_failed: 0,
            recent: VecDeque::new(),
        })
    }

    /// The plugin's account.
    pub fn address(&self) -> Address {
        self.host.client().address()
    }

    fn handle(&mut self, now_ms: u64, event: PluginEvent) {
        // The page's clock is monotonic, but never let it run backwards here.
        let runtime = self.host.runtime_mut();
        runtime.now_ms = runtime.now_ms.max(now_ms);
        self.host.handle(event);
    }

    /// The volunteer starts the plugin.
    pub fn online(&mut self, now_ms: u64) {
        self.handle(now_ms, PluginEvent::Online);
    }

    /// The volunteer stops it: no heartbeats, held jobs are given up.
    pub fn offline(&mut self, now_ms: u64) {
        self.handle(now_ms, PluginEvent::Offline);
    }

    /// A frame from the validator (`zkcrowd_clientSession`'s notification).
    pub fn frame(&mut self, now_ms: u64, frame: Vec<u8>) {
        self.handle(now_ms, PluginEvent::Frame(frame.into()));
    }

    /// A timer set by an [`Output::Timer`] fired. An unknown name is ignored.
    pub fn timer(&mut self, now_ms: u64, timer: &str, generation: u64) {
        let timer = match timer {
            "tick" => PluginTimer::Tick { generation },
            "decide" => PluginTimer::Decide { generation },
            _ => return,
        };
        self.handle(now_ms, PluginEvent::Timer(timer));
    }

    /// What the worker must do now (drained).
    pub fn outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.host.runtime_mut().outputs)
    }

    /// Assignments waiting for [`Self::prove_next`].
    pub fn waiting(&self) -> usize {
        self.host.runtime().queue.len()
    }

    /// Proves the oldest waiting assignment and hands the proof to the host, which submits it if
    /// the job is still held. `clock` is the page's clock (ms), read before and after proving.
    pub fn prove_next(&mut self, clock: &mut dyn FnMut() -> f64) -> Option<ProofRecord> {
        let (assignment, statement) = self.host.runtime_mut().queue.pop_front()?;
        let job = assignment.job;
        let wraps = matches!(assignment.inputs.as_deref(), Some(JobInputs::Wrap { .. }));
        if wraps && self.wrapper.is_none() {
            match Wrapper::build(&self.system) {
                Ok(wrapper) => self.wrapper = Some(wrapper),
                Err(error) => {
                    return Some(self.failed(job, &assignment, 0, format!("building the wrapper: {error:#}")));
                }
            }
        }
        let start = clock();
        let proof = match assignment.inputs.as_ref().filter(|_| assignment.real_required) {
            Some(inputs) => prove(&self.system, self.wrapper.as_ref(), inputs, job, self.address())
                .map(|proven| ProofData::Real(proven.into_bytes().into()))
                .map_err(|error| error.to_string()),
            None if assignment.real_required => {
                Err("the job needs a real proof but the validator served no inputs".into())
            }
            None => Ok(ProofData::modeled_valid(&statement)),
        };
        let end = clock();
        let proving_ms = (end - start).max(0.0) as u64;
        match proof {
            Ok(proof) => {
                self.proofs_made += 1;
                self.host.runtime_mut().finished.insert(job, proof);
                self.handle(end as u64, PluginEvent::ProofDue(ProofDue { job, statement, proving_ms }));
                let record =
                    ProofRecord { job, kind: format!("{:?}", assignment.kind), proving_ms, ok: true, error: None };
                self.remember(record.clone());
                Some(record)
            }
            Err(error) => Some(self.failed(job, &assignment, proving_ms, error)),
        }
    }

    fn failed(&mut self, job: JobId, assignment: &Assignment, proving_ms: u64, error: String) -> ProofRecord {
        self.proofs_failed += 1;
        let record =
            ProofRecord { job, kind: format!("{:?}", assignment.kind), proving_ms, ok: false, error: Some(error) };
        self.remember(record.clone());
        record
    }

    fn remember(&mut self, record: ProofRecord) {
        if self.recent.len() == RECENT_PROOFS_MAX {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }

    /// What the page shows.
    pub fn status(&self) -> Status {
        let client = self.host.client();
        let runtime = self.host.runtime();
        Status {
            address: client.address(),
            online: client.is_online(),
            head: client.head(),
            active_plugins: client.active_plugins(),
            held_jobs: client.held().map(|a| a.job).collect(),
            waiting: runtime.queue.len(),
            proofs_made: self.proofs_made,
            proofs_failed: self.proofs_failed,
            recent: self.recent.iter().cloned().collect(),
            frames_malformed: self.host.frames_malformed(),
            outputs_dropped: runtime.outputs_dropped,
            assignments_dropped: runtime.assignments_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use zkcrowd_protocol::{ClientMessage, ClientRequest, decode, encode};

    use super::*;

    const PARAMS: &str = r#"{"chainId":424242,"blockTimeMs":1000,"heartbeatWindowBlocks":360,
        "proofDeadlineBlocks":180,"baseFeeWei":1000000000,"realProofs":"all"}"#;

    fn sent(outputs: &[Output]) -> Vec<ClientRequest> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send { frame, .. } => Some(decode::<ClientRequest>(frame).expect("a request the codec reads")),
                Output::Timer { .. } => None,
            })
            .collect()
    }

    /// Bad keys and parameters are typed refusals, before any circuit is built.
    #[test]
    fn bad_keys_and_parameters_are_refused() {
        assert!(matches!(WebPlugin::new("0x12", PARAMS, 1), Err(StartError::BadKey(_))));
        assert!(matches!(WebPlugin::new(&format!("0x{}", "00".repeat(32)), PARAMS, 1), Err(StartError::BadKey(_))));
        let key = format!("0x{}", "11".repeat(32));
        assert!(matches!(WebPlugin::new(&key, "{}", 1), Err(StartError::BadChainParams(_))));
        assert!(matches!(WebPlugin::new(&key, PARAMS, 0), Err(StartError::NoValidator)));
    }

    /// The worker's contract: coming online asks for the account and subscribes (frames the
    /// validator's codec reads) and sets the tick; an unregistered account's answer sends
    /// `register()`; a frame that does not decode is counted, not a panic; a tick after stopping
    /// sends nothing; outputs are drained.
    #[test]
    fn the_worker_contract() {
        let key = format!("0x{}", "11".repeat(32));
        let mut plugin = WebPlugin::new(&key, PARAMS, 1).expect("a plugin");
        plugin.online(1_000);
        let outputs = plugin.outputs();
        let requests = sent(&outputs);
        assert!(
            requests.iter().any(|r| matches!(r, ClientRequest::GetAccount { address } if *address == plugin.address()))
        );
        assert!(
            requests.iter().any(|r| matches!(r, ClientRequest::Subscribe { plugin: p, .. } if *p == plugin.address()))
        );
        let tick = outputs.iter().find_map(|o| match o {
            Output::Timer { timer: "tick", generation, after_ms } => Some((*generation, *after_ms)),
            _ => None,
        });
        let (generation, after_ms) = tick.expect("a tick timer");
        assert!(plugin.outputs().is_empty(), "drained");

        let account = ClientMessage::Account {
            address: plugin.address(),
            nonce: 0,
            balance: alloy::primitives::U256::from(10u128.pow(20)),
            market_balance: None,
            head: 5,
            base_fee_per_gas: 1_000_000_000,
        };
        plugin.frame(1_100, encode(&account));
        let requests = sent(&plugin.outputs());
        assert!(requests.iter().any(|r| matches!(r, ClientRequest::SubmitTx(_))), "register() sent: {requests:?}");

        plugin.frame(1_200, vec![0xff, 0x00, 0x13]);
        assert_eq!(plugin.status().frames_malformed, 1);
        assert_eq!(plugin.waiting(), 0);
        assert!(plugin.prove_next(&mut || 0.0).is_none(), "nothing to prove");

        plugin.offline(2_000);
        plugin.outputs();
        plugin.timer(2_000 + after_ms, "tick", generation);
        plugin.timer(2_000 + after_ms, "no-such-timer", generation);
        assert!(sent(&plugin.outputs()).is_empty(), "a stopped plugin's stale tick sends nothing");
        let status = plugin.status();
        assert!(!status.online);
        assert_eq!(status.head, 5);
    }
}
