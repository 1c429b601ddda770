//! The real binary's logs: on stderr (stdout stays empty), never coloured when stderr is
//! not a terminal, one JSON object per line with `--log-format json`, and the error it
//! stops with written as its cause chain. With no cluster to reach, the extender stops at
//! once: that error is what it logs.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EXTENDER: &str = env!("CARGO_BIN_EXE_eip-extender");
const TIMEOUT: Duration = Duration::from_secs(30);

/// The extender with no cluster (a kubeconfig that does not exist), `args` and `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(EXTENDER)
        .args(args)
        .env_clear()
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .env("HOME", dir.path())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eip-extender starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("eip-extender did not stop within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The failure every run below ends with, as its chain: the extender's own sentence, then
/// kube's cause.
const STOPPED: &str = "failed to set up the Kubernetes client: ";

#[test]
fn text_logs_on_a_pipe_have_no_colour_and_errors_show_their_causes() {
    for (args, env) in [
        (vec!["--log-format", "text"], vec![]),
        (vec![], vec![("EIP_EXTENDER_LOG_FORMAT", "text")]),
        // NO_COLOR empty means unset; a pipe is never coloured anyway
        (vec!["--log-format", "text"], vec![("NO_COLOR", "")]),
    ] {
        let out = run(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} {env:?}: {stderr}");
        assert!(out.stdout.is_empty(), "logs go to stderr");
        assert!(!out.stderr.contains(&0x1b), "ESC in the log:\n{stderr:?}");
        let line = stderr
            .lines()
            .find(|l| l.contains("eip-extender stopped"))
            .unwrap_or_else(|| panic!("no stop line:\n{stderr}"));
        assert!(line.contains(" ERROR "), "{line}");
        let cause = line
            .split_once(&format!("error={STOPPED}"))
            .map(|(_, cause)| cause)
            .unwrap_or_else(|| panic!("error not written as its chain: {line}"));
        assert!(!cause.is_empty() && !cause.contains("Some("), "{line}");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    for (args, env) in [
        (vec!["--log-format", "json"], vec![]),
        // json is the default
        (vec![], vec![("RUST_LOG", "debug")]),
    ] {
        let out = run(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty(), "logs go to stderr");
        assert!(!out.stderr.contains(&0x1b), "ESC in the log:\n{stderr:?}");
        let lines: Vec<Value> = stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect();
        let stop = lines
            .iter()
            .find(|v| v["fields"]["message"] == "eip-extender stopped")
            .unwrap_or_else(|| panic!("no stop line:\n{stderr}"));
        assert_eq!(stop["level"], "ERROR", "{stop}");
        let error = stop["fields"]["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(STOPPED) && error.len() > STOPPED.len(),
            "{stop}"
        );
    }
}

#[test]
fn an_unknown_log_format_is_refused_by_name() {
    let out = run(&["--log-format", "yaml"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[possible values: text, json]"), "{stderr}");
}
