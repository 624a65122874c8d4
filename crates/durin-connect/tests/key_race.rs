//! Issue 12, item 4: many processes and threads loading the server key for the first time,
//! together, on one path, all end up with the same complete key.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

/// Set in a child process: the key file it loads.
const CHILD_ENV: &str = "DURIN_KEY_RACE_CHILD";
/// Set in a child process: when to load it (nanoseconds since the Unix epoch), so that
/// all the children start their load together.
const AT_ENV: &str = "DURIN_KEY_RACE_AT";

#[expect(
    clippy::disallowed_methods,
    reason = "a start time shared by separate processes is wall-clock time"
)]
fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "durin-key-race-{name}-{}-{}",
        std::process::id(),
        unix_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_settled(dir: &Path, path: &Path, keys: &[String]) {
    assert!(keys.iter().all(|k| k == &keys[0]), "keys differ: {keys:?}");
    assert_eq!(keys[0].len(), 64, "a 32-byte key");
    let on_disk = std::fs::read_to_string(path).unwrap();
    assert_eq!(on_disk.trim(), keys[0]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind: {left:?}");
}

#[test]
fn threads_loading_a_new_key_together_agree() {
    for round in 0..20 {
        let dir = scratch(&format!("threads{round}"));
        let path = dir.join("durin.key");
        let threads = 16;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, path) = (barrier.clone(), path.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    hex(durin_connect::load_key(&path).unwrap().expose_secret())
                })
            })
            .collect();
        let keys: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_settled(&dir, &path, &keys);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Not a test on its own: what each child process of
/// `processes_loading_a_new_key_together_agree` runs (it does nothing without the
/// variable). The children start together and race on the same path.
#[test]
fn child_loads_the_key() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let at: u128 = std::env::var(AT_ENV).unwrap().parse().unwrap();
        while unix_nanos() < at {
            std::hint::spin_loop();
        }
        let key = durin_connect::load_key(Path::new(&path)).expect("the key loads");
        println!("KEY={}", hex(key.expose_secret()));
    }
}

#[test]
fn processes_loading_a_new_key_together_agree() {
    let exe = std::env::current_exe().unwrap();
    // (The old create-then-write lost this race between threads — see the test above —
    // but rarely between processes, whose starts cannot be lined up as closely.)
    for round in 0..3 {
        let dir = scratch(&format!("procs{round}"));
        let path = dir.join("durin.key");
        // Long enough for every child to have started and be waiting.
        let at = unix_nanos() + 1_500_000_000;
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "child_loads_the_key", "--nocapture"])
                    .env(CHILD_ENV, &path)
                    .env(AT_ENV, at.to_string())
                    .env_remove("DURIN_SECRET")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let keys: Vec<String> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "child failed: {stdout}{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                stdout
                    .lines()
                    .find_map(|l| l.strip_prefix("KEY="))
                    .map(|k| k.trim().to_owned())
                    .unwrap_or_else(|| panic!("no key printed: {stdout}"))
            })
            .collect();
        assert_settled(&dir, &path, &keys);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("mode");
    let path = dir.join("durin.key");
    durin_connect::load_key(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = durin_connect::load_key(&path).unwrap_err();
    assert!(
        matches!(
            err,
            durin_connect::KeyFileError::Permissions { mode: 0o644, .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(durin_connect::load_key(&path).is_err());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    durin_connect::load_key(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
