// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script} from "forge-std/Script.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {Rollup} from "../src/Rollup.sol";

/// @title Deploy — production deployment of the Rollup contract
/// @notice Deploys a Rollup over an already deployed proof verifier. Environment:
///         - VERIFIER      the verifier's address (required);
///         - AGENTS        the submission agents in schedule order, comma-separated addresses (required);
///         - SLOT_SECONDS  the slot length in seconds (default 12);
///         - GENESIS_ROOT  the L2 genesis ledger root, bytes32 (required: there is no safe default).
///         Usage: forge script script/Deploy.s.sol --rpc-url $RPC_URL --broadcast [signer options]
/// @dev Refuses a verifier without code and any verifier answering SIMULATION_ONLY() with true (the
///      ModeledProofVerifier proves nothing). Simulations use script/DeploySimulation.s.sol instead.
contract Deploy is Script {
    /// @notice Slot length used when SLOT_SECONDS is unset.
    uint256 public constant DEFAULT_SLOT_SECONDS = 12;

    /// @notice Reads the environment and broadcasts the deployment.
    function run() external returns (Rollup rollup) {
        address verifier = vm.envAddress("VERIFIER");
        address[] memory agents = vm.envAddress("AGENTS", ",");
        uint256 slotSeconds = vm.envOr("SLOT_SECONDS", DEFAULT_SLOT_SECONDS);
        require(slotSeconds <= type(uint64).max, "Deploy: SLOT_SECONDS does not fit in 64 bits");
        bytes32 genesisRoot = vm.envBytes32("GENESIS_ROOT");

        vm.startBroadcast();
        // casting to 'uint64' is safe because of the require above
        // forge-lint: disable-next-line(unsafe-typecast)
        rollup = deploy(verifier, agents, uint64(slotSeconds), genesisRoot);
        vm.stopBroadcast();
    }

    /// @notice Checks the verifier (see checkVerifier), then deploys the Rollup.
    /// @dev The Rollup constructor validates the rest of the configuration (InvalidConfig).
    function deploy(address verifier, address[] memory agents, uint64 slotSeconds, bytes32 genesisRoot)
        public
        returns (Rollup)
    {
        checkVerifier(verifier);
        return new Rollup(IVerifier(verifier), agents, slotSeconds, genesisRoot);
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
