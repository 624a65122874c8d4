//! The list of the contract's routes, the one place both integrations mount from.

/// One of the contract's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST login/`
    Login,
    /// `POST refresh/`
    Refresh,
    /// `POST token/refresh/`
    TokenRefresh,
    /// `POST logout/`
    Logout,
    /// `POST logoutall/`
    LogoutAll,
    /// `GET sessions/`
    Sessions,
    /// `DELETE sessions/{id}`
    DeleteSession,
    /// `GET apiaccess/`
    ApiAccess,
    /// `POST apiaccess/`
    CreateApiAccess,
    /// `DELETE apiaccess/`
    DeleteApiAccess,
    /// `GET tokens/`
    Tokens,
    /// `POST tokens/`
    CreateToken,
    /// `DELETE tokens/{id}`
    DeleteToken,
    /// `GET settings/`
    Settings,
    /// `PUT settings/`
    PutSettings,
    /// `POST introspect/`
    Introspect,
    /// `GET auth/` and `HEAD auth/`
    ForwardAuth,
}

impl Endpoint {
    /// Whether the endpoint manages the user's account and credentials (sessions, API
    /// keys, named tokens, settings, logout-all): only an interactive session may call
    /// it, never a named token or an API key (`Durin::authorize_management`: 403).
    pub fn manages_account(self) -> bool {
        matches!(
            self,
            Endpoint::LogoutAll
                | Endpoint::Sessions
                | Endpoint::DeleteSession
                | Endpoint::ApiAccess
                | Endpoint::CreateApiAccess
                | Endpoint::DeleteApiAccess
                | Endpoint::Tokens
                | Endpoint::CreateToken
                | Endpoint::DeleteToken
                | Endpoint::Settings
                | Endpoint::PutSettings
        )
    }
}

/// A route: method, path and the endpoint it serves, with the largest body it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The method, upper case.
    pub method: &'static str,
    /// The path relative to the mount point, with its trailing slash; `{id}` marks the
    /// one path parameter.
    pub path: &'static str,
    /// What it does.
    pub endpoint: Endpoint,
    /// The most body bytes read: `None` reads no body; beyond the limit the answer is
    /// 413 `Request body too large.`
    pub body_limit: Option<usize>,
}

/// Forms and small JSON objects: a login, a refresh token, an introspection request, a
/// named token.
const FORM_LIMIT: usize = 64 * 1024;
/// `PUT settings/`: the service refuses settings over its own limit (16 KiB by
/// default, configurable) with its message; this only bounds what is read to see that.
const SETTINGS_LIMIT: usize = 1024 * 1024;

const fn route(
    method: &'static str,
    path: &'static str,
    endpoint: Endpoint,
    body_limit: Option<usize>,
) -> Route {
    Route {
        method,
        path,
        endpoint,
        body_limit,
    }
}

/// Every endpoint the integrations serve, the path relative to the mount point (the
/// examples use `/api/`). Each is served with and without its trailing slash (`login/`
/// and `login`, `sessions/{id}` and `sessions/{id}/`).
///
/// `durin_axum::endpoints` and `durin_actix::endpoints` are built from this list, and
/// the test of `docs/http-api.md` checks the page lists exactly these, so a route cannot
/// be added without being served and documented.
pub const ROUTES: &[Route] = &[
    route("POST", "login/", Endpoint::Login, Some(FORM_LIMIT)),
    route("POST", "refresh/", Endpoint::Refresh, None),
    route(
        "POST",
        "token/refresh/",
        Endpoint::TokenRefresh,
        Some(FORM_LIMIT),
    ),
    route("POST", "logout/", Endpoint::Logout, None),
    route("POST", "logoutall/", Endpoint::LogoutAll, None),
    route("GET", "sessions/", Endpoint::Sessions, None),
    route("DELETE", "sessions/{id}", Endpoint::DeleteSession, None),
    route("GET", "apiaccess/", Endpoint::ApiAccess, None),
    route("POST", "apiaccess/", Endpoint::CreateApiAccess, None),
    route("DELETE", "apiaccess/", Endpoint::DeleteApiAccess, None),
    route("GET", "tokens/", Endpoint::Tokens, None),
    route("POST", "tokens/", Endpoint::CreateToken, Some(FORM_LIMIT)),
    route("DELETE", "tokens/{id}", Endpoint::DeleteToken, None),
    route("GET", "settings/", Endpoint::Settings, None),
    route(
        "PUT",
        "settings/",
        Endpoint::PutSettings,
        Some(SETTINGS_LIMIT),
    ),
    // Gateways (gateway.rs): RFC 7662 introspection and forward-auth.
    route(
        "POST",
        "introspect/",
        Endpoint::Introspect,
        Some(FORM_LIMIT),
    ),
    route("GET", "auth/", Endpoint::ForwardAuth, None),
    route("HEAD", "auth/", Endpoint::ForwardAuth, None),
];

/// Both forms of a route's path, with a leading slash: `/login` and `/login/`.
pub fn path_forms(path: &str) -> [String; 2] {
    let bare = path.trim_end_matches('/');
    [format!("/{bare}"), format!("/{bare}/")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_has_both_forms() {
        assert_eq!(path_forms("login/"), ["/login", "/login/"]);
        assert_eq!(
            path_forms("sessions/{id}"),
            ["/sessions/{id}", "/sessions/{id}/"]
        );
        for route in ROUTES {
            assert!(!route.path.starts_with('/'), "{route:?}");
            assert!(route.path.ends_with('/') || route.path.ends_with('}'));
        }
    }

    #[test]
    fn only_routes_with_a_body_read_one() {
        for route in ROUTES {
            let reads = matches!(route.method, "POST" | "PUT") && route.body_limit.is_some();
            assert_eq!(route.body_limit.is_some(), reads, "{route:?}");
        }
    }
}
