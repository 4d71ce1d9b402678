// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script} from "forge-std/Script.sol";
import {console} from "forge-std/console.sol";
import {Rollup} from "../src/Rollup.sol";
import {ModeledProofVerifier} from "../src/simulation/ModeledProofVerifier.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";
import {IVerifier} from "../src/IVerifier.sol";

/// @title DeploySimulation — SIMULATION ONLY
/// @notice Deploys a verifier and a Rollup over it, for simulated scenarios on anvil: by default the
///         ModeledProofVerifier, which accepts modeled proof records and proves nothing (never use it for
///         a real chain: script/Deploy.s.sol is the production path, and refuses it); with
///         VERIFIER_KIND=wrapped the generated WrapperVerifier, for scenarios with real proofs.
///         Environment:
///         - AGENTS        submission agents, comma-separated (default: anvil's first 4 dev accounts);
///         - SLOT_SECONDS  slot length in seconds (default 12);
///         - GENESIS_ROOT  the L2 genesis ledger root (default zero);
///         - L2_CHAIN_ID   the L2 chain's id bound by range proofs (default 0);
///         - VERIFIER_KIND modeled (default) or wrapped.
///         Usage: forge script script/DeploySimulation.s.sol --rpc-url http://127.0.0.1:8545 --broadcast
///         [signer options]; without --rpc-url it is an in-process dry run.
contract DeploySimulation is Script {
    /// @notice anvil's default mnemonic.
    string public constant ANVIL_MNEMONIC = "test test test test test test test test test test test junk";
    /// @notice Number of default agents (anvil accounts 0..3).
    uint32 public constant DEFAULT_AGENT_COUNT = 4;
    /// @notice Slot length used when SLOT_SECONDS is unset.
    uint256 public constant DEFAULT_SLOT_SECONDS = 12;

    /// @notice Reads the environment and broadcasts the deployment; logs both addresses.
    function run() external returns (IVerifier verifier, Rollup rollup) {
        address[] memory agents = vm.envOr("AGENTS", ",", defaultAgents());
        uint256 slotSeconds = vm.envOr("SLOT_SECONDS", DEFAULT_SLOT_SECONDS);
        require(slotSeconds <= type(uint64).max, "DeploySimulation: SLOT_SECONDS does not fit in 64 bits");
        bytes32 genesisRoot = vm.envOr("GENESIS_ROOT", bytes32(0));
        uint256 l2ChainId = vm.envOr("L2_CHAIN_ID", uint256(0));
        require(l2ChainId <= type(uint64).max, "DeploySimulation: L2_CHAIN_ID does not fit in 64 bits");
        string memory kind = vm.envOr("VERIFIER_KIND", string("modeled"));
        bool wrapped = keccak256(bytes(kind)) == keccak256("wrapped");
        require(wrapped || keccak256(bytes(kind)) == keccak256("modeled"), "DeploySimulation: VERIFIER_KIND is modeled or wrapped");

        vm.startBroadcast();
        // casting to 'uint64' is safe because of the requires above
        // forge-lint: disable-next-line(unsafe-typecast)
        (verifier, rollup) = deploy(agents, uint64(slotSeconds), genesisRoot, uint64(l2ChainId), wrapped);
        vm.stopBroadcast();

        if (wrapped) console.log("WrapperVerifier:", address(verifier));
        else console.log("ModeledProofVerifier (SIMULATION ONLY):", address(verifier));
        console.log("Rollup:", address(rollup));
    }

    /// @notice Deploys the modeled verifier (or, if `wrapped`, the generated WrapperVerifier) and a Rollup
    ///         over it.
    function deploy(address[] memory agents, uint64 slotSeconds, bytes32 genesisRoot, uint64 l2ChainId, bool wrapped)
        public
        returns (IVerifier verifier, Rollup rollup)
    {
        verifier = wrapped ? IVerifier(address(new WrapperVerifier())) : IVerifier(address(new ModeledProofVerifier()));
        rollup = new Rollup(verifier, agents, slotSeconds, genesisRoot, l2ChainId);
    }

    /// @notice anvil's first DEFAULT_AGENT_COUNT dev accounts, derived from its mnemonic.
    function defaultAgents() public pure returns (address[] memory agents) {
        agents = new address[](DEFAULT_AGENT_COUNT);
        for (uint32 i = 0; i < DEFAULT_AGENT_COUNT; i++) {
            agents[i] = vm.addr(vm.deriveKey(ANVIL_MNEMONIC, i));
        }
    }
}
