//! `zkcrowd plugin`: one plugin as an operating-system process.
//!
//! The plugin host is [`zkcrowd_client::PluginHost`], the code the simulator's plugins run, with
//! the honest strategy; this module is its runtime in a process:
//! 1. the clock is milliseconds since the process started; timers are tokio tasks;
//! 2. the transport is JSON-RPC over WebSocket, one connection per validator URL given: each opens
//!    a `zkcrowd_clientSession` (the validator's messages for this plugin arrive as its
//!    notifications) and sends requests with `zkcrowd_clientRequest` (see [`crate::rpc`]). A
//!    dropped connection is dialled again after [`REDIAL_MS`]; meanwhile the plugin's own resends
//!    and validator failover (the client's) carry on;
//! 3. the proving device is one prover thread running the plonky2 circuits
//!    ([`zkcrowd_client::prover`]) on the inputs the validator serves, one proof at a time, at most
//!    [`PROOF_QUEUE_MAX`] waiting. A job the chain does not require a real proof for (one without a
//!    circuit) gets the modeled record, logged as **modeled**; a testnet requires real ones.
//!
//! The plugin's key comes from a file (`--key FILE`, hex); the public development keys
//! (`dev:N`) only with `--dev N`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{B256, Bytes};
use anyhow::{Context, Result, bail};
use jsonrpsee::client_transport::ws::{Url, WsTransportClientBuilder};
use jsonrpsee::core::client::{ClientBuilder, ClientT, SubscriptionClientT};
use jsonrpsee::rpc_params;
use tokio::sync::mpsc;
use zkcrowd_client::prover::prove;
use zkcrowd_client::{
    ChainCadence, ClientConfig, Honest, PluginClient, PluginEvent, PluginHost, PluginRuntime, PluginTimer, ProofDue,
};
use zkcrowd_market::{JobId, ProofData, Statement};
use zkcrowd_primitives::{DevSigner, dev_signer};
use zkcrowd_proofs::{ProofSystem, Wrapper};
use zkcrowd_protocol::{Assignment, DecodeError, JobInputs};

use crate::rpc::ChainParams;

/// Frames from validators waiting for the host.
pub const FRAMES_QUEUE_MAX: usize = 1_024;
/// Requests waiting for one validator's connection.
pub const OUTBOX_FRAMES_MAX: usize = 256;
/// Proofs waiting for the prover thread.
pub const PROOF_QUEUE_MAX: usize = 16;
/// Wait before dialling a validator again.
pub const REDIAL_MS: u64 = 1_000;
/// How long a starting plugin waits for any validator to answer.
pub const FIRST_CONTACT_MS: u64 = 300_000;

/// Where a plugin's key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A file holding the hex private key.
    File(PathBuf),
    /// The public development key `dev:N` (`--dev N`): never for anything of value.
    Dev(u64),
}

impl KeySource {
    /// The signer.
    pub fn load(&self) -> Result<DevSigner> {
        match self {
            Self::Dev(index) => Ok(dev_signer(*index)),
            Self::File(path) => read_key(path),
        }
    }
}

/// Reads a hex secp256k1 private key from `path`.
pub fn read_key(path: &Path) -> Result<DevSigner> {
    DevSigner::from_bytes(&read_secret(path)?)
        .with_context(|| format!("{} is not a valid secp256k1 secret", path.display()))
}

/// Reads the 32 bytes of a hex private key from `path`.
pub fn read_secret(path: &Path) -> Result<B256> {
    let hex = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    hex.trim().parse().with_context(|| format!("{} is not a hex private key", path.display()))
}

/// What `zkcrowd plugin` runs.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    /// Validators' JSON-RPC WebSocket URLs; the first is the plugin's home, the others failover.
    pub rpc: Vec<String>,
    /// Its key.
    pub key: KeySource,
    /// The circuit cache directory.
    pub circuit_cache: PathBuf,
}

