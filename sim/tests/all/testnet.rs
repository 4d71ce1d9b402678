//! The testnet end to end, as a person would use it: `zkcrowd testnet up` starts four validator
//! processes on loopback, three plugin processes proving for real, and anvil with the generated
//! plonky2 verifier and the Rollup; foundry's `cast` (a real Ethereum client) reads the chain id and
//! block number, sends a ZKPoW transfer signed by itself, and reads the receipt and the balance;
//! the plugins register (three active in `zkcrowd_market`), the transfer's block is proven for real
//! (every job real, aggregated, wrapped) and the Rollup on anvil accepts the range that holds it
//! (`cast call provenHead()`); a validator killed with SIGKILL leaves the other three finalising,
//! and restarted on its directory it replays its disk and catches up to the same head hash;
//! `testnet status` reports each validator and the L1; `testnet down` stops every process it
//! started.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkcrowd-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// foundry's cast, as scripts/setup installs it.
fn cast() -> PathBuf {
    let cast = repo().join("contracts/node_modules/.bin/cast");
    assert!(cast.exists(), "{} is missing: run scripts/setup", cast.display());
    cast
}

fn ok(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn zkcrowd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkcrowd")).current_dir(repo()).args(args).output().expect("run zkcrowd")
}

fn cast_out(args: &[&str], rpc: &str) -> String {
    let output = Command::new(cast()).args(args).args(["--rpc-url", rpc]).output().expect("run cast");
    ok(output, &format!("cast {}", args.join(" ")))
}

fn alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

/// Stops the testnet even when an assertion fails first.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        if self.0.join("testnet.json").exists() {
            let _ = zkcrowd(&["testnet", "down", "--dir", self.0.to_str().unwrap()]);
        }
    }
}

