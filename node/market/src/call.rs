//! The market's calls, as an Ethereum ABI so any tool can send them: a transaction to
//! [`zkcrowd_primitives::MARKET_ADDRESS`] whose calldata encodes one of [`IZkcrowdMarket`]'s functions.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol;
use alloy::sol_types::SolInterface;

use crate::statement::{ProofData, Statement};

sol! {
    /// The proving market's interface (implemented natively by the chain, not by EVM code).
    #[derive(Debug, PartialEq, Eq)]
    interface IZkcrowdMarket {
        /// The public inputs of a proof, as submitted.
        struct PublicInputs {
            bytes32 preRoot;
            bytes32 postRoot;
            bytes32 commitment;
            uint64 jobId;
            address prover;
        }
        /// Join the market (also counts as a heartbeat).
        function register() external;
        /// Mark the sender active for another heartbeat window.
        function heartbeat() external;
        /// Leave: no new work; jobs still held are given up and charged as missed.
        function goInactive() external;
        /// Move `amount` of a positive market balance to the sender's native balance.
        function withdraw(uint256 amount) external;
        /// Move the attached value into the sender's market balance (to clear debt).
        function repay() external payable;
        /// Submit a proof for a job.
        function submitProof(uint64 jobId, PublicInputs inputs, bytes proof) external;
    }
}

/// A decoded market call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketCall {
    /// `register()`.
    Register,
    /// `heartbeat()`.
    Heartbeat,
    /// `goInactive()`.
    GoInactive,
    /// `withdraw(amount)`.
    Withdraw(U256),
    /// `repay()` with the tx value.
    Repay,
    /// `submitProof(...)`.
    SubmitProof {
        /// The job.
        job_id: u64,
        /// The claimed statement (roots as 32-byte words).
        inputs: SubmittedInputs,
        /// The proof.
        proof: ProofData,
    },
}

/// Public inputs as submitted, before they are checked against the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmittedInputs {
    /// Claimed pre root.
    pub pre_root: B256,
    /// Claimed post root.
    pub post_root: B256,
    /// Claimed commitment.
    pub commitment: B256,
    /// Claimed job id.
    pub job_id: u64,
    /// Claimed prover.
    pub prover: Address,
}

impl SubmittedInputs {
    /// The inputs of `statement`, as a prover submits them.
    pub fn from_statement(statement: &Statement) -> Self {
        Self {
            pre_root: zkcrowd_ledger::digest_to_b256(statement.pre_root),
            post_root: zkcrowd_ledger::digest_to_b256(statement.post_root),
            commitment: zkcrowd_ledger::digest_to_b256(statement.commitment),
            job_id: statement.job_id,
            prover: statement.prover,
        }
    }
}

impl MarketCall {
    /// Decodes calldata.
    pub fn decode(input: &[u8]) -> Result<Self, String> {
        use IZkcrowdMarket::IZkcrowdMarketCalls as C;
        let call = C::abi_decode(input).map_err(|e| format!("not a market call: {e}"))?;
        Ok(match call {
            C::register(_) => Self::Register,
            C::heartbeat(_) => Self::Heartbeat,
            C::goInactive(_) => Self::GoInactive,
            C::withdraw(c) => Self::Withdraw(c.amount),
            C::repay(_) => Self::Repay,
            C::submitProof(c) => Self::SubmitProof {
                job_id: c.jobId,
                inputs: SubmittedInputs {
                    pre_root: c.inputs.preRoot,
                    post_root: c.inputs.postRoot,
                    commitment: c.inputs.commitment,
                    job_id: c.inputs.jobId,
                    prover: c.inputs.prover,
                },
                proof: ProofData::decode(&c.proof)?,
            },
        })
    }

    /// Encodes calldata (for plugin clients and tests).
    pub fn encode(&self) -> Bytes {
        use IZkcrowdMarket as M;
        let bytes = match self {
            Self::Register => M::IZkcrowdMarketCalls::register(M::registerCall {}).abi_encode(),
            Self::Heartbeat => M::IZkcrowdMarketCalls::heartbeat(M::heartbeatCall {}).abi_encode(),
            Self::GoInactive => M::IZkcrowdMarketCalls::goInactive(M::goInactiveCall {}).abi_encode(),
            Self::Withdraw(amount) => {
                M::IZkcrowdMarketCalls::withdraw(M::withdrawCall { amount: *amount }).abi_encode()
            }
            Self::Repay => M::IZkcrowdMarketCalls::repay(M::repayCall {}).abi_encode(),
            Self::SubmitProof { job_id, inputs, proof } => M::IZkcrowdMarketCalls::submitProof(M::submitProofCall {
                jobId: *job_id,
                inputs: M::PublicInputs {
                    preRoot: inputs.pre_root,
                    postRoot: inputs.post_root,
                    commitment: inputs.commitment,
                    jobId: inputs.job_id,
                    prover: inputs.prover,
                },
                proof: proof.encode(),
            })
            .abi_encode(),
        };
        bytes.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call survives encode/decode; garbage is refused with a reason.
    #[test]
    fn calls_round_trip() {
        let calls = vec![
            MarketCall::Register,
            MarketCall::Heartbeat,
            MarketCall::GoInactive,
            MarketCall::Withdraw(U256::from(5)),
            MarketCall::Repay,
            MarketCall::SubmitProof {
                job_id: 3,
                inputs: SubmittedInputs {
                    pre_root: B256::repeat_byte(1),
                    post_root: B256::repeat_byte(2),
                    commitment: B256::repeat_byte(3),
                    job_id: 3,
                    prover: Address::repeat_byte(4),
                },
                proof: ProofData::Real(Bytes::from_static(b"proof")),
            },
        ];
        for call in calls {
            assert_eq!(MarketCall::decode(&call.encode()), Ok(call));
        }
        assert!(MarketCall::decode(&[1, 2, 3]).unwrap_err().contains("not a market call"));
    }
}