/// A proof the prover thread should make.
struct ProofOrder {
    assignment: Assignment,
    statement: Statement,
}

/// The plugin's runtime in a process (see the module documentation).
struct ProcessPlugin {
    start: Instant,
    events: mpsc::UnboundedSender<PluginEvent>,
    outboxes: Vec<mpsc::Sender<Bytes>>,
    prover: SyncSender<ProofOrder>,
    finished: Arc<Mutex<BTreeMap<JobId, ProofData>>>,
}

impl PluginRuntime for ProcessPlugin {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn set_timer(&mut self, after_ms: u64, timer: PluginTimer) {
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            let _ = events.send(PluginEvent::Timer(timer));
        });
    }

    fn send(&mut self, validator: u16, frame: Bytes) {
        let outbox = &self.outboxes[usize::from(validator) % self.outboxes.len()];
        if outbox.try_send(frame).is_err() {
            tracing::warn!(validator, "request dropped: the connection's queue is full (the client resends)");
        }
    }

    fn start_proof(&mut self, assignment: &Assignment, statement: Statement) {
        let order = ProofOrder { assignment: assignment.clone(), statement };
        match self.prover.try_send(order) {
            Ok(()) => {}
            Err(TrySendError::Full(order)) => {
                tracing::warn!(job = order.assignment.job, "not proving: {PROOF_QUEUE_MAX} proofs are waiting already");
            }
            Err(TrySendError::Disconnected(_)) => tracing::error!("the prover thread stopped"),
        }
    }

    fn take_proof(&mut self, _assignment: &Assignment, due: &ProofDue) -> Option<ProofData> {
        self.finished.lock().expect("finished lock").remove(&due.job)
    }

    fn abandon_proofs(&mut self) {
        self.finished.lock().expect("finished lock").clear();
    }

    fn frame_refused(&mut self, error: &DecodeError) {
        tracing::warn!("a validator's frame did not decode: {error}");
    }
}

/// The wrapper (the L1's proof circuits: ~15 s of circuit building and a few hundred MB), built
/// on a thread of its own from the plugin's start: the plugin registers and proves other jobs
/// meanwhile, and its first wrap job waits only for what is left of the build. (Built before
/// registering, the testnet's plugins stayed inactive for minutes on a loaded 2-core machine;
/// built on the first wrap job, the build sat on the path of the range's way to the L1.)
enum WrapperSlot {
    Building(std::sync::mpsc::Receiver<Result<Wrapper>>),
    Ready(Box<Wrapper>),
    Failed,
}

impl WrapperSlot {
    fn start(system: Arc<ProofSystem>) -> Self {
        let (sender, receiver) = sync_channel(1);
        let spawned = std::thread::Builder::new().name("wrapper-build".into()).spawn(move || {
            let _ = sender.send(Wrapper::build(&system));
        });
        match spawned {
            Ok(_) => WrapperSlot::Building(receiver),
            Err(error) => {
                tracing::error!("starting the wrapper build: {error}");
                WrapperSlot::Failed
            }
        }
    }

    /// The wrapper, waiting for its build if it is still under way.
    fn wait(&mut self, job: JobId) -> Option<&Wrapper> {
        if let WrapperSlot::Building(receiver) = self {
            tracing::info!(job, "wrap job: waiting for the wrapper circuits");
            *self = match receiver.recv() {
                Ok(Ok(built)) => WrapperSlot::Ready(Box::new(built)),
                Ok(Err(error)) => {
                    tracing::error!(job, "building the wrapper failed: {error:#}");
                    WrapperSlot::Failed
                }
                Err(_) => WrapperSlot::Failed,
            };
        }
        match self {
            WrapperSlot::Ready(wrapper) => Some(wrapper),
            _ => None,
        }
    }
}

