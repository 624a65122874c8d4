//! An axum application that owns its users and lets durin issue and check their tokens:
//! a `users` table with its own migrations beside durin's tables in one database,
//! sign-up, password login through [`CredentialChecker`] (argon2), a login by one-time
//! e-mail code that calls [`Durin::login`] directly, and routes behind client, scope and
//! throttle guards. durin's stores come from `durin-connect` (one URL for both); an
//! application may open `durin_sqlx::PostgresStore` or `SqliteStore` itself instead. `main.rs` serves it; `tests/app.rs` drives it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use durin_axum::{
    Api, ApiError, Auth, CredentialChecker, DurinLayer, ErrorResponse, Guard, HttpConfig,
};
use durin_core::{
    AuthError, Client, ClientName, DigestKey, Durin, LoginOptions, Node, StoreError, UserId,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::AnyPool;
use subtle::ConstantTimeEq;

/// The application's migrations (`migrations/`), recorded in sqlx's `_sqlx_migrations`;
/// durin records its own in `_durin_migrations`, so neither sees the other's versions.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The clients: `web` (1 day) and `mobile` (30 days) for people; `cli` tokens carry the
/// `reports` scope and are throttled at 5 requests a minute.
pub fn clients() -> Vec<Client> {
    let client = |name: &str| Client::new(ClientName::new(name).expect("a valid name"));
    vec![
        client("web"),
        client("mobile").with_token_ttl(Some(Duration::from_secs(30 * 86_400))),
        client("cli")
            .with_scopes(["reports"])
            .with_throttle_rate(Some("5/m".parse().expect("a valid rate"))),
    ]
}

/// Opens the database at `url` (`sqlite:` or `postgres://`), runs durin's migrations
/// and the application's, and starts a durin [`Node`] on it (cache, invalidation bus,
/// shared throttle and login limit, purge): the application's service is
/// `node.durin()`, and `node.shutdown()` stops it. The clients are seeded through the
/// service, so running nodes hear of a changed policy.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn connect(url: &str, key: DigestKey) -> anyhow::Result<(AnyPool, Node)> {
    // durin's tables first (on SQLite its store creates the file the application opens).
    let backend = durin_connect::open(url).await?;
    backend.migrate().await?;
    sqlx::any::install_default_drivers();
    let db = AnyPool::connect(url).await?;
    MIGRATOR.run(&db).await?;
    let node = Node::builder(backend, key).start()?;
    for client in self::clients() {
        node.durin().upsert_client(&client).await?;
    }
    Ok((db, node))
}

/// Passwords checked against the `users` table.
pub struct Users {
    db: AnyPool,
    /// Verified for unknown usernames, so they take as long as known ones.
    decoy: String,
}

impl Users {
    /// The checker over `db`.
    pub fn new(db: AnyPool) -> Self {
        let decoy = hash("not anybody's password");
        Users { db, decoy }
    }
}

/// An argon2id hash with a random salt (argon2 takes any password up to 4 GiB).
fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("OS random");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
    let hash = Argon2::default().hash_password(password.as_bytes(), &salt);
    hash.expect("default argon2 parameters").to_string()
}

#[async_trait]
impl CredentialChecker for Users {
    async fn check(&self, username: &str, password: &str) -> Result<Option<UserId>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.db)
                .await
                .map_err(StoreError::unavailable)?;
        let stored = row.as_ref().map_or(self.decoy.clone(), |(_, h)| h.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            let argon2 = Argon2::default();
            PasswordHash::new(&stored)
                .is_ok_and(|h| argon2.verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .map_err(StoreError::backend)?;
        Ok(row.filter(|_| ok).and_then(|(id, _)| UserId::new(id).ok()))
    }
}

/// Sends a one-time code (`code`) to an e-mail address (`to`).
pub type Mailer = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct App {
    db: AnyPool,
    api: Api,
    /// The pending one-time login code of each username.
    codes: Arc<Mutex<HashMap<String, String>>>,
    mailer: Mailer,
}

impl App {
    /// The application over its database and durin's endpoints. Codes go to the log; a
    /// real application hands them to its mailer ([`App::with_mailer`]).
    pub fn new(db: AnyPool, api: Api) -> Self {
        let mailer: Mailer = Arc::new(|to, code| tracing::info!(%to, %code, "login code"));
        let codes = Arc::default();
        App {
            db,
            api,
            codes,
            mailer,
        }
    }

    /// The application on `db` and `durin`, checking passwords in `db`.
    pub fn over(db: AnyPool, durin: Durin) -> Self {
        let users = Arc::new(Users::new(db.clone()));
        App::new(db, Api::new(durin, HttpConfig::default(), users))
    }

    /// Sends the one-time codes through `mailer`.
    pub fn with_mailer(self, mailer: Mailer) -> Self {
        App { mailer, ..self }
    }
}

/// Every route under `/api`: sign-up, durin's endpoints (`login/`, `logout/`,
/// `sessions/`...), the e-mail code login, and the application's own routes.
pub fn router(app: App) -> Router {
    let routes = Router::new()
        .route("/signup", post(signup))
        .route("/email-code", post(email_code))
        .route("/email-login", post(email_login))
        .route("/me", get(me))
        .route("/reports", get(reports).layer(Guard::scopes(["reports"])))
        .route("/export", get(reports).layer(Guard::throttle()))
        .route("/account", get(me).layer(Guard::allow_clients(["web"])))
        .with_state(app.clone())
        .merge(durin_axum::endpoints())
        .layer(DurinLayer::new(app.api));
    Router::new().nest("/api", routes)
}

