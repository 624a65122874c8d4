//! `durin import` from the command line: bad sources exit 2 and write nothing,
//! `--dry-run` writes nothing, a second run imports nothing twice, `--user-field id`.
//! (The contract suite, `crates/durin-contract/tests/migration.rs`, drives the servers
//! with the imported tokens.)

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const AUTH: &str = include_str!("fixtures/django-auth.sqlite.sql");
const DRF: &str = include_str!("fixtures/drf-authtoken.sqlite.sql");

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Dir {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("import-{name}"));
    std::fs::create_dir_all(&dir).expect("scratch");
    std::fs::write(dir.join("durin.key"), "ab".repeat(32)).expect("key file");
    // A key file others can read is refused.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        dir.join("durin.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod 600");
    Dir(dir)
}

/// Runs `durin` with the scratch key and a destination SQLite file.
fn durin(dir: &Dir, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_durin"))
        .current_dir(&dir.0)
        .arg(format!(
            "--database-url=sqlite://{}",
            dir.0.join("durin.db").display()
        ))
        .arg("--key-file=durin.key")
        .args(args)
        .env_remove("DURIN_SECRET")
        .env_remove("DURIN_DATABASE_URL")
        .output()
        .expect("run durin");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Django SQLite database made of `ddl`.
fn django(dir: &Dir, ddl: &[&str]) -> String {
    let path = dir.0.join("django.sqlite3");
    let url = format!("sqlite://{}", path.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
            .await
            .expect("create");
        for sql in ddl {
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
                .execute(&pool)
                .await
                .expect("ddl");
        }
        pool.close().await;
    });
    url
}

#[track_caller]
fn refused(dir: &Dir, source: &str, library: &str, expect: &str) {
    let (code, _, stderr) = durin(dir, &["import", library, "--source", source]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(expect), "{stderr}");
    assert!(
        !dir.0.join("durin.db").exists(),
        "a refused import must write nothing"
    );
}

#[test]
fn bad_sources_exit_2_and_write_nothing() {
    let dir = scratch();
    refused(
        &dir,
        "postgres://postgres@127.0.0.1:1/nothing",
        "knox",
        "cannot open the source",
    );
    refused(
        &dir,
        &format!("sqlite://{}", dir.0.join("missing.sqlite3").display()),
        "knox",
        "cannot open the source",
    );
    refused(&dir, "mysql://localhost/django", "knox", "neither");
    let url = django(&dir, &[AUTH]);
    refused(&dir, &url, "knox", "no table knox_authtoken");
    refused(&dir, &url, "django-rest-durin", "no table durin_authtoken");
    let url = django(
        &dir,
        &[
            "CREATE TABLE authtoken_token (key varchar(40), created datetime, user_id integer, \
           scope text)",
        ],
    );
    refused(&dir, &url, "drf-authtoken", "has columns");
    refused(&dir, &url, "knox", "no table");
    let (code, _, stderr) = durin(
        &dir,
        &[
            "import",
            "knox",
            "--source",
            &url,
            "--user-table",
            "x; drop",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn dry_run_then_import_then_nothing_twice() {
    let dir = scratch();
    let url = django(
        &dir,
        &[
            AUTH,
            DRF,
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, \
             email, is_staff, is_active, date_joined) VALUES \
             (7, '!', 0, 'alice', '', '', '', 0, 1, '2024-01-01 00:00:00');
             INSERT INTO authtoken_token (key, created, user_id) VALUES \
             ('0123456789abcdef0123456789abcdef01234567', \
              strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 days'), 7);",
        ],
    );
    let run = |extra: &[&str]| -> Value {
        let mut args = vec![
            "--json",
            "import",
            "drf-authtoken",
            "--source",
            url.as_str(),
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = durin(&dir, &args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("JSON")
    };
    let dry = run(&["--dry-run"]);
    assert_eq!(dry["imported"], 1, "{dry}");
    assert_eq!(dry["clients"][0]["action"], "would create", "{dry}");
    assert_eq!(
        run(&["--dry-run"])["imported"],
        1,
        "a dry run writes nothing"
    );
    let first = run(&["--user-field", "id"]);
    assert_eq!(first["imported"], 1, "{first}");
    assert_eq!(first["clients"][0]["name"], "legacy", "{first}");
    assert_eq!(first["clients"][0]["action"], "created", "{first}");
    let second = run(&["--user-field", "id"]);
    assert_eq!(second["imported"], 0, "{second}");
    assert_eq!(second["skipped"]["duplicate"], 1, "{second}");
    assert_eq!(second["clients"][0]["action"], "kept", "{second}");
    // The session belongs to user "7" (--user-field id) on the `legacy` client, and no
    // digest or token is shown.
    let (code, stdout, stderr) = durin(&dir, &["--json", "session", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"7\""), "{stdout}");
    assert!(stdout.contains("legacy"), "{stdout}");
    assert!(!stdout.contains("0123456789abcdef"), "{stdout}");
    // A 1-day lifespan makes the day-old token expired.
    let dir2 = scratch();
    std::fs::copy(dir.0.join("django.sqlite3"), dir2.0.join("django.sqlite3")).unwrap();
    let url2 = format!("sqlite://{}", dir2.0.join("django.sqlite3").display());
    let (code, stdout, stderr) = durin(
        &dir2,
        &[
            "--json",
            "import",
            "drf-authtoken",
            "--source",
            &url2,
            "--lifespan",
            "1d",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["imported"], 0, "{report}");
    assert_eq!(report["skipped"]["expired"], 1, "{report}");
    // The table output names every count.
    let (code, stdout, _) = durin(&dir, &["import", "drf-authtoken", "--source", &url]);
    assert_eq!(code, 0);
    for word in [
        "imported",
        "skipped: duplicate",
        "skipped: expired",
        "legacy",
    ] {
        assert!(stdout.contains(word), "{stdout}");
    }
}