/// The prover thread: proves orders one at a time and reports each as due.
fn prover_thread(
    system: Arc<ProofSystem>,
    prover: alloy::primitives::Address,
    orders: std::sync::mpsc::Receiver<ProofOrder>,
    finished: Arc<Mutex<BTreeMap<JobId, ProofData>>>,
    events: mpsc::UnboundedSender<PluginEvent>,
) {
    let mut wrapper_slot = WrapperSlot::start(system.clone());
    while let Ok(ProofOrder { assignment, statement }) = orders.recv() {
        let job = assignment.job;
        let start = Instant::now();
        let wraps = assignment.real_required && matches!(assignment.inputs.as_deref(), Some(JobInputs::Wrap { .. }));
        let wrapper = if wraps { wrapper_slot.wait(job) } else { None };
        let proof = match assignment.inputs.as_ref().filter(|_| assignment.real_required) {
            Some(inputs) => match prove(&system, wrapper, inputs, job, prover) {
                Ok(proven) => Some(ProofData::Real(proven.into_bytes().into())),
                Err(error) => {
                    tracing::error!(job, "proving failed: {error}");
                    None
                }
            },
            None if assignment.real_required => {
                tracing::error!(job, "the job needs a real proof but the validator served no inputs");
                None
            }
            None => {
                tracing::info!(job, kind = ?assignment.kind, "modeled proof: the chain requires no real proof of this job");
                Some(ProofData::modeled_valid(&statement))
            }
        };
        let proving_ms = start.elapsed().as_millis() as u64;
        if let Some(proof) = proof {
            tracing::info!(job, kind = ?assignment.kind, proving_ms, real = matches!(proof, ProofData::Real(_)), "proved");
            finished.lock().expect("finished lock").insert(job, proof);
            if events.send(PluginEvent::ProofDue(ProofDue { job, statement, proving_ms })).is_err() {
                return;
            }
        }
    }
}

/// One validator connection: dials `url`, opens a client session, forwards notifications to
/// `frames` and requests from `outbox`; dials again when the connection drops.
async fn connection(url: String, frames: mpsc::Sender<Bytes>, mut outbox: mpsc::Receiver<Bytes>) {
    loop {
        match session(&url, &frames, &mut outbox).await {
            Ok(()) => return,
            Err(error) => tracing::warn!(%url, "validator connection: {error:#}; dialling again"),
        }
        tokio::time::sleep(Duration::from_millis(REDIAL_MS)).await;
    }
}

async fn session(url: &str, frames: &mpsc::Sender<Bytes>, outbox: &mut mpsc::Receiver<Bytes>) -> Result<()> {
    let client = ws_client(url).await?;
    let mut messages = client
        .subscribe::<Bytes, _>("zkcrowd_clientSession", rpc_params![], "zkcrowd_closeClientSession")
        .await
        .context("opening a client session")?;
    tracing::info!(%url, "client session open");
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(Ok(frame)) => {
                    if frames.try_send(frame).is_err() {
                        tracing::warn!("a validator's message dropped: {FRAMES_QUEUE_MAX} are waiting");
                    }
                }
                Some(Err(error)) => tracing::warn!("a notification that is not a frame: {error}"),
                None => bail!("the session ended"),
            },
            request = outbox.recv() => {
                let Some(frame) = request else { return Ok(()) };
                client.request::<(), _>("zkcrowd_clientRequest", rpc_params![frame]).await.context("sending a request")?;
            }
        }
    }
}

/// A JSON-RPC client over WebSocket (no TLS: loopback and trusted networks).
pub async fn ws_client(url: &str) -> Result<jsonrpsee::core::client::Client> {
    let parsed: Url = url.parse().with_context(|| format!("{url} is not a URL"))?;
    let (sender, receiver) =
        WsTransportClientBuilder::default().build(parsed).await.with_context(|| format!("connecting to {url}"))?;
    Ok(ClientBuilder::default().build_with_tokio(sender, receiver))
}