/// A failed request, as a response: a field message, durin's answer, or 503.
pub struct Error(Response);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.0
    }
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// 400 `{"<field>": ["<message>"]}`, as Django REST framework words them.
fn invalid(field: &str, message: &str) -> Error {
    Error(reply(StatusCode::BAD_REQUEST, json!({ field: [message] })))
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "database unavailable");
        AuthError::Unavailable(StoreError::unavailable(e)).into() // 503
    }
}

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        Error(ApiError(ErrorResponse::new(e.into(), &HttpConfig::default())).into_response())
    }
}

impl From<JsonRejection> for Error {
    fn from(e: JsonRejection) -> Self {
        Error(reply(
            StatusCode::BAD_REQUEST,
            json!({ "detail": e.body_text() }),
        ))
    }
}

/// A request body whose fields are all optional, so a missing one gets a field message.
#[derive(Deserialize)]
struct Form {
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
    code: Option<String>,
    client: Option<String>,
}

type Body = Result<Json<Form>, JsonRejection>;

const BLANK: &str = "This field may not be blank.";
const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const NAME_TOO_LONG: &str = "Ensure this field has no more than 32 characters.";
const TOO_LONG: &str = "Ensure this field has no more than 128 characters.";

/// The field message that refuses a sign-up, if any.
fn refusal(username: &str, password: &str) -> Option<(&'static str, &'static str)> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    Some(match (username.chars().count(), password.chars().count()) {
        (0, _) => ("username", BLANK),
        (33.., _) => ("username", NAME_TOO_LONG),
        _ if !username.chars().all(allowed) => ("username", "Use letters, digits and . _ - only."),
        _ if password.trim().is_empty() => ("password", BLANK),
        (_, ..8) => ("password", TOO_SHORT),
        (_, 129..) => ("password", TOO_LONG),
        _ => return None,
    })
}

/// `POST /api/signup {"username", "password", "email"?}`: 201 `{"id", "username"}`.
async fn signup(State(app): State<App>, form: Body) -> Result<Response, Error> {
    let Json(form) = form?;
    let username = form.username.unwrap_or_default().trim().to_owned();
    let password = form.password.unwrap_or_default();
    if let Some((field, message)) = refusal(&username, &password) {
        return Err(invalid(field, message));
    }
    let hashed = tokio::task::spawn_blocking(move || hash(&password)).await;
    let hashed = hashed.expect("a hashing task");
    let id = durin_core::SessionId::generate().as_str().to_owned(); // 22 random base62
    let now = app.api.durin().clock().now().as_millis();
    let inserted = sqlx::query(
        "INSERT INTO users (id, username, email, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&username)
    .bind(form.email)
    .bind(hashed)
    .bind(now)
    .execute(&app.db)
    .await;
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(invalid(
            "username",
            "A user with that username already exists.",
        )),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(reply(
            StatusCode::CREATED,
            json!({ "id": id, "username": username }),
        )),
    }
}

/// `POST /api/email-code {"username"}`: e-mails a one-time code. 202 whether or not the
/// user exists, so that usernames cannot be probed.
async fn email_code(State(app): State<App>, form: Body) -> Result<StatusCode, Error> {
    let username = form?.0.username.unwrap_or_default();
    let email: Option<(Option<String>,)> =
        sqlx::query_as("SELECT email FROM users WHERE username = $1")
            .bind(&username)
            .fetch_optional(&app.db)
            .await?;
    if let Some((Some(email),)) = email {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("OS random");
        let code = format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000);
        (app.mailer)(&email, &code);
        app.codes.lock().expect("codes").insert(username, code);
    }
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/email-login {"username", "code", "client"}`: a token from `Durin::login`,
/// the same kind a password login gives. A code works once; a wrong guess spends it.
async fn email_login(State(app): State<App>, form: Body) -> Result<Json<Value>, Error> {
    let Json(form) = form?;
    let username = form.username.unwrap_or_default();
    let expected = app.codes.lock().expect("codes").remove(&username);
    let given = form.code.unwrap_or_default();
    if !expected.is_some_and(|code| bool::from(code.as_bytes().ct_eq(given.as_bytes()))) {
        return Err(invalid("non_field_errors", "Invalid or expired code."));
    }
    let (id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE username = $1")
        .bind(&username)
        .fetch_one(&app.db)
        .await?;
    let user = UserId::new(id).map_err(|_| AuthError::NotFound)?;
    let client = ClientName::new(form.client.unwrap_or_else(|| "web".to_owned()))
        .map_err(|_| AuthError::UnknownClient)?;
    let durin = app.api.durin();
    let login = durin.login(&user, &client, LoginOptions::default()).await?;
    Ok(Json(json!({
        "token": login.token.expose_secret(),
        "expiry": login.session.expires_at.map(|t| t.to_iso8601()),
    })))
}

/// `GET /api/me`: the caller's profile, from the application's table.
async fn me(State(app): State<App>, Auth(auth): Auth) -> Result<Json<Value>, Error> {
    let (username, email): (String, Option<String>) =
        sqlx::query_as("SELECT username, email FROM users WHERE id = $1")
            .bind(auth.user_id().as_str())
            .fetch_optional(&app.db)
            .await?
            .ok_or(AuthError::NotFound)?; // the token outlived its user
    Ok(Json(json!({
        "id": auth.user_id().as_str(),
        "username": username,
        "email": email,
        "client": auth.client.name.as_str(),
    })))
}

/// `GET /api/reports` (scope `reports`), `GET /api/export` (throttled per user and
/// client); `GET /api/account` is `me` for the `web` client only.
async fn reports(Auth(auth): Auth) -> Json<Value> {
    Json(json!({ "user": auth.user_id().as_str(), "reports": [] }))
}
