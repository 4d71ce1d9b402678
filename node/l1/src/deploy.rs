//! Deployment of the simulation pair (`ModeledProofVerifier` + `Rollup`) and reads of the proven chain.
//!
//! This is the simulator's and tests' deployment. Production deployments go through
//! `contracts/script/Deploy.s.sol`, which refuses the simulation-only verifier.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;

use crate::agent::{Schedule, SubmissionAgent};
use crate::backend::{L1Backend, L1Block, L1Error};
use crate::contract::{IRollup, creation_code, rollup_constructor_args};

/// Balance given to the deployer and each agent on the test chain: 1,000 ether.
pub const FUNDING_WEI: u128 = 1_000_000_000_000_000_000_000;

/// Where the contracts live and the schedule they enforce.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The Rollup contract.
    pub rollup: Address,
    /// Its verifier.
    pub verifier: Address,
    /// The slot schedule (genesis = the deployment block's timestamp).
    pub schedule: Schedule,
    /// The deployment block.
    pub block: L1Block,
}

impl Deployment {
    /// Funds `deployer` and `agents`, deploys the simulation-only `ModeledProofVerifier` and a
    /// `Rollup` over it, and mines them in one block at `timestamp`.
    pub fn deploy_simulation(
        l1: &mut dyn L1Backend,
        deployer: PrivateKeySigner,
        agents: &[Address],
        slot_seconds: u64,
        genesis_root: B256,
        timestamp: u64,
    ) -> Result<Self, L1Error> {
        let verifier_code = creation_code("ModeledProofVerifier.sol", "ModeledProofVerifier")?;
        let rollup_code = creation_code("Rollup.sol", "Rollup")?;
        for address in std::iter::once(deployer.address()).chain(agents.iter().copied()) {
            l1.set_balance(address, U256::from(FUNDING_WEI))?;
        }
        let deployer_address = deployer.address();
        let mut account = SubmissionAgent::new(deployer, l1.chain_id(), 0);
        let verifier = deployer_address.create(account.nonce());
        l1.send(&account.sign(None, verifier_code, 2_000_000))?;
        let rollup = deployer_address.create(account.nonce());
        let mut init = rollup_code.to_vec();
        init.extend(rollup_constructor_args(verifier, agents, slot_seconds, genesis_root));
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
        Ok(Self { rollup, verifier, schedule, block })
    }

    /// The last accepted L2 block number (0 before any) and its post root.
    pub fn proven_head(&self, l1: &mut dyn L1Backend) -> Result<(u64, B256), L1Error> {
        let output = l1.call(self.rollup, IRollup::provenHeadCall {}.abi_encode().into())?;
        let head = IRollup::provenHeadCall::abi_decode_returns(&output).map_err(|e| L1Error::Refused(e.to_string()))?;
        Ok((head.number, head.postRoot))
    }

    /// The accepted block `number`.
    pub fn block_at(&self, l1: &mut dyn L1Backend, number: u64) -> Result<IRollup::BlockRecord, L1Error> {
        let output = l1.call(self.rollup, IRollup::blockAtCall { number }.abi_encode().into())?;
        IRollup::blockAtCall::abi_decode_returns(&output).map_err(|e| L1Error::Refused(e.to_string()))
    }
}