/// The chain's parameters from the first validator that answers, trying each in turn for up to
/// [`FIRST_CONTACT_MS`] (a plugin may start before its validators).
async fn chain_params(urls: &[String]) -> Result<ChainParams> {
    let deadline = Instant::now() + Duration::from_millis(FIRST_CONTACT_MS);
    loop {
        for url in urls {
            let answer = async {
                let client = ws_client(url).await?;
                client
                    .request::<ChainParams, _>("zkcrowd_chainParams", rpc_params![])
                    .await
                    .context("zkcrowd_chainParams")
            };
            match answer.await {
                Ok(params) => return Ok(params),
                Err(error) if Instant::now() > deadline => {
                    return Err(error.context(format!("no validator answered in {FIRST_CONTACT_MS} ms")));
                }
                Err(error) => tracing::info!(%url, "waiting for a validator: {error:#}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(REDIAL_MS)).await;
    }
}

/// Loads the circuits (building and caching them on first use).
pub fn load_system(cache: &Path) -> Result<Arc<ProofSystem>> {
    let system = ProofSystem::load_or_build(cache)
        .with_context(|| format!("loading the circuits (cache {})", cache.display()))?;
    Ok(Arc::new(system))
}

/// Loads the circuits and builds the wrapper (a validator verifies wrapped proofs with it). Built,
/// not loaded from `Wrapper::load_or_build`'s cache: that file is 650 MB, and with it the testnet
/// test took 502 s on the CI machine against 168 s building in each process, most of the
/// difference before the plugins started (`up` serializing it, seven processes reading it).
pub fn load_circuits(cache: &Path) -> Result<(Arc<ProofSystem>, Arc<Wrapper>)> {
    let system = load_system(cache)?;
    let wrapper = Wrapper::build(&system).context("building the wrapper circuits")?;
    Ok((system, Arc::new(wrapper)))
}

/// Runs one plugin until the process is stopped.
pub fn run_plugin(options: &PluginOptions) -> Result<()> {
    if options.rpc.is_empty() {
        bail!("give at least one validator's WebSocket URL (--rpc ws://…)");
    }
    let signer = options.key.load()?;
    let address = signer.address();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let params: ChainParams = runtime.block_on(chain_params(&options.rpc))?;
    tracing::info!(plugin = %address, chain = params.chain_id, real_proofs = %params.real_proofs, "plugin starting");
    let system = load_system(&options.circuit_cache)?;
    let cadence = ChainCadence::from(&params);
    let client = PluginClient::new(signer, ClientConfig::for_chain(cadence, false));
    runtime.block_on(async move {
        let (events, internal) = mpsc::unbounded_channel::<PluginEvent>();
        let (frames_in, frames) = mpsc::channel::<Bytes>(FRAMES_QUEUE_MAX);
        let mut outboxes = Vec::new();
        for url in &options.rpc {
            let (outbox, requests) = mpsc::channel(OUTBOX_FRAMES_MAX);
            outboxes.push(outbox);
            tokio::spawn(connection(url.clone(), frames_in.clone(), requests));
        }
        let finished = Arc::new(Mutex::new(BTreeMap::new()));
        let (prover, orders) = sync_channel(PROOF_QUEUE_MAX);
        {
            let (finished, events) = (finished.clone(), events.clone());
            std::thread::Builder::new()
                .name("prover".to_owned())
                .spawn(move || prover_thread(system, address, orders, finished, events))?;
        }
        let device = ProcessPlugin { start: Instant::now(), events: events.clone(), outboxes, prover, finished };
        let validators = u16::try_from(options.rpc.len()).context("at most 65535 validator URLs")?;
        let host = PluginHost::new(client, device, Honest, validators, 0);
        events.send(PluginEvent::Online).expect("the receiver is here");
        let internal = futures::stream::unfold(internal, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        let frames = futures::stream::unfold(frames, |mut rx| async move {
            rx.recv().await.map(|frame| (PluginEvent::Frame(frame), rx))
        });
        zkcrowd_client::run(host, futures::stream::select(Box::pin(internal), Box::pin(frames))).await;
        Ok(())
    })
}
