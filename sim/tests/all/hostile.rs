//! Hostile input through the real `zkcrowd` binary: every class of bad scenario, sweep and genesis
//! file (out-of-range numbers, huge populations and durations, cross-field errors, tabs, duplicate
//! keys, alias bombs, binary files, a 10 MB file) exits with status 2 within seconds and prints one
//! line `error: FILE:LINE:COLUMN: what is wrong; expected …`. Small fixtures live in
//! `scenarios/tests/hostile/`; big and binary files are made in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The longest a refusal may take (the debug binary refuses each case in well under a second).
const REFUSAL_TIME_MAX: Duration = Duration::from_secs(5);

/// Runs `zkcrowd ARGS FILE` and checks the refusal: exit status 2, in time, one stderr line naming
/// `FILE:LINE:COLUMN:` (the expected place, if given) and containing `expected`.
fn refused(args: &[&str], file: &Path, place: Option<(u64, u64)>, expected: &str) -> Result<(), String> {
    refused_in(args, file, file, place, expected)
}

/// Like [`refused`], for an error reported in file `reported` (a sweep's base) rather than `file`.
fn refused_in(
    args: &[&str],
    file: &Path,
    reported: &Path,
    place: Option<(u64, u64)>,
    expected: &str,
) -> Result<(), String> {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_zkcrowd"))
        .current_dir(repo())
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run zkcrowd: {e}"))?;
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let name = reported.display().to_string();
    let what = format!("zkcrowd {} {}", args.join(" "), file.display());
    if output.status.code() != Some(2) {
        return Err(format!("{what}: exit {:?}, stderr {stderr}", output.status.code()));
    }
    if elapsed > REFUSAL_TIME_MAX {
        return Err(format!("{what}: took {elapsed:?}"));
    }
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.len() != 1 {
        return Err(format!("{what}: {} stderr lines: {stderr}", lines.len()));
    }
    let line = lines[0];
    let Some(rest) = line.strip_prefix(&format!("error: {name}:")) else {
        return Err(format!("{what}: does not start with `error: {name}:`: {line}"));
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(l), Some(c), Some(message)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{what}: no line and column: {line}"));
    };
    let (Ok(l), Ok(c)) = (l.parse::<u64>(), c.parse::<u64>()) else {
        return Err(format!("{what}: no line and column: {line}"));
    };
    if place.is_some_and(|p| p != (l, c)) {
        return Err(format!("{what}: at {l}:{c}, expected {place:?}: {line}"));
    }
    if !message.contains(expected) {
        return Err(format!("{what}: lacks `{expected}`: {line}"));
    }
    Ok(())
}

