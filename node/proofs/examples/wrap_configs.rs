//! Measures FRI configurations of the wrapper's final proof (docs/benchmarks.md, "On-chain
//! verifier"): for each, the final circuit's build, proving time (median of three), proof and
//! calldata sizes, and a self-contained foundry project (the generated verifier, one proof, a gas
//! test) under `OUT/<name>/` whose `forge test -vv` prints the verifier's gas.
//!
//! `cargo run --release -p zkcrowd-proofs --example wrap_configs -- OUT rate,queries,pow,cap,arity,arity ...`
//! (run from the repository root; the proof system's cache is `target/proof-cache`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use zkcrowd_ledger::{AccountLeaf, AccountLedger};
use zkcrowd_proofs::solidity::{self, Layout, Shape, encode_proof};
use zkcrowd_proofs::{FinalFri, ProofSystem, RangeRecord, TransferWitness, Wrapper};

fn address(byte: u8) -> Address {
    Address::with_last_byte(byte)
}

fn transfer(ledger: &mut AccountLedger, from: u8, to: u8, tx: u8) -> TransferWitness {
    let sender = *ledger.get(&address(from)).expect("funded");
    let receiver = *ledger.get(&address(to)).expect("funded");
    let sender_after = AccountLeaf { nonce: sender.nonce + 1, balance: sender.balance - 22_000, ..sender };
    let receiver_after = AccountLeaf { balance: receiver.balance + 1_000, ..receiver };
    let (first, second) = if from < to { (sender_after, receiver_after) } else { (receiver_after, sender_after) };
    let writes = [ledger.upsert_recorded(first).expect("write"), ledger.upsert_recorded(second).expect("write")];
    TransferWitness { tx_hash: B256::repeat_byte(tx), value_wei: 1_000, fee_wei: 21_000, writes }
}

fn parse(config: &str) -> FinalFri {
    let numbers: Vec<usize> = config.split(',').map(|n| n.parse().expect("a number")).collect();
    assert!(numbers.len() >= 5, "rate,queries,pow,cap,arity[,arity...]");
    FinalFri {
        rate_bits: numbers[0],
        num_query_rounds: numbers[1],
        proof_of_work_bits: numbers[2] as u32,
        cap_height: numbers[3],
        reduction_arity_bits: numbers[4..].to_vec(),
    }
}

fn write(path: &Path, contents: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

const GAS_TEST: &str = r#"// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;
import {Test, console} from "forge-std/Test.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";
contract GasTest is Test {
    function test_gas() public {
        WrapperVerifier verifier = new WrapperVerifier();
        bytes memory proof = vm.readFileBinary("proof.bin");
        bytes32[] memory inputs = vm.parseJsonBytes32Array(vm.readFile("inputs.json"), ".inputs");
        uint256 before = gasleft();
        bool valid = verifier.verify(proof, inputs);
        uint256 used = before - gasleft();
        assertTrue(valid, "the proof verifies");
        console.log("verify execution gas", used);
        uint256 calldataGas;
        for (uint256 i = 0; i < proof.length; i++) calldataGas += proof[i] == 0 ? 4 : 16;
        console.log("proof calldata bytes", proof.length, "calldata gas", calldataGas);
    }
}
"#;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("OUT directory"));
    let root = std::env::current_dir().expect("cwd");
    let system = ProofSystem::load_or_build(&root.join("target/proof-cache")).expect("proof system");
    let prover = Address::repeat_byte(0xaa);
    let mut ledger = AccountLedger::new();
    for byte in 1..=10 {
        ledger.upsert(AccountLeaf { address: address(byte), nonce: 0, balance: 1 << 90 }).expect("fund");
    }
    let left = system.prove_transfer(&transfer(&mut ledger, 3, 7, 1), 1, prover).expect("prove");
    let right = system.prove_transfer(&transfer(&mut ledger, 5, 2, 2), 2, prover).expect("prove");
    let aggregate = system.prove_aggregate(&left, &right, 3, prover).expect("aggregate");
    let record = RangeRecord { chain_id: 7, first_block: 1, last_block: 1, prover };
    let mut normalized = None;
    for config in args {
        let fri = parse(&config);
        let name = format!(
            "r{}-q{}-pow{}-cap{}-a{}",
            fri.rate_bits,
            fri.num_query_rounds,
            fri.proof_of_work_bits,
            fri.cap_height,
            fri.reduction_arity_bits.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(".")
        );
        let started = Instant::now();
        let wrapper = Wrapper::build_with(&system, fri.clone()).expect("wrapper");
        let build = started.elapsed();
        // Stage 1 does not depend on the final configuration: proven once.
        let normalized = normalized.get_or_insert_with(|| wrapper.normalize(&system, &aggregate).expect("stage 1"));
        let mut times: Vec<Duration> = Vec::new();
        let mut proof = None;
        for _ in 0..3 {
            let started = Instant::now();
            proof = Some(wrapper.finish(normalized, &record).expect("final proof"));
            times.push(started.elapsed());
        }
        times.sort();
        let proof = proof.expect("three proofs");
        wrapper.verify(&proof).expect("verifies");
        let shape = Shape::of(wrapper.final_common()).expect("shape");
        let calldata = encode_proof(&shape, &proof).expect("encode");
        assert_eq!(calldata.len(), Layout::of(&shape).total);
        let dir = out.join(&name);
        for file in solidity::generate(&wrapper).expect("generate") {
            let relative = file.path.strip_prefix("contracts/").expect("under contracts/");
            write(&dir.join(relative), file.contents.as_bytes());
        }
        write(
            &dir.join("src/IVerifier.sol"),
            &std::fs::read(root.join("contracts/src/IVerifier.sol")).expect("IVerifier"),
        );
        write(&dir.join("test/Gas.t.sol"), GAS_TEST.as_bytes());
        write(&dir.join("proof.bin"), &calldata);
        let inputs = Wrapper::inputs_of(&proof).expect("inputs");
        let words: Vec<String> = inputs.words().iter().map(|w| format!("\"{w}\"")).collect();
        write(&dir.join("inputs.json"), format!("{{\"inputs\": [{}]}}", words.join(", ")).as_bytes());
        write(
            &dir.join("foundry.toml"),
            format!(
                "[profile.default]\nsrc = \"src\"\ntest = \"test\"\nlibs = [\"{modules}\"]\nsolc = \"{solc}\"\noffline = true\nauto_detect_solc = false\nevm_version = \"prague\"\noptimizer = true\noptimizer_runs = 200\nbytecode_hash = \"none\"\ncbor_metadata = false\nremappings = [\"forge-std/={modules}/@layerzerolabs/toolbox-foundry/lib/forge-std/\"]\nfs_permissions = [{{ access = \"read\", path = \"./\" }}]\n",
                modules = root.join("contracts/node_modules").display(),
                solc = root.join("scripts/solc").display(),
            )
            .as_bytes(),
        );
        println!(
            "{name}: security {} bits, final circuit 2^{} rows, build {build:.1?}, final proof {:.2?} (median of 3: {:?}), plonky2 proof {} B, calldata {} B -> {}",
            fri.conjectured_security_bits(),
            wrapper.final_common().degree_bits(),
            times[1],
            times,
            proof.to_bytes().len(),
            calldata.len(),
            dir.display()
        );
    }
}
