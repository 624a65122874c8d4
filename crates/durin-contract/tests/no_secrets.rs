//! Issue 12, item 5: no password, token or key in anything the binaries print. Both
//! example servers and the `durin` CLI run at `RUST_LOG=trace` through bad flags, bad
//! database URLs, logins (good and bad), authenticated calls, forged tokens, logouts and
//! store failures; every byte of their stdout and stderr is then searched for the
//! secrets they were given or issued.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use durin_contract::{binary, client, database_url};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// The demo user's password (given on the command line).
const PASSWORD: &str = "Wonder-PW-7f3a91";
/// A password inside a malformed `--user` value.
const FLAG_PASSWORD: &str = "Flag-PW-91c2e0";
/// A password inside database URLs (user info and query string).
const URL_PASSWORD: &str = "Url-PW-55d1b8";
/// A wrong password tried at login.
const WRONG_PASSWORD: &str = "Guess-PW-0b7c44";
/// A `DURIN_SECRET`.
const SECRET: &str = "Secret-KEY-3e8f0a-0123456789abcdef0123456789";

/// Everything a process printed.
#[derive(Default)]
struct Output {
    what: String,
    text: String,
}

fn scratch() -> std::path::PathBuf {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("durin-no-secrets-{suffix}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a command to completion (at most 60 s) at `RUST_LOG=trace`.
async fn run(what: &str, program: &str, args: &[String], env: &[(&str, &str)]) -> Output {
    let dir = scratch();
    let mut command = Command::new(binary(program));
    command
        .current_dir(&dir)
        .args(args)
        .env_remove("DURIN_SECRET")
        .env("RUST_LOG", "trace")
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: did not finish in 60 s"))
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    Output {
        what: what.to_owned(),
        text: format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A server at `RUST_LOG=trace` whose stdout and stderr are both captured.
struct Traced {
    base: String,
    child: tokio::process::Child,
    printed: Arc<Mutex<String>>,
    dir: std::path::PathBuf,
}

impl Traced {
    async fn start(package: &str, url: &str, env: &[(&str, &str)]) -> Traced {
        let dir = scratch();
        let mut command = Command::new(binary(package));
        command
            .current_dir(&dir)
            .arg("--bind=127.0.0.1:0")
            .arg(format!("--database-url={url}"))
            .arg(format!("--user=alice:{PASSWORD}"))
            .args([
                "--client=web",
                "--client=cli::2/m",
                "--api-access-client=api",
            ])
            .env_remove("DURIN_SECRET")
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let printed = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = printed.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let sink = printed.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix("listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        let base = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .unwrap_or_else(|_| panic!("{package} did not start within 60 s"))
            .unwrap_or_else(|_| {
                panic!(
                    "{package} exited before listening: {}",
                    printed.lock().unwrap()
                )
            });
        Traced {
            base,
            child,
            printed,
            dir,
        }
    }

    async fn stop(mut self, what: &str) -> Output {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
        // Let the readers drain what was left in the pipes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = std::fs::remove_dir_all(&self.dir);
        Output {
            what: what.to_owned(),
            text: self.printed.lock().unwrap().clone(),
        }
    }
}

async fn login(http: &reqwest::Client, base: &str, password: &str) -> (u16, String) {
    let r = http
        .post(format!("{base}/api/login/"))
        .json(&serde_json::json!({"username": "alice", "password": password, "client": "web"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (
        status,
        body["token"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Drives a server through the calls that touch secrets; returns the tokens it issued.
async fn exercise(base: &str) -> Vec<String> {
    let http = client(None);
    let mut tokens = Vec::new();
    let (status, token) = login(&http, base, PASSWORD).await;
    assert_eq!(status, 200, "login");
    let (status, _) = login(&http, base, WRONG_PASSWORD).await;
    assert_eq!(status, 400, "wrong password");
    // A form body too.
    let r = http
        .post(format!("{base}/api/login/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=alice&password={WRONG_PASSWORD}&client=web"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let bearer = |t: &str| format!("Bearer {t}");
    for path in ["/api/me", "/api/sessions/", "/api/throttled"] {
        let r = http
            .get(format!("{base}{path}"))
            .header("Authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    // A forged token (valid checksum, foreign prefix), a mangled one, a cookie.
    let forged = durin_core::TokenString::generate(&durin_core::TokenPrefix::new("zz9").unwrap());
    let last = if token.ends_with('x') { 'y' } else { 'x' };
    let mangled = format!("{}{last}", &token[..token.len() - 1]);
    for bad in [forged.expose_secret().to_owned(), mangled.clone()] {
        let r = http
            .get(format!("{base}/api/me"))
            .header("Authorization", bearer(&bad))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        tokens.push(bad);
    }
    let r = http
        .get(format!("{base}/api/me"))
        .header("Cookie", format!("auth_token={token}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() < 500);
    let r = http
        .post(format!("{base}/api/logout/"))
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = http
        .get(format!("{base}/api/me"))
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "logged out");
    tokens.push(token);
    tokens
}

/// The store is unreachable: logins answer 503 and the server logs the failure.
async fn exercise_outage(base: &str) {
    let http = client(None);
    let (status, _) = login(&http, base, PASSWORD).await;
    assert_eq!(status, 503, "login with the store down");
    let r = http
        .get(format!("{base}/api/me"))
        .header(
            "Authorization",
            format!(
                "Bearer {}",
                durin_core::TokenString::generate(&durin_core::TokenPrefix::default())
                    .expose_secret()
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
}

fn assert_clean(outputs: &[Output], secrets: &[String]) {
    for out in outputs {
        assert!(
            !out.text.is_empty(),
            "{}: printed nothing at trace",
            out.what
        );
        for secret in secrets {
            assert!(
                !out.text.contains(secret.as_str()),
                "{}: a secret ({}...) appears in the output:\n{}",
                out.what,
                &secret[..6.min(secret.len())],
                out.text
            );
        }
    }
}

fn unreachable_postgres() -> String {
    format!("postgres://app:{URL_PASSWORD}@127.0.0.1:1/x?password={URL_PASSWORD}&connect_timeout=1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_output_at_trace() {
    let mut outputs = Vec::new();
    let mut secrets: Vec<String> = [
        PASSWORD,
        FLAG_PASSWORD,
        URL_PASSWORD,
        WRONG_PASSWORD,
        SECRET,
    ]
    .map(String::from)
    .to_vec();
    for server in ["axum-server", "actix-server"] {
        // Bad flags: a malformed --user, an unsupported URL with a password.
        let bad_user = run(
            &format!("{server} --user bad"),
            server,
            &[format!("--user=alice-{FLAG_PASSWORD}")],
            &[],
        )
        .await;
        assert!(
            bad_user.text.starts_with("exit Some(2)") && bad_user.text.contains("NAME:PASSWORD"),
            "{}",
            bad_user.text
        );
        outputs.push(bad_user);
        outputs.push(
            run(
                &format!("{server} mysql url"),
                server,
                &[format!(
                    "--database-url=mysql://root:{URL_PASSWORD}@127.0.0.1/x?password={URL_PASSWORD}"
                )],
                &[],
            )
            .await,
        );
        let short = run(
            &format!("{server} short secret"),
            server,
            &["--database-url=sqlite::memory:".to_owned()],
            &[("DURIN_SECRET", "Short-SECRET-77")],
        )
        .await;
        assert!(
            !short.text.starts_with("exit Some(0)") && short.text.contains("at least 32"),
            "a short DURIN_SECRET is refused: {}",
            short.text
        );
        outputs.push(short);
        secrets.push("Short-SECRET-77".to_owned());

        // A working server on a key file: logins, calls, forged tokens, logout.
        let dir = scratch();
        let url = database_url("sqlite", &dir).await;
        let traced = Traced::start(server, &url, &[]).await;
        let key_file = traced.dir.join("durin.key");
        let key = std::fs::read_to_string(&key_file).expect("the key file");
        secrets.push(key.trim().to_owned());
        secrets.extend(exercise(&traced.base).await);
        outputs.push(traced.stop(&format!("{server} on sqlite")).await);

        // DURIN_SECRET, and a store that cannot be reached (503s, logged failures).
        let traced =
            Traced::start(server, &unreachable_postgres(), &[("DURIN_SECRET", SECRET)]).await;
        exercise_outage(&traced.base).await;
        outputs.push(traced.stop(&format!("{server} store down")).await);
        let _ = std::fs::remove_dir_all(&dir);
    }

    // The CLI: a bad URL, an unreachable one, a working one, a bad flag.
    let dir = scratch();
    let sqlite = database_url("sqlite", &dir).await;
    let cli = |args: &[String]| args.to_vec();
    for (what, args) in [
        (
            "durin unreachable",
            cli(&[
                format!("--database-url={}", unreachable_postgres()),
                "client".into(),
                "list".into(),
            ]),
        ),
        (
            "durin mysql",
            cli(&[
                format!("--database-url=mysql://root:{URL_PASSWORD}@h/x"),
                "client".into(),
                "list".into(),
            ]),
        ),
        (
            "durin ok",
            cli(&[
                format!("--database-url={sqlite}"),
                "client".into(),
                "list".into(),
            ]),
        ),
        (
            "durin bad url",
            cli(&[
                format!(
                    "--database-url=postgres://u:{URL_PASSWORD}@h:notaport/x?password={URL_PASSWORD}"
                ),
                "client".into(),
                "list".into(),
            ]),
        ),
        (
            "durin bad flag",
            cli(&[
                format!("--database-url={sqlite}"),
                "client".into(),
                "list".into(),
                format!("--no-such-flag={URL_PASSWORD}"),
            ]),
        ),
        (
            "durin short secret",
            cli(&[
                format!("--database-url={sqlite}"),
                "apikey".into(),
                "create".into(),
                "--user=42".into(),
            ]),
        ),
    ] {
        let env: &[(&str, &str)] = if what == "durin short secret" {
            &[("DURIN_SECRET", "Short-SECRET-77")]
        } else {
            &[]
        };
        outputs.push(run(what, "durin", &args, env).await);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_clean(&outputs, &secrets);
}
