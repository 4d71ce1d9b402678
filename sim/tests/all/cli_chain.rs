//! The first runnable path, end to end through the binary: `zkcrowd txgen` then `zkcrowd chain`
//! on the shipped example, with a malformed line and a replay reported and the run completing.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Goal: the example file runs to the end; each block line carries the tx count and both roots;
/// the malformed line and the replay are reported with their line numbers; exit status 0.
#[test]
fn chain_command_reports_blocks_and_rejections() {
    let output = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .current_dir(repo())
        .args([
            "chain",
            "--genesis",
            "scenarios/chain/genesis.yaml",
            "--txs",
            "scenarios/chain/transfers.txt",
            "--block-txs",
            "5",
        ])
        .output()
        .expect("run zkcrowd");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let blocks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("block ") && !l.starts_with("block 0")).collect();
    assert_eq!(blocks.len(), 3, "{stdout}");
    for line in &blocks {
        assert!(
            line.contains(" txs, gas ") && line.contains("state_root 0x") && line.contains("ledger_root 0x"),
            "{line}"
        );
    }
    assert!(stdout.contains("transfers.txt:9: malformed"), "{stdout}");
    assert!(stdout.contains("transfers.txt:17 (0x") && stdout.contains("nonce too low"), "{stdout}");
    assert!(stdout.contains("3 blocks, 12 txs committed, 2 rejected"), "{stdout}");
}

/// Goal: txgen is deterministic and its output is accepted in full by `zkcrowd chain`.
#[test]
fn txgen_output_is_deterministic_and_valid() {
    let dir = std::env::temp_dir().join(format!("zkcrowd-txgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str| {
        let path = dir.join(name);
        let status = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
            .current_dir(repo())
            .args(["txgen", "--genesis", "scenarios/chain/genesis.yaml", "--count", "40", "--out"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        (path.clone(), std::fs::read_to_string(path).unwrap())
    };
    let (path, first) = run("a.txt");
    let (_, second) = run("b.txt");
    assert_eq!(first, second);
    let output = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .current_dir(repo())
        .args(["chain", "--genesis", "scenarios/chain/genesis.yaml", "--txs"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("40 txs committed, 0 rejected"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Goal: a genesis with an unknown key fails with file:line:column and exit status 2.
#[test]
fn bad_genesis_is_a_located_error() {
    let dir = std::env::temp_dir().join(format!("zkcrowd-badgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let genesis = dir.join("genesis.yaml");
    std::fs::write(&genesis, "chain_id: 1\nvalidators: []\ncolour: blue\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .args(["chain", "--genesis"])
        .arg(&genesis)
        .args(["--txs", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("genesis.yaml:3:1"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
