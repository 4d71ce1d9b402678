//! Generates the L1 verifier of wrapped range proofs from the wrapper's final circuit and, with
//! `--fixtures`, the forge fixtures: real wrapped proofs with plonky2's verdicts on them and on
//! mutated copies, the calldata sections, and gate-evaluation vectors.
//!
//! `cargo run --release -p zkcrowd-proofs --bin zkcrowd-verifier-gen -- [--check] [--fixtures]`
//! (see docs/benchmarks.md, "On-chain verifier").

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use alloy::primitives::{Address, B256};
use anyhow::Context as _;
use clap::Parser;
use serde_json::json;
use zkcrowd_ledger::{AccountLeaf, AccountLedger};
use zkcrowd_proofs::solidity::{self, Layout, Shape, decode_proof, encode_proof, gate_vector, hash_vector};
use zkcrowd_proofs::{
    CallWitness, ProofSystem, RangeRecord, RealProof, SpanWitness, TransferWitness, WrapInputs, Wrapper,
};

/// The L2 chain id of the Rollup test chain of ranges.
const ROLLUP_CHAIN_ID: u64 = 7777;

/// The submitter (the Rollup test's only agent) of the chain of ranges.
const ROLLUP_SUBMITTER: Address = Address::repeat_byte(0xa6);

/// Where the forge fixtures go, under the repository root.
const FIXTURES: &str = "contracts/test/fixtures/wrapper";

/// Writes `contracts/src/generated/` (or, with `--check`, fails if it is stale).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The repository root.
    #[arg(long, env = "ZKCROWD_ROOT", default_value = ".")]
    root: PathBuf,
    /// Where the proof system's circuits are cached.
    #[arg(long, env = "ZKCROWD_PROOF_CACHE", default_value = "target/proof-cache")]
    cache: PathBuf,
    /// Compare the generated contracts with the files on disk instead of writing them; exit 1 if
    /// any differs.
    #[arg(long)]
    check: bool,
    /// Also prove and write the forge fixtures (about a minute per record set on two cores).
    #[arg(long)]
    fixtures: bool,
    /// Range records per root proof in the fixtures (four roots: 4 × this many proofs).
    #[arg(long, default_value_t = 5)]
    records: usize,
}