/// One hostile fixture: the command, the file, the line and column of the error, a part of its message.
type Case<'a> = (&'a [&'a str], &'a str, (u64, u64), &'a str);

/// Goal: each hostile fixture of each class, run as a scenario, sweep or genesis, is refused with a
/// located one-line error at the offending value, within seconds.
#[test]
fn hostile_fixtures_are_refused_with_located_errors() {
    let run = ["run", "--quiet", "--no-report"].as_slice();
    let sweep = ["sweep", "--out", "target/zkcrowd/hostile-sweep"].as_slice();
    let genesis = ["check", "--as", "genesis"].as_slice();
    let cases: &[Case<'_>] = &[
        // Out-of-range numbers, huge populations and durations.
        (run, "population.yaml", (4, 24), "plugins.population: 4000000000 is above the maximum; expected at most"),
        (run, "users.yaml", (4, 16), "load.users: 100000000000 is above the maximum"),
        (run, "duration.yaml", (3, 11), "invalid duration `1000000000000h`: expected at most 366 days"),
        (run, "drain.yaml", (4, 8), "drain: 7200h is above the maximum; expected at most 12h"),
        (run, "rate.yaml", (4, 18), "expected at most 1000/s"),
        (run, "transactions.yaml", (4, 18), "load.tx_rate: 500/s over the duration 12h"),
        (run, "validators-zero.yaml", (5, 15), "chain.validators: 0 is below the minimum; expected at least 1"),
        (run, "slot-zero.yaml", (4, 29), "l1.slot: 0s is below the minimum"),
        // Cross-field errors, located at the value that is wrong.
        (run, "fault-after-duration.yaml", (5, 11), "faults[0].at: 20m is not within the duration 10m"),
        (
            run,
            "shares.yaml",
            (5, 15),
            "plugins.behaviours: shares sum to 0.7; expected non-negative shares that sum to 1",
        ),
        (run, "validator-index.yaml", (6, 36), "faults[0].crash.validator: validator 9 does not exist"),
        (
            run,
            "market-window.yaml",
            (5, 28),
            "market.heartbeat_window_blocks: 10 does not exceed proof_deadline_blocks (20)",
        ),
        // Syntax-level hostility.
        (run, "tabs.yaml", (5, 1), "a tab in the indentation"),
        (run, "duplicate-key.yaml", (4, 20), "duplicate key `users`"),
        (run, "alias-bomb.yaml", (5, 8), ""),
        // Sweeps: the bomb is in the base (read whole, so it would expand), located in the base;
        // an override is located at its value in the sweep file.
        (sweep, "alias-bomb-sweep.yaml", (9, 37), "aliases expand to more than 100000 values"),
        (sweep, "sweep-override.yaml", (6, 46), "point `huge`: plugins.population: 4000000000 is above the maximum"),
        (sweep, "sweep-seeds.yaml", (4, 8), "seeds: 1000000000000000000 is above the maximum"),
        // Genesis files.
        (genesis, "genesis-dev-accounts.yaml", (3, 24), "dev_accounts.count: 4000000000 is above the maximum"),
        (genesis, "genesis-no-validators.yaml", (3, 13), "validators: no validators; expected at least one validator"),
    ];
    let dir = Path::new("scenarios/tests/hostile");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(args, file, place, expected)| {
            let path = dir.join(file);
            // The bomb of a sweep is reported in its base file.
            let reported =
                if *file == "alias-bomb-sweep.yaml" { dir.join("alias-bomb-base.yaml") } else { path.clone() };
            refused_in(args, &path, &reported, Some(*place), expected).err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Goal: files that are not YAML text at all — a 10 MB file, random binary bytes (not UTF-8), NUL
/// bytes (UTF-8 but control characters), an empty file — are refused fast with a located line:
/// the size at the byte past the limit, a binary at its first bad byte.
#[test]
fn big_and_binary_files_are_refused_fast() {
    let dir = std::env::temp_dir().join(format!("zkcrowd-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    let mut text = String::from("name: big\nduration: 1m\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, &text).unwrap();
    let binary = dir.join("binary.yaml");
    let mut bytes = b"name: bin\n".to_vec();
    bytes.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 0x80));
    std::fs::write(&binary, &bytes).unwrap();
    let nul = dir.join("nul.yaml");
    std::fs::write(&nul, b"name: x\n\0\0\0\0").unwrap();
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, b"").unwrap();
    let run = ["run", "--quiet", "--no-report"];
    // The limit is 1 MiB: the first byte past it is on line 1 + (1 MiB - 23) / 82 lines of padding.
    let offset = 1024 * 1024 - 23;
    let line = 3 + offset / 82;
    let column = 1 + offset % 82;
    let failures: Vec<String> = [
        refused(&run, &big, Some((line as u64, column as u64)), "expected a YAML file of at most 1048576 bytes"),
        refused(&run, &binary, Some((2, 1)), "not UTF-8 text (a binary file?)"),
        refused(&run, &nul, Some((2, 1)), "control character U+0000"),
        refused(&run, &empty, Some((1, 1)), ""),
        refused(&["check", "--as", "genesis"], &binary, Some((2, 1)), "not UTF-8"),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Goal: `zkcrowd check` loads every shipped scenario, sweep and genesis (they stay valid under
/// the limits) and refuses a hostile one with status 2.
#[test]
fn shipped_files_pass_check() {
    let check = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zkcrowd")).current_dir(repo()).arg("check").args(args).output().unwrap()
    };
    let mut scenarios = Vec::new();
    let mut stack = vec![repo().join("scenarios")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(repo()).unwrap().display().to_string();
            if path.is_dir() {
                if !["scenarios/sweeps", "scenarios/chain", "scenarios/tests/hostile"].contains(&relative.as_str()) {
                    stack.push(path);
                }
            } else if relative.ends_with(".yaml") && !relative.ends_with("sweep-small.yaml") {
                scenarios.push(relative);
            }
        }
    }
    assert!(scenarios.len() >= 10, "{scenarios:?}");
    let args: Vec<&str> = scenarios.iter().map(String::as_str).collect();
    let output = check(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), scenarios.len());
    let sweeps = check(&[
        "--as",
        "sweep",
        "scenarios/sweeps/bounty-curves.yaml",
        "scenarios/sweeps/l1-slots.yaml",
        "scenarios/tests/sweep-small.yaml",
    ]);
    assert!(sweeps.status.success(), "{}", String::from_utf8_lossy(&sweeps.stderr));
    let genesis = check(&["--as", "genesis", "scenarios/chain/genesis.yaml"]);
    assert!(genesis.status.success(), "{}", String::from_utf8_lossy(&genesis.stderr));
    let hostile = check(&["scenarios/tests/tiny.yaml", "scenarios/tests/hostile/population.yaml"]);
    assert_eq!(hostile.status.code(), Some(2));
}
