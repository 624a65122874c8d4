//! The sessions page (`GET /`) in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, Debian's `chromium` and `chromium-driver`, which `scripts/services.sh`
//! installs). It signs in with the cookie transport, sees its session, sees a second one
//! opened through the API appear and revokes it, creates a named token and uses it over
//! HTTP, sees the API's error messages, checks that a cross-origin form post is refused,
//! and logs out everywhere back to the sign-in form.
//!
//! Needs `chromedriver` and `chromium` (or `CHROMEDRIVER` / `CHROMIUM` naming them): the
//! test fails, never skips, without them. With `DURIN_SCREENSHOT=PATH` it saves a
//! screenshot of the signed-in page there (`docs/sessions-page.png`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use durin_contract::{ALICE, Server, standard_flags};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A running `chromedriver` on a free loopback port, killed on drop.
struct Driver {
    url: String,
    _child: Child,
}

impl Driver {
    async fn start() -> Driver {
        let program = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {program}: {e}. Install Debian's chromium and chromium-driver \
                     (scripts/services.sh does), or set CHROMEDRIVER"
                )
            });
        let url = format!("http://127.0.0.1:{port}");
        let http = durin_contract::client(None);
        let started = Instant::now();
        while http.get(format!("{url}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{program} did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { url, _child: child }
    }

    async fn browser(&self) -> Client {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1100,1000"],
            }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a WebDriver session")
    }
}

/// Evaluates `script` (a function body) in the page.
async fn js(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("script {script}: {e}"))
}

