// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IVerifier} from "../src/IVerifier.sol";
import {Rollup} from "../src/Rollup.sol";
import {ModeledProofVerifier} from "../src/simulation/ModeledProofVerifier.sol";
import {Deploy} from "../script/Deploy.s.sol";
import {WrapperVerifier} from "../src/generated/WrapperVerifier.sol";
import {DeploySimulation} from "../script/DeploySimulation.s.sol";

/// @title StubVerifier
/// @notice Test-only stand-in for a real verifier: implements IVerifier, has no SIMULATION_ONLY().
contract StubVerifier is IVerifier {
    /// @inheritdoc IVerifier
    function verify(bytes calldata proof, bytes32[] calldata) external pure returns (bool) {
        return keccak256(proof) == keccak256("stub proof");
    }
}

/// @title HonestlyFlaggedVerifier
/// @notice Test-only verifier that implements SIMULATION_ONLY() and answers false.
contract HonestlyFlaggedVerifier is StubVerifier {
    function SIMULATION_ONLY() external pure returns (bool) {
        return false;
    }
}

/// @title DeployTest
/// @notice The production script refuses simulation-only and code-less verifiers and deploys over a
///         real-looking one; the simulation script deploys a working verifier and Rollup pair.
contract DeployTest is Test {
    bytes32 internal constant GENESIS_ROOT = keccak256("zkcrowd.test.genesis-root");
    uint64 internal constant L2_CHAIN_ID = 7777;

    Deploy internal deployScript;
    DeploySimulation internal simulationScript;
    address[] internal agents;

    function setUp() public {
        deployScript = new Deploy();
        simulationScript = new DeploySimulation();
        agents.push(makeAddr("agent0"));
        agents.push(makeAddr("agent1"));
    }

    /// The production script refuses the ModeledProofVerifier.
    function test_deploy_refusesModeledProofVerifier() public {
        address modeled = address(new ModeledProofVerifier());
        vm.expectRevert(
            bytes(
                string.concat(
                    "Deploy: verifier ",
                    vm.toString(modeled),
                    " is SIMULATION_ONLY (it proves nothing); refusing a production deployment"
                )
            )
        );
        deployScript.deploy(modeled, agents, 12, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// The production script refuses a verifier address without code (an EOA, or a typo).
    function test_deploy_refusesCodelessVerifier() public {
        address eoa = makeAddr("not a contract");
        vm.expectRevert(bytes(string.concat("Deploy: verifier ", vm.toString(eoa), " has no code")));
        deployScript.deploy(eoa, agents, 12, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// The production script deploys over a real-looking verifier, and the Rollup uses it.
    function test_deploy_acceptsRealLookingVerifier() public {
        StubVerifier stub = new StubVerifier();
        Rollup rollup = deployScript.deploy(address(stub), agents, 12, GENESIS_ROOT, L2_CHAIN_ID);
        assertEq(address(rollup.verifier()), address(stub));
        assertEq(rollup.agents(), agents);
        assertEq(rollup.slotSeconds(), 12);
        assertEq(rollup.genesisRoot(), GENESIS_ROOT);

        vm.prank(agents[0]);
        rollup.submitRange(1, 1, GENESIS_ROOT, bytes32(uint256(1)), bytes32(uint256(2)), address(this), "stub proof");
        (uint64 head,) = rollup.provenHead();
        assertEq(head, 1);
    }

    /// A verifier that implements SIMULATION_ONLY() and answers false is accepted.
    function test_deploy_acceptsVerifierFlaggedFalse() public {
        HonestlyFlaggedVerifier flagged = new HonestlyFlaggedVerifier();
        Rollup rollup = deployScript.deploy(address(flagged), agents, 12, GENESIS_ROOT, L2_CHAIN_ID);
        assertEq(address(rollup.verifier()), address(flagged));
    }

    /// The Rollup's own configuration checks still apply through the script.
    function test_deploy_keepsRollupConfigChecks() public {
        StubVerifier stub = new StubVerifier();
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidConfig.selector, "no submission agent"));
        deployScript.deploy(address(stub), new address[](0), 12, GENESIS_ROOT, L2_CHAIN_ID);
    }

    /// run() reads VERIFIER, AGENTS, SLOT_SECONDS, GENESIS_ROOT and L2_CHAIN_ID from the environment, and
    /// deploys the generated WrapperVerifier when VERIFIER is unset. (The only test that sets these
    /// variables: tests run in parallel and the environment is process-wide.)
    function test_run_readsEnvironment() public {
        StubVerifier stub = new StubVerifier();
        vm.setEnv("VERIFIER", vm.toString(address(stub)));
        vm.setEnv("AGENTS", string.concat(vm.toString(agents[0]), ",", vm.toString(agents[1])));
        vm.setEnv("SLOT_SECONDS", "7");
        vm.setEnv("GENESIS_ROOT", vm.toString(GENESIS_ROOT));
        vm.setEnv("L2_CHAIN_ID", "7777");

        Rollup rollup = deployScript.run();
        assertEq(address(rollup.verifier()), address(stub));
        assertEq(rollup.agents(), agents);
        assertEq(rollup.slotSeconds(), 7);
        assertEq(rollup.genesisRoot(), GENESIS_ROOT);
        assertEq(rollup.l2ChainId(), L2_CHAIN_ID);

        vm.setEnv("VERIFIER", vm.toString(address(0)));
        rollup = deployScript.run();
        WrapperVerifier generated = WrapperVerifier(address(rollup.verifier()));
        assertGt(address(generated.gates()).code.length, 0, "the generated verifier and its gates contract");
        (bool answered,) = address(generated).staticcall(abi.encodeWithSignature("SIMULATION_ONLY()"));
        assertFalse(answered, "the generated verifier is not flagged simulation-only");

        vm.setEnv("L2_CHAIN_ID", "0");
        vm.expectRevert(bytes("Deploy: L2_CHAIN_ID must be a non-zero 64-bit id"));
        deployScript.run();
    }

    /// The simulation's default agents are anvil's first four dev accounts.
    function test_simulation_defaultAgentsAreAnvilAccounts() public view {
        address[] memory expected = new address[](4);
        expected[0] = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;
        expected[1] = 0x70997970C51812dc3A010C7d01b50e0d17dc79C8;
        expected[2] = 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC;
        expected[3] = 0x90F79bf6EB2c4f870365E785982E1f101E93b906;
        assertEq(simulationScript.defaultAgents(), expected);
    }

    /// The simulation script deploys a working pair: the range [1, 1] with a modeled proof is accepted, and
    /// the production script refuses the pair's verifier.
    function test_simulation_deploysWorkingPair() public {
        address[] memory defaults = simulationScript.defaultAgents();
        (IVerifier deployed, Rollup rollup) = simulationScript.deploy(defaults, 12, GENESIS_ROOT, 0, false);
        ModeledProofVerifier verifier = ModeledProofVerifier(address(deployed));
        assertEq(address(rollup.verifier()), address(verifier));
        assertEq(rollup.agents(), defaults);
        assertTrue(verifier.SIMULATION_ONLY());

        bytes32 postRoot = keccak256("post 1");
        bytes32 txCommitment = keccak256("txs 1");
        address prover = makeAddr("prover");
        bytes memory proof =
            abi.encodePacked(verifier.recordOf(rollup.rangeInputs(1, 1, GENESIS_ROOT, postRoot, txCommitment, prover)));
        vm.prank(defaults[0]);
        rollup.submitRange(1, 1, GENESIS_ROOT, postRoot, txCommitment, prover, proof);
        (uint64 head, bytes32 headRoot) = rollup.provenHead();
        assertEq(head, 1);
        assertEq(headRoot, postRoot);

        vm.expectRevert();
        deployScript.deploy(address(verifier), defaults, 12, GENESIS_ROOT, L2_CHAIN_ID);
    }
}

/// @title DeploySimulationWrappedTest
/// @notice With VERIFIER_KIND=wrapped the simulation script deploys the generated verifier, which the
///         production script accepts.
contract DeploySimulationWrappedTest is Test {
    function test_simulation_deploysTheGeneratedVerifier() public {
        DeploySimulation simulationScript = new DeploySimulation();
        address[] memory defaults = simulationScript.defaultAgents();
        (IVerifier verifier, Rollup rollup) =
            simulationScript.deploy(defaults, 12, keccak256("genesis"), 7777, true);
        assertEq(address(rollup.verifier()), address(verifier));
        assertEq(rollup.l2ChainId(), 7777);
        assertGt(address(WrapperVerifier(address(verifier)).gates()).code.length, 0, "gates deployed");
        new Deploy().checkVerifier(address(verifier));
    }
}
