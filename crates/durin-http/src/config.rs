//! The HTTP settings of the integrations: [`HttpConfig`] (keywords, the cookie transport
//! and its CSRF defence, trusted proxies, special clients) and [`CookieConfig`].

/// How the integrations read and answer credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Accepted `Authorization` keywords, matched case-insensitively; the first one is
    /// named in `WWW-Authenticate`. Default `Bearer`, `Token`.
    pub keywords: Vec<String>,
    /// The `realm` of `WWW-Authenticate`. Default `api`.
    pub realm: String,
    /// Cookie transport, off by default.
    pub cookie: Option<CookieConfig>,
    /// Leave the API-access client's session out of `GET sessions/` (default `false`, as
    /// in django-rest-durin).
    pub hide_api_access_sessions: bool,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (see
    /// [`crate::Api::client_address`]). Empty by default: the peer's address is the
    /// client's, and those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The forwarding header the trusted proxies write, the only one read
    /// (`X-Forwarded-For` by default).
    pub forwarded_header: crate::ForwardedHeader,
    /// Accept tokens imported from Django (django-rest-durin and DRF hex tokens, knox
    /// tokens) in the `Authorization` header; off by default. Trade-off: they have no
    /// prefix or checksum, so a well-shaped but wrong one is refused only after the
    /// store was asked (up to two lookups and one per previous key), not before any I/O.
    pub accept_legacy_tokens: bool,
    /// The clients whose tokens may call `POST introspect/` (RFC 7662); empty by
    /// default, so every caller is refused with 403.
    pub introspection_clients: Vec<durin_core::ClientName>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            keywords: vec!["Bearer".to_owned(), "Token".to_owned()],
            realm: "api".to_owned(),
            cookie: None,
            hide_api_access_sessions: false,
            trusted_proxies: Vec::new(),
            forwarded_header: crate::ForwardedHeader::default(),
            accept_legacy_tokens: false,
            introspection_clients: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Sets the accepted keywords (the first is the one named in challenges).
    ///
    /// # Panics
    /// When `keywords` is empty.
    pub fn with_keywords<I, S>(mut self, keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keywords = keywords.into_iter().map(Into::into).collect();
        assert!(!self.keywords.is_empty(), "at least one keyword");
        self
    }

    /// Sets the realm.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Turns the cookie transport on.
    pub fn with_cookie(mut self, cookie: Option<CookieConfig>) -> Self {
        self.cookie = cookie;
        self
    }

    /// Hides (or shows) the API-access session in `GET sessions/`.
    pub fn with_hide_api_access_sessions(mut self, hide: bool) -> Self {
        self.hide_api_access_sessions = hide;
        self
    }

    /// Sets the trusted reverse proxies (CIDRs, e.g. `10.0.0.0/8`, `127.0.0.1/32`).
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = ipnet::IpNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// Sets the forwarding header the trusted proxies write (the default is
    /// `X-Forwarded-For`); the other one is never read.
    pub fn with_forwarded_header(mut self, header: crate::ForwardedHeader) -> Self {
        self.forwarded_header = header;
        self
    }

    /// Accepts (or refuses) legacy tokens imported from Django in the header; see
    /// [`HttpConfig::accept_legacy_tokens`].
    pub fn with_accept_legacy_tokens(mut self, accept: bool) -> Self {
        self.accept_legacy_tokens = accept;
        self
    }

    /// Sets the clients whose tokens may call `POST introspect/`.
    pub fn with_introspection_clients(
        mut self,
        clients: impl IntoIterator<Item = durin_core::ClientName>,
    ) -> Self {
        self.introspection_clients = clients.into_iter().collect();
        self
    }

    /// The keyword named in `WWW-Authenticate`.
    pub fn challenge_keyword(&self) -> &str {
        self.keywords.first().map_or("Bearer", String::as_str)
    }
}

/// The `SameSite` attribute of the token cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict` (default).
    Strict,
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=None` (requires `Secure`).
    None,
}

/// The CSRF defence for cookie-authenticated unsafe methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrfDefence {
    /// The `Origin` header (else `Referer`) must name the request's own `Host` or one of
    /// these trusted origins (`https://app.example.com`). A request with neither header is
    /// refused. This is the default: it needs nothing from the front end.
    Origin {
        /// Extra trusted origins, scheme included.
        trusted: Vec<String>,
    },
}

/// The cookie transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieConfig {
    /// The cookie name. Default `durin_token`.
    pub name: String,
    /// `Secure` (default `true`).
    pub secure: bool,
    /// `SameSite` (default `Strict`).
    pub same_site: SameSite,
    /// `Path` (default `/`).
    pub path: String,
    /// How unsafe methods are protected.
    pub csrf: CsrfDefence,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "durin_token".to_owned(),
            secure: true,
            same_site: SameSite::Strict,
            path: "/".to_owned(),
            csrf: CsrfDefence::Origin {
                trusted: Vec::new(),
            },
        }
    }
}

impl CookieConfig {
    /// Sets `Secure` (turn it off only for plain-HTTP development).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets the cookie name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The `Set-Cookie` value carrying `token` for `max_age` seconds (`None`: a session
    /// cookie).
    pub fn set_cookie(&self, token: &str, max_age: Option<u64>) -> String {
        let mut cookie = format!("{}={}; Path={}; HttpOnly", self.name, token, self.path);
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie.push_str(match self.same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        cookie
    }

    /// The `Set-Cookie` value that deletes the cookie.
    pub fn clear_cookie(&self) -> String {
        let mut cookie = self.set_cookie("", Some(0));
        cookie.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        cookie
    }
}
