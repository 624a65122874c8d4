//! `--log-format json`: everything the CLI writes to stderr is one JSON object per line,
//! its error included; without the flag the error stays `error: ...` text.

use std::process::Command;

use serde_json::Value;

fn durin(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_durin"))
        .args(args)
        .env_remove("DURIN_SECRET")
        .env_remove("DURIN_DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("run durin");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every stderr line, parsed (panics on one that is not JSON).
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn a_failure_is_logged_as_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}",
        dir.path().join("missing-dir").join("durin.db").display()
    );
    let (code, stdout, stderr) = durin(&[
        "--log-format",
        "json",
        "--database-url",
        &url,
        "client",
        "list",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines = json_lines(&stderr);
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR" && l["message"] == "command failed")
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    assert_eq!(error["exit_code"], 1, "{error}");
    assert!(
        error["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{error}"
    );
    assert!(
        !stderr.contains("error: "),
        "no text error besides the JSON: {stderr}"
    );
}

#[test]
fn an_unknown_client_is_logged_as_json_with_its_exit_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("durin.db").display());
    let (code, _, stderr) = durin(&[
        "--log-format=json",
        "--database-url",
        &url,
        "client",
        "show",
        "no-such-client",
    ]);
    assert_ne!(code, 0, "{stderr}");
    let lines = json_lines(&stderr);
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["exit_code"].as_u64() == Some(u64::try_from(code).unwrap())),
        "{stderr}"
    );
}

#[test]
fn text_is_the_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}",
        dir.path().join("missing-dir").join("durin.db").display()
    );
    let (code, _, stderr) = durin(&["--database-url", &url, "client", "list"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        serde_json::from_str::<Value>(stderr.trim()).is_err(),
        "{stderr}"
    );
}
