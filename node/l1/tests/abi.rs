//! The `sol!` interface in `contract.rs` matches the compiled contracts: every function, error and event
//! it declares exists in forge's artifact with the same signature, so a change to `Rollup.sol` that
//! the bindings miss fails here rather than as a mysterious revert.

use alloy::sol_types::{SolCall, SolError, SolEvent};
use zkcrowd_l1::contract::{IModeledProofVerifier, IRollup, artifacts_dir};

/// The artifact's function and error signatures, `name(type,type)`.
fn signatures(file: &str, contract: &str) -> Vec<String> {
    let path = artifacts_dir().join(file).join(format!("{contract}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["abi"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| ["function", "error", "event"].contains(&item["type"].as_str().unwrap_or_default()))
        .map(|item| {
            let types: Vec<String> = item["inputs"].as_array().unwrap().iter().map(canonical).collect();
            format!("{}({})", item["name"].as_str().unwrap(), types.join(","))
        })
        .collect()
}

/// A parameter's canonical type (tuples spelled out).
fn canonical(param: &serde_json::Value) -> String {
    let ty = param["type"].as_str().unwrap();
    match ty.strip_prefix("tuple") {
        Some(suffix) => {
            let inner: Vec<String> = param["components"].as_array().unwrap().iter().map(canonical).collect();
            format!("({}){suffix}", inner.join(","))
        }
        None => ty.to_owned(),
    }
}

#[test]
fn bindings_match_the_artifacts() {
    let rollup = signatures("Rollup.sol", "Rollup");
    for signature in [
        IRollup::submitRangeCall::SIGNATURE,
        IRollup::rangeInputsCall::SIGNATURE,
        IRollup::provenHeadCall::SIGNATURE,
        IRollup::rangeRecordHashCall::SIGNATURE,
        IRollup::currentSlotCall::SIGNATURE,
        IRollup::slotOwnerCall::SIGNATURE,
        IRollup::agentsCall::SIGNATURE,
        IRollup::genesisTimeCall::SIGNATURE,
        IRollup::InvalidConfig::SIGNATURE,
        IRollup::NotSlotOwner::SIGNATURE,
        IRollup::WrongBlockNumber::SIGNATURE,
        IRollup::EmptyRange::SIGNATURE,
        IRollup::WrongPreRoot::SIGNATURE,
        IRollup::InvalidProof::SIGNATURE,
        IRollup::RangeAccepted::SIGNATURE,
    ] {
        assert!(rollup.iter().any(|s| s == signature), "Rollup has no {signature}: {rollup:?}");
    }
    let verifier = signatures("ModeledProofVerifier.sol", "ModeledProofVerifier");
    for signature in
        [IModeledProofVerifier::SIMULATION_ONLYCall::SIGNATURE, IModeledProofVerifier::verifyCall::SIGNATURE]
    {
        assert!(verifier.iter().any(|s| s == signature), "ModeledProofVerifier has no {signature}: {verifier:?}");
    }
}