fn run(args: &Args) -> anyhow::Result<bool> {
    let started = Instant::now();
    let system = ProofSystem::load_or_build(&args.cache).context("loading the proof system")?;
    let wrapper = Wrapper::build(&system).context("building the wrapper")?;
    eprintln!("circuits ready in {:.1?}", started.elapsed());
    let files = solidity::generate(&wrapper)?;
    let mut fresh = true;
    for file in &files {
        let path = args.root.join(&file.path);
        if args.check {
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            if on_disk != file.contents {
                eprintln!("stale: {} (run zkcrowd-verifier-gen)", path.display());
                fresh = false;
            }
        } else {
            write(&path, file.contents.as_bytes())?;
            println!("wrote {}", path.display());
        }
    }
    if args.fixtures && !args.check {
        let directory = args.root.join(FIXTURES);
        // Proofs of an earlier run would linger under other names: start from an empty directory.
        if directory.exists() {
            std::fs::remove_dir_all(&directory).with_context(|| format!("emptying {}", directory.display()))?;
        }
        for (name, bytes) in fixtures(&system, &wrapper, args.records)? {
            let path = directory.join(name);
            write(&path, &bytes)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(fresh)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn address(byte: u8) -> Address {
    Address::with_last_byte(byte)
}

/// A transfer of 1,000 wei plus a 21,000 wei fee from `from` to `to`, applied to `ledger`.
fn transfer(ledger: &mut AccountLedger, from: u8, to: u8, tx: u8) -> anyhow::Result<TransferWitness> {
    let sender = *ledger.get(&address(from)).context("funded sender")?;
    let receiver = *ledger.get(&address(to)).context("funded receiver")?;
    let sender_after = AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance - 22_000, ..sender };
    let receiver_after = AccountLeaf { balance: receiver.balance + 1_000, ..receiver };
    let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
    let writes = [ledger.upsert_recorded(first)?, ledger.upsert_recorded(second)?];
    Ok(TransferWitness { tx_hash: B256::repeat_byte(tx), value_wei: 1_000, fee_wei: 21_000, writes })
}

/// Root proofs of four kinds of range: a one-transfer block (a transfer proof), a block of market
/// calls only (a span proof), a two-transfer block (an aggregate of leaves) and a two-block range
/// (an aggregate of that aggregate and the next block's transfer).
fn roots(system: &ProofSystem) -> anyhow::Result<Vec<(&'static str, RealProof)>> {
    let prover = Address::repeat_byte(0xaa);
    let mut ledger = AccountLedger::new();
    for byte in 1..=20 {
        ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: 1 << 100 })?;
    }
    let single = system.prove_transfer(&transfer(&mut ledger, 3, 7, 1)?, 1, prover)?;
    let calls = (0..3u8)
        .map(|i| {
            let before = *ledger.get(&address(10 + i)).context("funded")?;
            let write = ledger.upsert_recorded(AccountLeaf {
                nonce: before.nonce + 1,
                balance: before.balance - 100,
                ..before
            })?;
            Ok(CallWitness { tx_hash: B256::repeat_byte(0x40 + i), debit_wei: 100, credit_wei: 0, write })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let span = system.prove_span(&SpanWitness { calls }, 2, prover)?;
    let left = system.prove_transfer(&transfer(&mut ledger, 12, 4, 3)?, 3, prover)?;
    let right = system.prove_transfer(&transfer(&mut ledger, 5, 9, 4)?, 4, prover)?;
    let block = system.prove_aggregate(&left, &right, 5, prover)?;
    let next = system.prove_transfer(&transfer(&mut ledger, 15, 2, 5)?, 6, prover)?;
    let range = system.prove_aggregate(&block, &next, 7, prover)?;
    Ok(vec![("transfer", single), ("span", span), ("aggregate", block), ("two-block range", range)])
}

/// 64-bit values as 32-byte big-endian words, hex.
fn words_hex(values: &[u64]) -> String {
    let mut bytes = Vec::with_capacity(32 * values.len());
    for value in values {
        bytes.extend_from_slice(&[0u8; 24]);
        bytes.extend_from_slice(&value.to_be_bytes());
    }
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

/// plonky2's verdict on calldata and public-input words (the decoder refuses non-canonical
/// elements, as the contract does).
fn rust_verdict(wrapper: &Wrapper, shape: &Shape, calldata: &[u8], inputs: &WrapInputs) -> Result<(), String> {
    let fields = inputs.to_fields().ok_or("a public input is not canonical")?;
    let proof = decode_proof(shape, calldata, fields.to_vec()).map_err(|error| error.to_string())?;
    wrapper.verify(&proof)
}

/// The calldata sections the mutation tests cover: (name, first byte, bytes, repetitions, stride).
fn sections(shape: &Shape, layout: &Layout) -> Vec<(String, usize, usize, usize, usize)> {
    let cap = shape.cap_len() * 25;
    let mut out = vec![
        ("wires cap".to_owned(), layout.caps[0], cap, 1, 0),
        ("Z and partial-products cap".to_owned(), layout.caps[1], cap, 1, 0),
        ("quotient cap".to_owned(), layout.caps[2], cap, 1, 0),
        ("openings".to_owned(), layout.openings, layout.commit_caps - layout.openings, 1, 0),
        ("FRI commit caps".to_owned(), layout.commit_caps, layout.final_poly - layout.commit_caps, 1, 0),
        ("final polynomial".to_owned(), layout.final_poly, layout.pow_witness - layout.final_poly, 1, 0),
        ("proof-of-work witness".to_owned(), layout.pow_witness, 8, 1, 0),
    ];
    let oracle = ["constants and sigmas", "wires", "Zs and partial products", "quotient"];
    for (i, &(leaf, path)) in layout.initial.iter().enumerate() {
        out.push((
            format!("query leaves: {}", oracle[i]),
            layout.queries + leaf,
            path - leaf,
            shape.num_queries,
            layout.query_bytes,
        ));
        let path_bytes = shape.initial_path_length() * 25;
        out.push((
            format!("query Merkle paths: {}", oracle[i]),
            layout.queries + path,
            path_bytes,
            shape.num_queries,
            layout.query_bytes,
        ));
    }
    let step_paths = shape.step_path_lengths();
    for (step, &(evals, path)) in layout.steps.iter().enumerate() {
        out.push((
            format!("query FRI step {step} evaluations"),
            layout.queries + evals,
            path - evals,
            shape.num_queries,
            layout.query_bytes,
        ));
        out.push((
            format!("query FRI step {step} Merkle paths"),
            layout.queries + path,
            step_paths[step] * 25,
            shape.num_queries,
            layout.query_bytes,
        ));
    }
    out
}

/// A deterministic byte stream (keccak of a counter) for choosing mutations.
struct Choices(u64);

impl Choices {
    fn next(&mut self, below: usize) -> usize {
        self.0 += 1;
        let hash = alloy::primitives::keccak256(self.0.to_be_bytes());
        (u64::from_be_bytes(hash[..8].try_into().expect("8 bytes")) % below as u64) as usize
    }
}

/// The fixture files: (path under [`FIXTURES`], contents).
type Files = Vec<(String, Vec<u8>)>;

fn fixtures(system: &ProofSystem, wrapper: &Wrapper, records: usize) -> anyhow::Result<Files> {
    let shape = Shape::of(wrapper.final_common())?;
    let layout = Layout::of(&shape);
    let sections = sections(&shape, &layout);

    // Gate-evaluation vectors: plonky2's `eval_unfiltered` at random openings, and hash vectors.
    let mut gate_vectors = Vec::new();
    for seed in ["gates 1", "gates 2", "gates 3"] {
        let (input, output) = gate_vector(wrapper.final_common(), seed);
        let words = |values: &[u64]| words_hex(values);
        gate_vectors.push(json!({ "input": words(&input), "output": words(&output) }));
    }
    let mut hash_vectors = Vec::new();
    for seed in ["hash 1", "hash 2"] {
        let (input, output) = hash_vector(wrapper.final_common().num_public_inputs, seed);
        hash_vectors.push(json!({ "input": words_hex(&input), "output": words_hex(&output) }));
    }

    // Proofs: every root under `records` range records.
    let mut proofs = Vec::new();
    let mut calldatas: Vec<(String, Vec<u8>)> = Vec::new();
    let mut timings = Vec::new();
    let roots = roots(system)?;
    let mut normalized_roots = Vec::new();
    for (kind, root) in &roots {
        let started = Instant::now();
        let normalized = wrapper.normalize(system, root)?;
        let stage1 = started.elapsed();
        normalized_roots.push(normalized.clone());
        for r in 0..records {
            let record = RangeRecord {
                chain_id: 1 + (r as u64 % 2) * 6,
                first_block: 1 + 10 * r as u64,
                last_block: 1 + 10 * r as u64 + r as u64,
                prover: Address::repeat_byte(0x10 + r as u8),
            };
            let started = Instant::now();
            let proof = wrapper.finish(&normalized, &record)?;
            let last = started.elapsed();
            let inputs = Wrapper::inputs_of(&proof).context("16 public inputs")?;
            let calldata = encode_proof(&shape, &proof)?;
            rust_verdict(wrapper, &shape, &calldata, &inputs)
                .map_err(|reason| anyhow::anyhow!("a fresh {kind} proof does not verify: {reason}"))?;
            eprintln!("{kind} proof {r}: stage 1 {stage1:.1?}, final {last:.1?}, {} bytes", calldata.len());
            timings.push(last.as_secs_f64());
            let file = format!("proof-{:02}.bin", proofs.len());
            calldatas.push((file.clone(), calldata));
            proofs.push(json!({
                "root": kind,
                "file": file,
                "inputs": inputs.words().iter().map(|w| hex(w.as_slice())).collect::<Vec<_>>(),
                "chainId": record.chain_id,
                "firstBlock": record.first_block,
                "lastBlock": record.last_block,
                "submitter": record.prover.to_string(),
            }));
        }
    }

    // A chain of ranges for the Rollup tests: the one-transfer block as range [1, 1], the span block
    // as [2, 2], the two-block range as [3, 4], all for L2 chain ROLLUP_CHAIN_ID and submitter
    // ROLLUP_SUBMITTER (each starts at the previous one's post root).
    let mut chain = Vec::new();
    for (position, first, last) in [(0usize, 1u64, 1u64), (1, 2, 2), (3, 3, 4)] {
        let record =
            RangeRecord { chain_id: ROLLUP_CHAIN_ID, first_block: first, last_block: last, prover: ROLLUP_SUBMITTER };
        let proof = wrapper.finish(&normalized_roots[position], &record)?;
        let inputs = Wrapper::inputs_of(&proof).context("16 public inputs")?;
        let calldata = encode_proof(&shape, &proof)?;
        rust_verdict(wrapper, &shape, &calldata, &inputs)
            .map_err(|reason| anyhow::anyhow!("a fresh rollup-chain proof does not verify: {reason}"))?;
        let file = format!("range-{first}-{last}.bin");
        chain.push(json!({
            "file": file,
            "first": first,
            "last": last,
            "preRoot": inputs.pre_root.to_string(),
            "postRoot": inputs.post_root.to_string(),
            "txCommitment": inputs.commitment.to_string(),
            "binding": inputs.binding.to_string(),
        }));
        calldatas.push((file, calldata));
    }
    anyhow::ensure!(
        chain.windows(2).all(|pair| pair[0]["postRoot"] == pair[1]["preRoot"]),
        "the rollup chain's ranges do not chain"
    );

    // Mutated copies with plonky2's verdicts: one byte of one section of each proof, and one byte
    // of one public input.
    let mut choices = Choices(0);
    let mut mutations = Vec::new();
    for (index, proof) in proofs.iter().enumerate() {
        let calldata = calldatas[index].1.clone();
        let words: Vec<B256> = proof["inputs"]
            .as_array()
            .context("inputs")?
            .iter()
            .map(|w| w.as_str().context("hex")?.parse::<B256>().context("a word"))
            .collect::<anyhow::Result<_>>()?;
        let inputs = WrapInputs { pre_root: words[0], post_root: words[1], commitment: words[2], binding: words[3] };
        for round in 0..2 {
            let (name, start, bytes, repetitions, stride) = &sections[(2 * index + round) % sections.len()];
            let offset = start + stride * choices.next(*repetitions) + choices.next(*bytes);
            let xor = 1 + choices.next(255) as u8;
            let mut mutated = calldata.clone();
            mutated[offset] ^= xor;
            let verdict = rust_verdict(wrapper, &shape, &mutated, &inputs);
            mutations.push(json!({
                "proof": index, "section": name, "offset": offset, "xor": xor, "input": -1,
                "valid": verdict.is_ok(), "reason": verdict.err().unwrap_or_default(),
            }));
        }
        let word = choices.next(4);
        let byte = choices.next(32);
        let xor = 1 + choices.next(255) as u8;
        let mut mutated = inputs.words();
        let mut bytes = mutated[word].0;
        bytes[byte] ^= xor;
        mutated[word] = B256::from(bytes);
        let mutated_inputs =
            WrapInputs { pre_root: mutated[0], post_root: mutated[1], commitment: mutated[2], binding: mutated[3] };
        let verdict = rust_verdict(wrapper, &shape, &calldata, &mutated_inputs);
        mutations.push(json!({
            "proof": index, "section": "public inputs", "offset": 32 * word + byte, "xor": xor, "input": word,
            "valid": verdict.is_ok(), "reason": verdict.err().unwrap_or_default(),
        }));
    }
    let section_list: Vec<serde_json::Value> = sections
        .iter()
        .map(|(name, start, bytes, repetitions, stride)| {
            json!({ "name": name, "start": start, "bytes": bytes, "repetitions": repetitions, "stride": stride })
        })
        .collect();
    let mean = timings.iter().sum::<f64>() / timings.len().max(1) as f64;
    eprintln!("{} proofs, final stage {mean:.2} s on average", proofs.len());
    let gates = json!({
        "vectorCount": gate_vectors.len(), "vectors": gate_vectors,
        "hashCount": hash_vectors.len(), "hashes": hash_vectors,
    });
    let manifest = json!({
        "proofBytes": layout.total,
        "proofCount": proofs.len(), "proofs": proofs,
        "rollup": { "chainId": ROLLUP_CHAIN_ID, "submitter": ROLLUP_SUBMITTER.to_string(), "ranges": chain },
        "mutationCount": mutations.len(), "mutations": mutations,
        "sectionCount": section_list.len(), "sections": section_list,
    });
    let mut files = vec![
        ("gates.json".to_owned(), serde_json::to_vec_pretty(&gates)?),
        ("proofs.json".to_owned(), serde_json::to_vec_pretty(&manifest)?),
    ];
    files.extend(calldatas);
    Ok(files)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("zkcrowd-verifier-gen: {error:#}");
            ExitCode::from(2)
        }
    }
}