/// Polls `script` until it returns `true` (at most 10 s).
async fn wait_for(browser: &Client, what: &str, script: &str) {
    let started = Instant::now();
    loop {
        if js(browser, script).await == Value::Bool(true) {
            return;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let body = js(browser, "return document.body.innerText").await;
            panic!("waited 10 s for {what}; the page says: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn fill(browser: &Client, css: &str, value: &str) {
    let field = browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

const SESSION_ROWS: &str = "return document.querySelectorAll('#sessions tbody tr').length";

async fn sign_in(browser: &Client, password: &str) {
    fill(browser, "#username", "alice").await;
    fill(browser, "#password", password).await;
    browser
        .find(Locator::Css("#client"))
        .await
        .expect("client select")
        .select_by_value("web")
        .await
        .expect("select web");
    click(browser, "#signin-button").await;
}

async fn the_sessions_page_works_in_a_browser(package: &str) {
    let mut flags = standard_flags();
    flags.push("--tokens-client=pat".to_owned());
    let s = Server::start_with(package, "sqlite", &flags, None).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    // The walk runs in its own task so that the browser is closed even when it panics
    // (otherwise Chromium outlives its driver).
    let walker = browser.clone();
    let outcome = tokio::spawn(async move { walk_through(&s, &walker).await }).await;
    let _ = browser.close().await;
    match outcome {
        Ok(result) => result.unwrap_or_else(|e| panic!("{package}: {e}")),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("{package}: {e}"),
    }
}

async fn walk_through(s: &Server, browser: &Client) -> Result<(), String> {
    browser.goto(&s.url("/")).await.map_err(|e| e.to_string())?;
    wait_for(
        browser,
        "the sign-in form",
        "return !document.getElementById('signin').hidden",
    )
    .await;

    // A wrong password: the API's message, not silence.
    sign_in(browser, "wrong").await;
    wait_for(
        browser,
        "the login error",
        "return document.getElementById('signin-message').textContent.length > 0",
    )
    .await;
    assert_eq!(
        text(browser, "#signin-message").await,
        "Unable to log in with provided credentials."
    );

    // Sign in: the page shows this session, marked "this device".
    sign_in(browser, ALICE.1).await;
    wait_for(
        browser,
        "the sessions table",
        &format!("{SESSION_ROWS} === 1"),
    )
    .await;
    assert_eq!(
        text(browser, "#sessions tbody tr .badge").await,
        "this device"
    );
    assert!(text(browser, "#who").await.contains("alice"));
    // The token is in an HttpOnly cookie: the page's script cannot read it.
    assert_eq!(js(browser, "return document.cookie").await, json!(""));

    // A second session, opened through the API, appears; revoke it from the page.
    let other = s.login(ALICE, "cli").await;
    let other_id = s.get("/api/me", &other).await.body["session"]
        .as_str()
        .unwrap()
        .to_owned();
    click(browser, "#refresh").await;
    wait_for(
        browser,
        "the second session",
        &format!("{SESSION_ROWS} === 2"),
    )
    .await;
    let row = format!("#sessions tr[data-id='{other_id}']");
    assert!(text(browser, &row).await.contains("cli"));
    click(browser, &format!("{row} button.revoke")).await;
    wait_for(
        browser,
        "the revoked session to go",
        &format!("{SESSION_ROWS} === 1"),
    )
    .await;
    s.get("/api/me", &other)
        .await
        .assert_error(401, "Invalid token.");

    // A named token: shown once, listed, and it works over plain HTTP.
    fill(browser, "#token-name", "ci deploy").await;
    fill(browser, "#token-expires", "30d").await;
    click(browser, "#token-create").await;
    wait_for(
        browser,
        "the new token",
        "return document.getElementById('new-token-value').textContent.startsWith('durin_')",
    )
    .await;
    let token = text(browser, "#new-token-value").await;
    let me = s.get("/api/me", &token).await;
    assert_eq!((me.status, me.body["client"].as_str()), (200, Some("pat")));
    wait_for(
        browser,
        "the token in the list",
        "return document.querySelectorAll('#tokens tbody tr').length === 1",
    )
    .await;
    assert!(
        text(browser, "#tokens tbody tr")
            .await
            .contains("ci deploy")
    );

    // The same name again, and a bad lifetime: the API's field messages.
    fill(browser, "#token-name", "ci deploy").await;
    fill(browser, "#token-expires", "").await;
    click(browser, "#token-create").await;
    wait_for(
        browser,
        "the duplicate-name message",
        "return document.getElementById('tokens-message').textContent.includes('already exists')",
    )
    .await;
    assert_eq!(
        text(browser, "#tokens-message").await,
        "name: A token with this name already exists."
    );
    fill(browser, "#token-name", "other").await;
    fill(browser, "#token-expires", "soon").await;
    click(browser, "#token-create").await;
    wait_for(
        browser,
        "the expires_in message",
        "return document.getElementById('tokens-message').textContent.startsWith('expires_in:')",
    )
    .await;
    fill(browser, "#token-expires", "").await;
    fill(browser, "#token-name", "").await;

    if let Ok(path) = std::env::var("DURIN_SCREENSHOT") {
        // Two more sessions for the picture (the named token is one too), and the token
        // masked: it was shown once.
        s.login(ALICE, "cli").await;
        s.login(ALICE, "plain").await;
        click(browser, "#refresh").await;
        wait_for(browser, "four sessions", &format!("{SESSION_ROWS} === 4")).await;
        js(
            browser,
            "const t = document.getElementById('new-token-value'); \
             t.textContent = t.textContent.slice(0, 12) + '…';
             document.getElementById('tokens-message').className = 'message'; return true",
        )
        .await;
        let png = browser.screenshot().await.map_err(|e| e.to_string())?;
        std::fs::write(&path, png).map_err(|e| format!("{path}: {e}"))?;
    }

    // A form posted from another origin is refused: the session survives.
    let base = &s.base;
    let attack = format!(
        "data:text/html,<form method=post action='{base}/api/logoutall/'></form>\
         <script>document.forms[0].submit()</script>"
    );
    browser.goto(&attack).await.map_err(|e| e.to_string())?;
    wait_for(
        browser,
        "the cross-origin post's answer",
        "return location.href.includes('/api/logoutall')",
    )
    .await;
    let answer = js(browser, "return document.body.innerText").await;
    let answer = answer.as_str().unwrap_or_default();
    assert!(
        answer.contains("Authentication credentials were not provided.")
            || answer.contains("CSRF Failed"),
        "{answer}"
    );
    assert_eq!(s.get("/api/me", &token).await.status, 200, "not logged out");
    browser.goto(&s.url("/")).await.map_err(|e| e.to_string())?;
    wait_for(browser, "still signed in", &format!("{SESSION_ROWS} >= 1")).await;

    // Revoke the named token from the page.
    click(browser, "#tokens tbody tr button.revoke-token").await;
    wait_for(
        browser,
        "the token to go",
        "return document.querySelectorAll('#tokens tbody tr').length === 0",
    )
    .await;
    s.get("/api/me", &token)
        .await
        .assert_error(401, "Invalid token.");

    // Log out everywhere: back to the sign-in form, every token ended.
    let another = s.login(ALICE, "cli").await;
    click(browser, "#logout-all").await;
    wait_for(
        browser,
        "the sign-in form",
        "return !document.getElementById('signin').hidden && document.getElementById('account').hidden",
    )
    .await;
    s.get("/api/me", &another)
        .await
        .assert_error(401, "Invalid token.");
    // A reload stays signed out: the cookie was cleared.
    browser.refresh().await.map_err(|e| e.to_string())?;
    wait_for(
        browser,
        "the sign-in form after a reload",
        "return !document.getElementById('signin').hidden",
    )
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_page_works_in_a_browser_on_axum_server() {
    if durin_contract::selected("axum-server", "sqlite") {
        the_sessions_page_works_in_a_browser("axum-server").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_page_works_in_a_browser_on_actix_server() {
    if durin_contract::selected("actix-server", "sqlite") {
        the_sessions_page_works_in_a_browser("actix-server").await;
    }
}