/// Kills a process the test started itself, even when an assertion fails first.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = done() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn testnet_up_cast_transfer_proven_on_l1_kill_and_down() {
    let dir = temp_dir("testnet");
    let dir_arg = dir.to_str().unwrap();
    // 10-second blocks and 4-block ranges: the load the proving keeps up with in a debug build
    // on 2 cores. Every block carries a span job (the previous blocks' proof submissions), a range
    // of R blocks R - 1 aggregations and a wrap; at 1-second blocks and 32-block ranges the
    // plugins fell further behind every block, and the first range reached the L1 after 10 minutes.
    let up = zkcrowd(&[
        "testnet",
        "up",
        "--validators",
        "4",
        "--plugins",
        "3",
        "--dir",
        dir_arg,
        "--block-time-ms",
        "10000",
        "--wrap-range-blocks",
        "4",
    ]);
    let guard = Down(dir.clone());
    let printed = ok(up, "testnet up");
    assert!(printed.contains("making blocks"), "{printed}");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).unwrap()).unwrap();
    let rpc = file["validators"][0]["rpc_http"].as_str().unwrap().to_owned();
    let key = file["dev_account"]["private_key"].as_str().unwrap();
    let pids: Vec<u64> = file["validators"].as_array().unwrap().iter().map(|v| v["pid"].as_u64().unwrap()).collect();
    assert_eq!(pids.len(), 4);

    assert_eq!(cast_out(&["chain-id"], &rpc), file["chain_id"].to_string());
    assert!(cast_out(&["block-number"], &rpc).parse::<u64>().unwrap() >= 1);

    // A transfer signed by cast itself, through validator 1's RPC; read back on validator 0's.
    let to = "0x000000000000000000000000000000000000beef";
    let rpc_1 = file["validators"][1]["rpc_http"].as_str().unwrap();
    let sent = cast_out(&["send", "--private-key", key, to, "--value", "12345", "--json"], rpc_1);
    let receipt: serde_json::Value = serde_json::from_str(&sent).expect("cast send --json prints the receipt");
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let hash = receipt["transactionHash"].as_str().unwrap();
    let read = cast_out(&["receipt", hash, "--json"], &rpc);
    let read: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(read["blockHash"], receipt["blockHash"], "every validator has the same block");
    assert_eq!(cast_out(&["balance", to], &rpc), "12345");
    let transfer_block = u64::from_str_radix(receipt["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16)
        .expect("a hex block number");

    // SIGKILL one validator: the other three keep finalising.
    let killed = pids[3];
    assert!(Command::new("kill").args(["-9", &killed.to_string()]).status().unwrap().success());
    let start = cast_out(&["block-number"], &rpc).parse::<u64>().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = cast_out(&["block-number"], &rpc).parse::<u64>().unwrap();
        if now >= start + 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress without validator 3: stuck at {now}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = ok(zkcrowd(&["testnet", "status", "--dir", dir_arg]), "testnet status");
    assert_eq!(status.lines().filter(|l| l.contains(": head ")).count(), 3, "{status}");
    assert!(status.lines().any(|l| l.starts_with("L1 (pid") && l.contains("proven head")), "{status}");
    assert!(status.lines().any(|l| l.starts_with("validator 3") && l.contains("not answering")), "{status}");

    // Restarted on its directory, it replays its disk, catches up, and has the same head hash.
    let config = dir.join("validator-3/config.json");
    let log = std::fs::File::create(dir.join("validator-3/restart.log")).unwrap();
    let restarted = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .args(["node", "--config", config.to_str().unwrap()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("restart validator 3");
    let restarted = Kill(restarted);

    // While it loads the circuits and catches up, the plugins register and prove: all three
    // become active. (Each plugin loads the circuits first; on a loaded 2-core CI machine, with
    // the validators building their wrappers and other tests running, that took over 2 minutes.)
    wait_for("three active plugins", Duration::from_secs(300), || {
        let market: serde_json::Value = serde_json::from_str(&cast_out(&["rpc", "zkcrowd_market"], &rpc)).unwrap();
        let listed = market["pluginList"].as_array().map_or(0, |l| l.iter().filter(|p| p["active"] == true).count());
        (market["activePlugins"] == 3 && listed == 3).then(|| market.to_string())
    });
    // The transfer's block is proven for real and the Rollup on anvil accepts its range: the
    // generated verifier checked the wrapped plonky2 proof.
    let l1 = &file["l1"];
    assert_eq!(l1["verifier_kind"], "wrapped", "{l1}");
    let l1_rpc = l1["rpc_http"].as_str().unwrap();
    let rollup = l1["rollup"].as_str().unwrap();
    let accepted = wait_for("the transfer's range accepted on L1", Duration::from_secs(600), || {
        let head = cast_out(&["call", rollup, "provenHead()(uint64,bytes32)"], l1_rpc);
        let number: u64 = head.lines().next()?.trim().parse().ok()?;
        (number >= transfer_block).then_some(head)
    });
    // The validators' own view: their proven head passed the block, and their L1 agents report
    // the Rollup's head.
    let status: serde_json::Value = serde_json::from_str(&cast_out(&["rpc", "zkcrowd_status"], &rpc)).unwrap();
    assert!(status["provenHead"].as_u64().unwrap() >= transfer_block, "{status}");
    assert!(status["l1"]["block"].as_u64().unwrap() > 0, "{status}");
    eprintln!("L1 proven head: {accepted}");
    for plugin in 0..3 {
        let log = std::fs::read_to_string(dir.join(format!("plugin-{plugin}/plugin.log"))).unwrap();
        assert!(!log.contains("modeled proof"), "plugin {plugin} made a modeled proof: {log}");
    }

    let rpc_3 = file["validators"][3]["rpc_http"].as_str().unwrap();
    let target = cast_out(&["block-number"], &rpc).parse::<u64>().unwrap() + 2;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let answer = Command::new(cast()).args(["block-number", "--rpc-url", rpc_3]).output().unwrap();
        let height = String::from_utf8_lossy(&answer.stdout).trim().parse::<u64>().unwrap_or(0);
        if answer.status.success() && height >= target {
            break;
        }
        assert!(Instant::now() < deadline, "validator 3 did not catch up to {target} (at {height})");
        std::thread::sleep(Duration::from_millis(200));
    }
    let at = target.to_string();
    let hash_3 = cast_out(&["block", &at, "--field", "hash"], rpc_3);
    assert_eq!(hash_3, cast_out(&["block", &at, "--field", "hash"], &rpc), "the same block {at} after the restart");
    let log = std::fs::read_to_string(dir.join("validator-3/restart.log")).unwrap();
    assert!(log.contains("restored from disk"), "it replayed its disk: {log}");
    // Its transfer is still there: read from the restarted validator's own state.
    assert_eq!(cast_out(&["balance", to], rpc_3), "12345");
    drop(restarted);

    let down = ok(zkcrowd(&["testnet", "down", "--dir", dir_arg]), "testnet down");
    // Three validators, three plugins and anvil.
    assert!(down.contains("stopped 7 processes"), "{down}");
    let plugin_pids = file["plugins"].as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap());
    for pid in pids.into_iter().chain(plugin_pids).chain(l1["pid"].as_u64()) {
        assert!(!alive(pid), "process {pid} is still running");
    }
    assert!(!dir.join("testnet.json").exists());
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
