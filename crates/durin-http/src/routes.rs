//! The list of the contract's routes, the one place both integrations mount from.

/// Every endpoint the integrations serve, as `(method, path)`, the path relative to the
/// mount point (the examples use `/api/`). Each is served with and without its trailing
/// slash (`login/` and `login`, `sessions/{id}` and `sessions/{id}/`).
///
/// `durin_axum::endpoints` and `durin_actix::endpoints` are built from this list (an entry
/// they cannot serve panics when the router is built), and the test of `docs/http-api.md`
/// checks the page lists exactly these, so a route cannot be added without being
/// documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "login/"),
    ("POST", "refresh/"),
    ("POST", "token/refresh/"),
    ("POST", "logout/"),
    ("POST", "logoutall/"),
    ("GET", "sessions/"),
    ("DELETE", "sessions/{id}"),
    ("GET", "apiaccess/"),
    ("POST", "apiaccess/"),
    ("DELETE", "apiaccess/"),
    ("GET", "tokens/"),
    ("POST", "tokens/"),
    ("DELETE", "tokens/{id}"),
    ("GET", "settings/"),
    ("PUT", "settings/"),
    // Gateways (gateway.rs): RFC 7662 introspection and forward-auth.
    ("POST", "introspect/"),
    ("GET", "auth/"),
    ("HEAD", "auth/"),
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
        for (_, path) in ROUTES {
            assert!(!path.starts_with('/'), "{path}");
        }
    }
}
