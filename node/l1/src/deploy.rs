//! Deployment of a verifier and a `Rollup` over it, and reads of the proven chain.
//!
//! This is the simulator's and tests' deployment: the generated `WrapperVerifier` (real wrapped
//! plonky2 proofs) or the simulation-only `ModeledProofVerifier` (modeled records). Production
//! deployments go through `contracts/script/Deploy.s.sol`, which refuses the simulation-only one.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;

use crate::agent::{Schedule, SubmissionAgent};
use crate::backend::{L1Backend, L1Block, L1Error};
use crate::contract::{IRollup, creation_code, rollup_constructor_args};

/// Balance given to the deployer and each agent on the test chain: 1,000 ether.
pub const FUNDING_WEI: u128 = 1_000_000_000_000_000_000_000;

/// Which verifier the Rollup calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifierKind {
    /// `ModeledProofVerifier` (**simulation only**): accepts the modeled record of the inputs.
    Modeled,
    /// `WrapperVerifier`, generated from the wrapper circuit: verifies wrapped plonky2 proofs.
    Wrapped,
}

impl VerifierKind {
    /// The contract's name.
    pub fn contract(self) -> &'static str {
        match self {
            Self::Modeled => "ModeledProofVerifier",
            Self::Wrapped => "WrapperVerifier",
        }
    }

    /// Its creation code, from forge's artifacts.
    pub fn creation_code(self) -> Result<Bytes, L1Error> {
        match self {
            Self::Modeled => creation_code("ModeledProofVerifier.sol", "ModeledProofVerifier"),
            Self::Wrapped => creation_code("WrapperVerifier.sol", "WrapperVerifier"),
        }
    }

    /// Gas limit of its creation (the wrapped verifier creates its gates contract too: ~7.0M).
    fn creation_gas(self) -> u64 {
        match self {
            Self::Modeled => 2_000_000,
            Self::Wrapped => 12_000_000,
        }
    }
}

/// Where the contracts live and the schedule they enforce.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The Rollup contract.
    pub rollup: Address,
    /// Its verifier.
    pub verifier: Address,
    /// Which one.
    pub verifier_kind: VerifierKind,
    /// The slot schedule (genesis = the deployment block's timestamp).
    pub schedule: Schedule,
    /// The deployment block.
    pub block: L1Block,
}

impl Deployment {
    /// Funds `deployer` and `agents`, deploys the verifier `kind` and a `Rollup` over it (for the
    /// L2 chain `l2_chain_id`), and mines them in one block at `timestamp`.
    #[allow(clippy::too_many_arguments, reason = "the Rollup's constructor arguments and the deployment's")]
    pub fn deploy(
        l1: &mut dyn L1Backend,
        deployer: PrivateKeySigner,
        kind: VerifierKind,
        agents: &[Address],
        slot_seconds: u64,
        genesis_root: B256,
        l2_chain_id: u64,
        timestamp: u64,
    ) -> Result<Self, L1Error> {
        let verifier_code = kind.creation_code()?;
        let rollup_code = creation_code("Rollup.sol", "Rollup")?;
        for address in std::iter::once(deployer.address()).chain(agents.iter().copied()) {
            l1.set_balance(address, U256::from(FUNDING_WEI))?;
        }
        let deployer_address = deployer.address();
        let mut account = SubmissionAgent::new(deployer, l1.chain_id(), 0);
        let verifier = deployer_address.create(account.nonce());
        l1.send(&account.sign(None, verifier_code, kind.creation_gas()))?;
        let rollup = deployer_address.create(account.nonce());
        let mut init = rollup_code.to_vec();
        init.extend(rollup_constructor_args(verifier, agents, slot_seconds, genesis_root, l2_chain_id));
        l1.send(&account.sign(None, Bytes::from(init), 3_000_000))?;
        let block = l1.mine(timestamp)?;
        for (receipt, (what, address)) in block.receipts.iter().zip([("verifier", verifier), ("rollup", rollup)]) {
            if !receipt.success || receipt.created != Some(address) {
                return Err(L1Error::Deploy(format!(
                    "{what}: {}",
                    crate::contract::revert_reason(&receipt.revert_data)
                )));
            }
        }
        if block.receipts.len() != 2 {
            return Err(L1Error::Deploy(format!("{} of 2 creations were mined", block.receipts.len())));
        }
        let schedule = Schedule { genesis_time: timestamp, slot_seconds, agents: agents.to_vec() };
        Ok(Self { rollup, verifier, verifier_kind: kind, schedule, block })
    }

    /// The last accepted L2 block number (0 before any) and its post root.
    pub fn proven_head(&self, l1: &mut dyn L1Backend) -> Result<(u64, B256), L1Error> {
        let output = l1.call(self.rollup, IRollup::provenHeadCall {}.abi_encode().into())?;
        let head = IRollup::provenHeadCall::abi_decode_returns(&output).map_err(|e| L1Error::Refused(e.to_string()))?;
        Ok((head.number, head.postRoot))
    }

    /// The stored hash of the range starting at `first` (zero if none).
    pub fn range_record_hash(&self, l1: &mut dyn L1Backend, first: u64) -> Result<B256, L1Error> {
        let output = l1.call(self.rollup, IRollup::rangeRecordHashCall { first }.abi_encode().into())?;
        IRollup::rangeRecordHashCall::abi_decode_returns(&output).map_err(|e| L1Error::Refused(e.to_string()))
    }

    /// `Rollup.rangeInputs` (the public inputs a range proof must prove), as the contract computes them.
    #[allow(clippy::too_many_arguments, reason = "the Rollup's arguments")]
    pub fn range_inputs(
        &self,
        l1: &mut dyn L1Backend,
        first: u64,
        last: u64,
        pre_root: B256,
        post_root: B256,
        tx_commitment: B256,
        prover: Address,
    ) -> Result<Vec<B256>, L1Error> {
        let call = IRollup::rangeInputsCall {
            first,
            last,
            preRoot: pre_root,
            postRoot: post_root,
            txCommitment: tx_commitment,
            prover,
        };
        let output = l1.call(self.rollup, call.abi_encode().into())?;
        IRollup::rangeInputsCall::abi_decode_returns(&output).map_err(|e| L1Error::Refused(e.to_string()))
    }
}
