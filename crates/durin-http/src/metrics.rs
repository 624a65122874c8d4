//! The counters of the HTTP layer, registered once per [`crate::Api`] so requests do not
//! look them up by name. Every label value is a fixed `&'static str` of this crate,
//! never a value from a request (docs/metrics.md says why).

/// `durin_logins_total{outcome}` and the authentication outcomes only the HTTP layer
/// decides (`durin_authentications_total` with `throttled` or `forbidden` from a route
/// guard).
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    pub(crate) login_ok: metrics::Counter,
    pub(crate) login_invalid_credentials: metrics::Counter,
    pub(crate) login_throttled: metrics::Counter,
    pub(crate) login_bad_request: metrics::Counter,
    pub(crate) login_refused: metrics::Counter,
    pub(crate) login_unavailable: metrics::Counter,
    pub(crate) guard_client: metrics::Counter,
    pub(crate) guard_scope: metrics::Counter,
    pub(crate) guard_throttled: metrics::Counter,
    pub(crate) guard_unavailable: metrics::Counter,
    pub(crate) malformed: metrics::Counter,
    pub(crate) csrf: metrics::Counter,
}

impl HttpMetrics {
    pub(crate) fn new() -> Self {
        let login =
            |outcome: &'static str| metrics::counter!("durin_logins_total", "outcome" => outcome);
        let auth = |outcome: &'static str, reason: &'static str| {
            metrics::counter!(
                "durin_authentications_total",
                "outcome" => outcome,
                "reason" => reason
            )
        };
        HttpMetrics {
            login_ok: login("ok"),
            login_invalid_credentials: login("invalid_credentials"),
            login_throttled: login("throttled"),
            login_bad_request: login("bad_request"),
            login_refused: login("refused"),
            login_unavailable: login("unavailable"),
            guard_client: auth("forbidden", "client"),
            guard_scope: auth("forbidden", "scope"),
            guard_throttled: auth("throttled", "rate"),
            guard_unavailable: auth("unavailable", "throttle"),
            malformed: auth("invalid", "malformed"),
            csrf: auth("forbidden", "csrf"),
        }
    }

    /// Counts one login by how it ended.
    pub(crate) fn record_login(&self, outcome: Result<(), &crate::login::LoginError>) {
        use crate::login::LoginError;
        let counter = match outcome {
            Ok(()) => &self.login_ok,
            Err(LoginError::InvalidCredentials) => &self.login_invalid_credentials,
            Err(LoginError::Refused(e)) => match e.status {
                429 => &self.login_throttled,
                503 => &self.login_unavailable,
                400 => &self.login_bad_request,
                _ => &self.login_refused,
            },
        };
        counter.increment(1);
    }

    /// Counts credentials refused before the service was asked: a failed CSRF check
    /// (403) or a malformed header or token.
    pub(crate) fn record_refused_credentials(&self, e: &crate::HttpError) {
        if e.status == 403 {
            self.csrf.increment(1);
        } else {
            self.malformed.increment(1);
        }
    }
}
