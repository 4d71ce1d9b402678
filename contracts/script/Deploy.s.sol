// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script} from "forge-std/Script.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {Rollup} from "../src/Rollup.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";

/// @title Deploy — production deployment of the Rollup contract
/// @notice Deploys a Rollup over a proof verifier: an already deployed one, or the generated
///         WrapperVerifier (the on-chain plonky2 verifier of wrapped range proofs) deployed here. Environment:
///         - VERIFIER      the verifier's address; unset: deploy the generated WrapperVerifier;
///         - AGENTS        the submission agents in schedule order, comma-separated addresses (required);
///         - SLOT_SECONDS  the slot length in seconds (default 12);
///         - GENESIS_ROOT  the L2 genesis ledger root, bytes32 (required: there is no safe default);
///         - L2_CHAIN_ID   the L2 chain's id, bound by every range proof (required, non-zero).
///         Usage: forge script script/Deploy.s.sol --rpc-url $RPC_URL --broadcast [signer options]
/// @dev Refuses a verifier without code and any verifier answering SIMULATION_ONLY() with true (the
///      ModeledProofVerifier proves nothing). Simulations use script/DeploySimulation.s.sol instead.
contract Deploy is Script {
    /// @notice Slot length used when SLOT_SECONDS is unset.
    uint256 public constant DEFAULT_SLOT_SECONDS = 12;

    /// @notice Reads the environment and broadcasts the deployment.
    function run() external returns (Rollup rollup) {
        address verifier = vm.envOr("VERIFIER", address(0));
        address[] memory agents = vm.envAddress("AGENTS", ",");
        uint256 slotSeconds = vm.envOr("SLOT_SECONDS", DEFAULT_SLOT_SECONDS);
        require(slotSeconds <= type(uint64).max, "Deploy: SLOT_SECONDS does not fit in 64 bits");
        bytes32 genesisRoot = vm.envBytes32("GENESIS_ROOT");
        uint256 l2ChainId = vm.envUint("L2_CHAIN_ID");
        require(l2ChainId != 0 && l2ChainId <= type(uint64).max, "Deploy: L2_CHAIN_ID must be a non-zero 64-bit id");

        vm.startBroadcast();
        if (verifier == address(0)) verifier = address(new WrapperVerifier());
        // casting to 'uint64' is safe because of the requires above
        // forge-lint: disable-next-line(unsafe-typecast)
        rollup = deploy(verifier, agents, uint64(slotSeconds), genesisRoot, uint64(l2ChainId));
        vm.stopBroadcast();
    }

    /// @notice Checks the verifier (see checkVerifier), then deploys the Rollup.
    /// @dev The Rollup constructor validates the rest of the configuration (InvalidConfig).
    function deploy(address verifier, address[] memory agents, uint64 slotSeconds, bytes32 genesisRoot, uint64 l2ChainId)
        public
        returns (Rollup)
    {
        checkVerifier(verifier);
        require(l2ChainId != 0, "Deploy: L2 chain id 0");
        return new Rollup(IVerifier(verifier), agents, slotSeconds, genesisRoot, l2ChainId);
    }

    /// @notice Reverts unless `verifier` is fit for production: it must have code, and must not answer
    ///         SIMULATION_ONLY() with true. A verifier without that function (the call fails) passes.
    /// @dev Low-level staticcall so that a missing function is not an error. Any non-zero first word of
    ///      the answer counts as true: when in doubt, refuse.
    function checkVerifier(address verifier) public view {
        if (verifier.code.length == 0) {
            revert(string.concat("Deploy: verifier ", vm.toString(verifier), " has no code"));
        }
        (bool answered, bytes memory answer) = verifier.staticcall(abi.encodeWithSignature("SIMULATION_ONLY()"));
        if (answered && answer.length >= 32 && abi.decode(answer, (uint256)) != 0) {
            revert(
                string.concat(
                    "Deploy: verifier ",
                    vm.toString(verifier),
                    " is SIMULATION_ONLY (it proves nothing); refusing a production deployment"
                )
            );
        }
    }
}
