//! Connection settings: where the DataRobot API is and how to authenticate, with the same
//! variable names, file and keys as DataRobot's official Python client (contract §1.1), so
//! that a machine that already runs the Python client needs no extra setup.
//!
//! Sources, first match wins for the endpoint and token, which must both come from the
//! **same** source:
//!
//! 1. explicit values (`--endpoint`, `--token`), given to us as [`ConnInputs`];
//! 2. the YAML file named by `--config` (a flag, so it ranks with the flags; a named file
//!    that does not exist is an error);
//! 3. the variables `DATAROBOT_ENDPOINT` / `DATAROBOT_API_TOKEN`;
//! 4. the YAML file named by `DATAROBOT_CONFIG_FILE` (ignored when `--config` is given);
//! 5. `~/.config/datarobot/drconfig.yaml`, if it exists.
//!
//! This is flags > environment > config files, as the issue and STYLE.md ask. The Python
//! client differs in one place: it reads a file named by `DATAROBOT_CONFIG_FILE` *instead
//! of* the variables.
//!
//! The other keys (`token_type`, `ssl_verify`, `connect_timeout`) come from the source that
//! gave the endpoint and token; where it does not set one, from the first source that sets
//! it **and sets neither an endpoint nor a token**. A source that named another endpoint
//! and lost is never read for them: a dev `drconfig.yaml` with `ssl_verify: false` does not
//! turn certificate checks off for the production endpoint in the environment. (The Python
//! client falls back per key to the default file; handover does only for a default file
//! that holds no credentials of its own.)
//!
//! Resolution never touches the process environment directly: it takes a lookup function,
//! so tests pass a map and never mutate `std::env`. All variable names live in [`env_vars`].
//! The result, [`ConnSettings`], is validated: the endpoint is normalised (no trailing-slash
//! surprises), HTTPS unless the host is loopback or `allow_insecure_http` is set, a non-empty
//! token, and a readable CA bundle when one is named.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use crate::exit;
use crate::secret::Token;

/// Every environment variable handover reads for its connection, in one place.
pub mod env_vars {
    /// The API endpoint, e.g. `https://app.datarobot.com/api/v2`.
    pub const ENDPOINT: &str = "DATAROBOT_ENDPOINT";
    /// The API token.
    pub const API_TOKEN: &str = "DATAROBOT_API_TOKEN";
    /// A YAML config file to read instead of the environment.
    pub const CONFIG_FILE: &str = "DATAROBOT_CONFIG_FILE";
    /// `no`, `No`, `0`, `false` or `False` turn TLS verification off; anything else keeps it.
    pub const SSL_VERIFY: &str = "DATAROBOT_SSL_VERIFY";
    /// The home directory, for `~` and the default config file.
    pub const HOME: &str = "HOME";
    /// The home directory on Windows, when `HOME` is not set.
    pub const USERPROFILE: &str = "USERPROFILE";
}

/// The default config file, relative to the home directory (the only default location the
/// Python client knows; `XDG_CONFIG_HOME` is not honoured there either).
pub const DEFAULT_CONFIG_RELATIVE: &str = ".config/datarobot/drconfig.yaml";

/// The Python client's connect timeout (contract §1, `DEFAULT_TIMEOUT`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(6050);

/// The Python client's read timeout (contract §1, `DEFAULT_TIMEOUT`).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A function that looks up an environment variable. Production passes
/// [`process_env`]; tests pass a closure over a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Looks a variable up in the process environment. Non-UTF-8 values count as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds a lookup over a fixed map, for tests and for callers that captured the
/// environment once.
pub fn map_env(map: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |name| map.get(name).cloned()
}

/// The raw connection values from the command line, before any resolution. The CLI fills it
/// (see `cli::conn::ConnOpts`); the library never sees clap.
#[derive(Clone, Debug, Default)]
pub struct ConnInputs {
    /// `--endpoint`.
    pub endpoint: Option<String>,
    /// `--token`.
    pub token: Option<Token>,
    /// `--config`: a YAML file in the Python client's format.
    pub config_file: Option<PathBuf>,
    /// `--allow-insecure-http`: permit `http://` to a host that is not loopback.
    pub allow_insecure_http: bool,
}

/// How the token goes into the `Authorization` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenTypeKind {
    /// `Authorization: Token <key>`, the Python client's default.
    #[default]
    Token,
    /// `Authorization: Bearer <token>` (OAuth, or what the Terraform provider sends).
    Bearer,
}

impl TokenTypeKind {
    /// The scheme word in the `Authorization` header.
    pub fn scheme(self) -> &'static str {
        match self {
            TokenTypeKind::Token => "Token",
            TokenTypeKind::Bearer => "Bearer",
        }
    }
}

/// How the server's certificate is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsKind {
    /// The Mozilla root set compiled into the binary (webpki-roots), the same set the
    /// Python client gets from certifi. The OS store is not consulted; an internal CA is
    /// configured with `ssl_verify: /path/to/ca.pem`, exactly as for the Python client.
    #[default]
    BundledRoots,
    /// Only the certificates in this PEM bundle (`ssl_verify: <path>`).
    CaBundle(PathBuf),
    /// No verification at all (`ssl_verify: false`, `DATAROBOT_SSL_VERIFY=false`).
    NoVerify,
}

/// Where a setting came from, for messages such as "endpoint from DATAROBOT_ENDPOINT but
/// token from --token".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SourceKind {
    /// `--endpoint` / `--token`.
    Flags,
    /// The file named by `--config`.
    ConfigFlag(PathBuf),
    /// The file named by `DATAROBOT_CONFIG_FILE`.
    ConfigEnv(PathBuf),
    /// `DATAROBOT_ENDPOINT` / `DATAROBOT_API_TOKEN` / `DATAROBOT_SSL_VERIFY`.
    Env,
    /// `~/.config/datarobot/drconfig.yaml`.
    DefaultFile(PathBuf),
    /// Built-in defaults, or values given directly to [`ConnSettings::new`].
    #[default]
    Builtin,
}

impl SourceKind {
    /// Where `key` (`endpoint`, `token`, …) came from, in words a user can act on.
    pub fn describe_key(&self, key: &str) -> String {
        match self {
            SourceKind::Flags => format!("--{key}"),
            SourceKind::Env => match key {
                "endpoint" => env_vars::ENDPOINT.to_string(),
                "token" => env_vars::API_TOKEN.to_string(),
                "ssl_verify" => env_vars::SSL_VERIFY.to_string(),
                other => format!("the environment ({other})"),
            },
            SourceKind::ConfigFlag(p) => format!("`{key}` in {} (--config)", p.display()),
            SourceKind::ConfigEnv(p) => {
                format!("`{key}` in {} ({})", p.display(), env_vars::CONFIG_FILE)
            }
            SourceKind::DefaultFile(p) => format!("`{key}` in {}", p.display()),
            SourceKind::Builtin => format!("the built-in {key}"),
        }
    }

    /// Whether a problem with this source is the user's command line (exit 2) rather than
    /// their environment or config (exit 1).
    fn is_command_line(&self) -> bool {
        matches!(self, SourceKind::Flags | SourceKind::ConfigFlag(_))
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKind::Flags => f.write_str("--endpoint/--token"),
            SourceKind::ConfigFlag(p) => write!(f, "{} (--config)", p.display()),
            SourceKind::ConfigEnv(p) => write!(f, "{} ({})", p.display(), env_vars::CONFIG_FILE),
            SourceKind::Env => write!(f, "{} and {}", env_vars::ENDPOINT, env_vars::API_TOKEN),
            SourceKind::DefaultFile(p) => write!(f, "{}", p.display()),
            SourceKind::Builtin => f.write_str("built-in settings"),
        }
    }
}

/// Validated connection settings: everything `api::Client` needs to talk to one DataRobot.
#[derive(Clone, Debug)]
pub struct ConnSettings {
    /// The API root, normalised to end in exactly one `/` (contract §1, path joining), so
    /// that relative paths such as `projects/` join under it.
    pub endpoint: Url,
    /// The API token.
    pub token: Token,
    /// `Token` or `Bearer`.
    pub token_type: TokenTypeKind,
    /// Certificate checking.
    pub tls: TlsKind,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest wait for any one read from the server.
    pub read_timeout: Duration,
    /// Where the endpoint and token came from.
    pub source: SourceKind,
}

impl ConnSettings {
    /// Settings for a known endpoint and token with every other value at its default: for
    /// tests, the simulator and embedding. Validates the endpoint like [`resolve`].
    ///
    /// [`resolve`]: ConnSettings::resolve
    pub fn new(
        endpoint: &str,
        token: Token,
        allow_insecure_http: bool,
    ) -> Result<ConnSettings, ConfigError> {
        let source = SourceKind::Builtin;
        let endpoint = normalise_endpoint(endpoint, allow_insecure_http).map_err(|problem| {
            ConfigError::Endpoint {
                value: redact_userinfo(endpoint),
                from: source.describe_key("endpoint"),
                problem,
                source_kind: source.clone(),
            }
        })?;
        if token.is_empty() {
            return Err(ConfigError::EmptyToken {
                from: source.describe_key("token"),
                source_kind: source,
            });
        }
        Ok(ConnSettings {
            endpoint,
            token,
            token_type: TokenTypeKind::Token,
            tls: TlsKind::BundledRoots,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            source,
        })
    }

    /// Resolves settings from the command line and the process environment.
    pub fn from_process(inputs: &ConnInputs) -> Result<ConnSettings, ConfigError> {
        ConnSettings::resolve(inputs, &process_env)
    }

    /// Resolves settings from the command line, an environment lookup and the config files
    /// (see the module documentation for the order).
    pub fn resolve(inputs: &ConnInputs, env: EnvLookup<'_>) -> Result<ConnSettings, ConfigError> {
        let env_value = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = env_value(env_vars::HOME).or_else(|| env_value(env_vars::USERPROFILE));
        let home = home.as_deref().map(Path::new);

        let mut layers: Vec<Layer> = Vec::new();

        // 1. Flags.
        layers.push(Layer {
            source: SourceKind::Flags,
            endpoint: inputs.endpoint.clone().filter(|e| !e.trim().is_empty()),
            token: inputs.token.clone().filter(|t| !t.is_empty()),
            ..Layer::default()
        });

        // 2. The file named by --config (a flag, so above the environment); 3. the
        // environment; 4. the file named by DATAROBOT_CONFIG_FILE. The issue orders
        // flags > environment > config files; the Python client would read a file named by
        // DATAROBOT_CONFIG_FILE before the variables, which README.md notes.
        if let Some(path) = &inputs.config_file {
            let path = expand_tilde(path, home);
            layers.push(read_layer(
                path.clone(),
                SourceKind::ConfigFlag(path),
                true,
            )?);
        }
        layers.push(env_layer(&env_value));
        if inputs.config_file.is_none()
            && let Some(path) = env_value(env_vars::CONFIG_FILE)
        {
            let path = expand_tilde(Path::new(&path), home);
            layers.push(read_layer(path.clone(), SourceKind::ConfigEnv(path), true)?);
        }

        // 5. The default file, when it exists.
        if let Some(home) = home {
            let path = home.join(DEFAULT_CONFIG_RELATIVE);
            if path.exists() {
                layers.push(read_layer(
                    path.clone(),
                    SourceKind::DefaultFile(path),
                    false,
                )?);
            }
        }

        let (endpoint, token, source, winner) = pick_credentials(&layers)?;
        // The other keys never come from a layer that lost on the endpoint and token: a
        // dev config's `ssl_verify: false` must not switch certificate checks off for the
        // production endpoint the environment names (issue 20).
        let settings_layers = settings_layers(&layers, winner);
        let layers = settings_layers.as_slice();
        let endpoint_value = endpoint;
        let endpoint =
            normalise_endpoint(&endpoint_value, inputs.allow_insecure_http).map_err(|problem| {
                ConfigError::Endpoint {
                    value: redact_userinfo(&endpoint_value),
                    from: source.describe_key("endpoint"),
                    problem,
                    source_kind: source.clone(),
                }
            })?;

        let token_type = match first(layers, |l| l.token_type.as_ref()) {
            None => TokenTypeKind::Token,
            Some((layer, value)) => {
                parse_token_type(value).ok_or_else(|| ConfigError::BadValue {
                    key: "token_type",
                    from: layer.source.describe_key("token_type"),
                    reason: format!("{value:?} is neither Token nor Bearer"),
                    source_kind: layer.source.clone(),
                })?
            }
        };

        let tls = match first(layers, |l| l.ssl_verify.as_ref()) {
            None | Some((_, SslVerify::Bool(true))) => TlsKind::BundledRoots,
            Some((_, SslVerify::Bool(false))) => TlsKind::NoVerify,
            Some((layer, SslVerify::Path(p))) => {
                let path = expand_tilde(Path::new(p), home);
                if !path.is_file() {
                    return Err(ConfigError::CaBundle {
                        path,
                        from: layer.source.describe_key("ssl_verify"),
                        source_kind: layer.source.clone(),
                    });
                }
                TlsKind::CaBundle(path)
            }
        };

        let connect_timeout = match first(layers, |l| l.connect_timeout.as_ref()) {
            None => DEFAULT_CONNECT_TIMEOUT,
            Some((layer, secs)) => {
                if !(secs.is_finite() && *secs > 0.0 && *secs <= 3600.0) {
                    return Err(ConfigError::BadValue {
                        key: "connect_timeout",
                        from: layer.source.describe_key("connect_timeout"),
                        reason: format!("{secs} is not a number of seconds in (0, 3600]"),
                        source_kind: layer.source.clone(),
                    });
                }
                Duration::from_secs_f64(*secs)
            }
        };

        Ok(ConnSettings {
            endpoint,
            token,
            token_type,
            tls,
            connect_timeout,
            read_timeout: DEFAULT_READ_TIMEOUT,
            source,
        })
    }

    /// The endpoint's path, e.g. `/api/v2/`.
    pub fn api_path(&self) -> &str {
        self.endpoint.path()
    }

    /// Whether the endpoint's path ends in `/api/v2/`, which every DataRobot endpoint does.
    pub fn looks_like_api_v2(&self) -> bool {
        self.endpoint
            .path()
            .trim_end_matches('/')
            .ends_with("/api/v2")
    }
}

/// One source's values, before validation.
#[derive(Debug, Default)]
struct Layer {
    source: SourceKind,
    endpoint: Option<String>,
    token: Option<Token>,
    token_type: Option<String>,
    ssl_verify: Option<SslVerify>,
    connect_timeout: Option<f64>,
}

/// `ssl_verify`: a boolean, or a path to a CA bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SslVerify {
    Bool(bool),
    Path(String),
}

/// The keys of `drconfig.yaml` handover reads; any other key is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileConfig {
    endpoint: Option<String>,
    token: Option<String>,
    token_type: Option<String>,
    ssl_verify: Option<SslVerify>,
    connect_timeout: Option<f64>,
}

/// Reads one config file into a layer. `source` says which file it is (and so how a
/// problem is reported); `must_exist` is true for files the user named.
fn read_layer(path: PathBuf, source: SourceKind, must_exist: bool) -> Result<Layer, ConfigError> {
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(Layer {
                source,
                ..Layer::default()
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::FileMissing {
                named_by: match &source {
                    SourceKind::ConfigFlag(_) => "--config".to_string(),
                    _ => env_vars::CONFIG_FILE.to_string(),
                },
                path,
                source_kind: source,
            });
        }
        Err(e) => {
            return Err(ConfigError::FileRead {
                path,
                source: e,
                source_kind: source,
            });
        }
    };
    let file = parse_file(&text).map_err(|e| ConfigError::Yaml {
        line: e.location().map(|l| l.line()),
        column: e.location().map(|l| l.column()),
        path: path.clone(),
        source: e,
        source_kind: source.clone(),
    })?;
    Ok(Layer {
        source,
        endpoint: file.endpoint.filter(|e| !e.trim().is_empty()),
        token: file.token.map(Token::new).filter(|t| !t.is_empty()),
        token_type: file.token_type,
        ssl_verify: file.ssl_verify,
        connect_timeout: file.connect_timeout,
    })
}

/// Parses a config file. A file holding only comments or nothing is an empty config.
fn parse_file(text: &str) -> Result<FileConfig, serde_yaml_ng::Error> {
    match serde_yaml_ng::from_str::<FileConfig>(text) {
        Ok(file) => Ok(file),
        Err(e) => match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
            Ok(serde_yaml_ng::Value::Null) => Ok(FileConfig::default()),
            _ => Err(e),
        },
    }
}

fn env_layer(env: &dyn Fn(&str) -> Option<String>) -> Layer {
    Layer {
        source: SourceKind::Env,
        endpoint: env(env_vars::ENDPOINT),
        token: env(env_vars::API_TOKEN)
            .map(Token::new)
            .filter(|t| !t.is_empty()),
        ssl_verify: env(env_vars::SSL_VERIFY)
            .map(|v| SslVerify::Bool(!matches!(v.as_str(), "no" | "No" | "0" | "false" | "False"))),
        ..Layer::default()
    }
}

/// The first layer that sets a key, with the value.
fn first<'a, T>(
    layers: &'a [&'a Layer],
    get: impl Fn(&'a Layer) -> Option<&'a T>,
) -> Option<(&'a Layer, &'a T)> {
    layers.iter().find_map(|l| get(l).map(|v| (*l, v)))
}

/// The layers `token_type`, `ssl_verify` and `connect_timeout` may come from, in the order
/// they are asked: the one that gave the endpoint and token (`winner`), then, in rank
/// order, those that set neither an endpoint nor a token (`DATAROBOT_SSL_VERIFY` beside
/// `--endpoint`/`--token`, a config file that holds only `ssl_verify`). A layer that set
/// an endpoint or a token and lost is never asked: its settings were meant for its own
/// server.
fn settings_layers(layers: &[Layer], winner: usize) -> Vec<&Layer> {
    let mut out = vec![&layers[winner]];
    out.extend(
        layers
            .iter()
            .enumerate()
            .filter(|(i, l)| *i != winner && l.endpoint.is_none() && l.token.is_none())
            .map(|(_, l)| l),
    );
    out
}

/// The endpoint and token, both from the first layer that sets either, with that layer's
/// source and position.
fn pick_credentials(layers: &[Layer]) -> Result<(String, Token, SourceKind, usize), ConfigError> {
    let Some(pos) = layers
        .iter()
        .position(|l| l.endpoint.is_some() || l.token.is_some())
    else {
        return Err(ConfigError::MissingCredentials);
    };
    let layer = &layers[pos];
    match (&layer.endpoint, &layer.token) {
        (Some(e), Some(t)) => Ok((e.clone(), t.clone(), layer.source.clone(), pos)),
        (Some(_), None) | (None, Some(_)) => {
            let (have, missing) = if layer.endpoint.is_some() {
                ("endpoint", "token")
            } else {
                ("token", "endpoint")
            };
            let elsewhere = layers[pos + 1..].iter().find(|l| match missing {
                "token" => l.token.is_some(),
                _ => l.endpoint.is_some(),
            });
            match elsewhere {
                Some(other) => {
                    let (endpoint_src, token_src) = if have == "endpoint" {
                        (&layer.source, &other.source)
                    } else {
                        (&other.source, &layer.source)
                    };
                    Err(ConfigError::MixedSources {
                        endpoint_from: endpoint_src.describe_key("endpoint"),
                        token_from: token_src.describe_key("token"),
                        source_kind: layer.source.clone(),
                    })
                }
                None => Err(ConfigError::Incomplete {
                    have,
                    missing,
                    from: layer.source.describe_key(have),
                    source_kind: layer.source.clone(),
                }),
            }
        }
        (None, None) => Err(ConfigError::MissingCredentials),
    }
}

fn parse_token_type(value: &str) -> Option<TokenTypeKind> {
    match value.trim().to_ascii_lowercase().as_str() {
        "token" => Some(TokenTypeKind::Token),
        "bearer" => Some(TokenTypeKind::Bearer),
        _ => None,
    }
}

/// Expands a leading `~` to the home directory, as the Python client does for
/// `DATAROBOT_CONFIG_FILE`.
fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return path.to_path_buf();
    };
    match path.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// What is wrong with an endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointProblem {
    /// Not a URL at all.
    #[error("not a URL ({0})")]
    Unparsable(String),
    /// A scheme other than http/https.
    #[error("scheme {0:?} is not https")]
    Scheme(String),
    /// `http://` to a host that is not loopback.
    #[error(
        "plain http is allowed only to loopback hosts; use https, or pass --allow-insecure-http"
    )]
    InsecureHttp,
    /// No host.
    #[error("no host")]
    NoHost,
    /// `user:password@` in the URL (it would end up in logs).
    #[error("credentials in the URL are not allowed; use the token settings")]
    Userinfo,
    /// A query or fragment, which relative joins would drop silently.
    #[error("a query or fragment is not allowed")]
    QueryOrFragment,
}

/// Validates and normalises an endpoint: `https` (or `http` to loopback, or anywhere when
/// `allow_insecure_http`), a host, no credentials, no query; the path loses its trailing
/// slashes and gains exactly one, as the Python client does (contract §1).
pub fn normalise_endpoint(raw: &str, allow_insecure_http: bool) -> Result<Url, EndpointProblem> {
    let mut url = Url::parse(raw.trim()).map_err(|e| EndpointProblem::Unparsable(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !allow_insecure_http && !is_loopback(&url) {
                return Err(EndpointProblem::InsecureHttp);
            }
        }
        other => return Err(EndpointProblem::Scheme(other.to_string())),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(EndpointProblem::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointProblem::Userinfo);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EndpointProblem::QueryOrFragment);
    }
    let path = format!("{}/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// Whether two endpoints (as recorded in plans and journals, or configured) name the same
/// API root, compared normalised.
pub fn same_endpoint(a: &str, b: &str) -> bool {
    match (normalise_endpoint(a, true), normalise_endpoint(b, true)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Whether the URL's host is loopback: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Removes `user:password@` from a URL-like string before it goes into a message.
fn redact_userinfo(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => raw.trim().to_string(),
    }
}

/// A connection setting that could not be resolved or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No source gave an endpoint or a token.
    #[error(
        "no DataRobot endpoint and token configured: pass --endpoint and --token, set {} and {}, \
         or write {}",
        env_vars::ENDPOINT,
        env_vars::API_TOKEN,
        "~/".to_string() + DEFAULT_CONFIG_RELATIVE
    )]
    MissingCredentials,
    /// The first source gave only one of endpoint and token, and no other source gave the
    /// other.
    #[error(
        "{have} from {from}, but no {missing} there: the endpoint and token must come from the same place"
    )]
    Incomplete {
        have: &'static str,
        missing: &'static str,
        from: String,
        source_kind: SourceKind,
    },
    /// Endpoint and token came from different sources.
    #[error(
        "endpoint from {endpoint_from} but token from {token_from}: both must come from the same place"
    )]
    MixedSources {
        endpoint_from: String,
        token_from: String,
        source_kind: SourceKind,
    },
    /// A config file named explicitly does not exist.
    #[error("config file {} (named by {named_by}) does not exist", path.display())]
    FileMissing {
        path: PathBuf,
        named_by: String,
        source_kind: SourceKind,
    },
    /// A config file could not be read.
    #[error("cannot read config file {}", path.display())]
    FileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
        source_kind: SourceKind,
    },
    /// A config file is not valid YAML, or a key has the wrong type.
    #[error("{}{}: invalid config file", path.display(), match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    })]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        #[source]
        source: serde_yaml_ng::Error,
        source_kind: SourceKind,
    },
    /// A key has a value handover cannot use.
    #[error("invalid {key} from {from}: {reason}")]
    BadValue {
        key: &'static str,
        from: String,
        reason: String,
        source_kind: SourceKind,
    },
    /// The endpoint is not an acceptable URL.
    #[error("invalid endpoint {value:?} from {from}: {problem}")]
    Endpoint {
        value: String,
        from: String,
        problem: EndpointProblem,
        source_kind: SourceKind,
    },
    /// The token is empty.
    #[error("empty token from {from}")]
    EmptyToken {
        from: String,
        source_kind: SourceKind,
    },
    /// `ssl_verify` names a CA bundle that does not exist.
    #[error("CA bundle {} (ssl_verify from {from}) does not exist", path.display())]
    CaBundle {
        path: PathBuf,
        from: String,
        source_kind: SourceKind,
    },
}

impl ConfigError {
    /// The process exit code this error deserves: [`exit::INVALID_INPUT`] when the bad
    /// value came from the command line (a flag, or the file `--config` names), else
    /// [`exit::FATAL`] (the environment or a config file the user did not name just now).
    pub fn exit_code(&self) -> i32 {
        let source = match self {
            ConfigError::MissingCredentials => return exit::FATAL,
            ConfigError::Incomplete { source_kind, .. }
            | ConfigError::MixedSources { source_kind, .. }
            | ConfigError::FileMissing { source_kind, .. }
            | ConfigError::FileRead { source_kind, .. }
            | ConfigError::Yaml { source_kind, .. }
            | ConfigError::BadValue { source_kind, .. }
            | ConfigError::Endpoint { source_kind, .. }
            | ConfigError::EmptyToken { source_kind, .. }
            | ConfigError::CaBundle { source_kind, .. } => source_kind,
        };
        if source.is_command_line() {
            exit::INVALID_INPUT
        } else {
            exit::FATAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        home: tempfile::TempDir,
        vars: HashMap<String, String>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let home = tempfile::tempdir().unwrap();
            let mut vars = HashMap::new();
            vars.insert(
                env_vars::HOME.to_string(),
                home.path().display().to_string(),
            );
            Fixture { home, vars }
        }

        fn set(&mut self, k: &str, v: &str) -> &mut Self {
            self.vars.insert(k.to_string(), v.to_string());
            self
        }

        fn file(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.home.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            p
        }

        fn default_file(&self, text: &str) -> PathBuf {
            self.file(DEFAULT_CONFIG_RELATIVE, text)
        }

        fn resolve(&self, inputs: &ConnInputs) -> Result<ConnSettings, ConfigError> {
            let vars = self.vars.clone();
            ConnSettings::resolve(inputs, &map_env(vars))
        }
    }

    fn flags(endpoint: Option<&str>, token: Option<&str>) -> ConnInputs {
        ConnInputs {
            endpoint: endpoint.map(str::to_string),
            token: token.map(Token::new),
            ..ConnInputs::default()
        }
    }

    #[test]
    fn flags_win_over_everything() {
        let mut f = Fixture::new();
        f.set(env_vars::ENDPOINT, "https://env.example.com/api/v2")
            .set(env_vars::API_TOKEN, "env-token");
        f.default_file("endpoint: https://file.example.com/api/v2\ntoken: file-token\n");
        let s = f
            .resolve(&flags(
                Some("https://flag.example.com/api/v2///"),
                Some("flag-token"),
            ))
            .unwrap();
        assert_eq!(s.endpoint.as_str(), "https://flag.example.com/api/v2/");
        assert_eq!(s.token.expose(), "flag-token");
        assert_eq!(s.source, SourceKind::Flags);
        assert_eq!(s.token_type, TokenTypeKind::Token);
        assert_eq!(s.tls, TlsKind::BundledRoots);
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert!(s.looks_like_api_v2());
    }

    #[test]
    fn environment_when_no_flags_and_no_named_file() {
        let mut f = Fixture::new();
        f.set(env_vars::ENDPOINT, "https://env.example.com/api/v2")
            .set(env_vars::API_TOKEN, "env-token")
            .set(env_vars::SSL_VERIFY, "False");
        f.default_file("endpoint: https://file.example.com/api/v2\ntoken: file-token\n");
        let s = f.resolve(&ConnInputs::default()).unwrap();
        assert_eq!(s.endpoint.as_str(), "https://env.example.com/api/v2/");
        assert_eq!(s.token.expose(), "env-token");
        assert_eq!(s.source, SourceKind::Env);
        assert_eq!(s.tls, TlsKind::NoVerify);
    }

    #[test]
    fn ssl_verify_variable_is_false_only_for_the_python_spellings() {
        for (value, tls) in [
            ("no", TlsKind::NoVerify),
            ("No", TlsKind::NoVerify),
            ("0", TlsKind::NoVerify),
            ("false", TlsKind::NoVerify),
            ("False", TlsKind::NoVerify),
            ("FALSE", TlsKind::BundledRoots),
            ("yes", TlsKind::BundledRoots),
            ("/some/path", TlsKind::BundledRoots),
        ] {
            let mut f = Fixture::new();
            f.set(env_vars::ENDPOINT, "https://e/api/v2")
                .set(env_vars::API_TOKEN, "t")
                .set(env_vars::SSL_VERIFY, value);
            assert_eq!(
                f.resolve(&ConnInputs::default()).unwrap().tls,
                tls,
                "{value}"
            );
        }
    }

    #[test]
    fn a_named_file_beats_the_environment_as_in_the_python_client() {
        let mut f = Fixture::new();
        f.set(env_vars::ENDPOINT, "https://env.example.com/api/v2")
            .set(env_vars::API_TOKEN, "env-token");
        let path = f.file(
            "custom.yaml",
            "endpoint: https://named.example.com/api/v2\ntoken: named-token\n\
             token_type: Bearer\nconnect_timeout: 12\nmax_retries: 3\nsomething_else: [1, 2]\n",
        );
        let inputs = ConnInputs {
            config_file: Some(path.clone()),
            ..ConnInputs::default()
        };
        let s = f.resolve(&inputs).unwrap();
        assert_eq!(s.endpoint.as_str(), "https://named.example.com/api/v2/");
        assert_eq!(s.token.expose(), "named-token");
        assert_eq!(s.token_type, TokenTypeKind::Bearer);
        assert_eq!(s.connect_timeout, Duration::from_secs(12));
        assert_eq!(s.source, SourceKind::ConfigFlag(path));
    }

    #[test]
    fn config_file_variable_with_tilde() {
        let mut f = Fixture::new();
        f.file(
            "dr/team.yaml",
            "endpoint: https://team.example.com/api/v2\ntoken: t\n",
        );
        f.set(env_vars::CONFIG_FILE, "~/dr/team.yaml");
        let s = f.resolve(&ConnInputs::default()).unwrap();
        assert_eq!(s.endpoint.as_str(), "https://team.example.com/api/v2/");
        assert_eq!(
            s.source,
            SourceKind::ConfigEnv(f.home.path().join("dr/team.yaml"))
        );
    }

    #[test]
    fn default_file_and_per_key_fallback() {
        let mut f = Fixture::new();
        let ca = f.file("ca.pem", "not checked here");
        f.default_file(&format!(
            "endpoint: https://file.example.com/api/v2\ntoken: file-token\nssl_verify: {}\n",
            ca.display()
        ));
        let s = f.resolve(&ConnInputs::default()).unwrap();
        assert_eq!(s.token.expose(), "file-token");
        assert!(matches!(s.source, SourceKind::DefaultFile(_)));
        assert_eq!(s.tls, TlsKind::CaBundle(ca.clone()));

        // A default file that holds only settings still gives them to the environment's
        // credentials: it named no other server.
        f.default_file(&format!(
            "ssl_verify: {}\ntoken_type: Bearer\n",
            ca.display()
        ));
        f.set(env_vars::ENDPOINT, "https://env.example.com/api/v2")
            .set(env_vars::API_TOKEN, "env-token");
        let s = f.resolve(&ConnInputs::default()).unwrap();
        assert_eq!(s.token.expose(), "env-token");
        assert_eq!(s.tls, TlsKind::CaBundle(ca));
        assert_eq!(s.token_type, TokenTypeKind::Bearer);
    }

    #[test]
    fn ssl_verify_from_a_config_that_lost_on_the_endpoint_is_not_used() {
        // Issue 20: drconfig.yaml holds a dev endpoint, token and `ssl_verify: false`; the
        // environment names production. Production's certificate is checked.
        let mut f = Fixture::new();
        f.default_file(
            "endpoint: https://dev.example.com/api/v2\ntoken: dev-token\n\
             ssl_verify: false\ntoken_type: Bearer\nconnect_timeout: 99\n",
        );
        f.set(env_vars::ENDPOINT, "https://prod.example.com/api/v2")
            .set(env_vars::API_TOKEN, "prod-token");
        let s = f.resolve(&ConnInputs::default()).unwrap();
        assert_eq!(s.endpoint.as_str(), "https://prod.example.com/api/v2/");
        assert_eq!(s.tls, TlsKind::BundledRoots);
        assert_eq!(s.token_type, TokenTypeKind::Token);
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);

        // The same with a file named by DATAROBOT_CONFIG_FILE under the flags.
        let mut f = Fixture::new();
        f.file(
            "dev.yaml",
            "endpoint: https://dev.example.com/api/v2\ntoken: dev-token\nssl_verify: false\n",
        );
        f.set(env_vars::CONFIG_FILE, "~/dev.yaml");
        let s = f
            .resolve(&flags(Some("https://prod.example.com/api/v2"), Some("p")))
            .unwrap();
        assert_eq!(s.tls, TlsKind::BundledRoots);

        // The environment's DATAROBOT_SSL_VERIFY still applies to the flags' credentials
        // when the environment names no endpoint of its own, and the winning file's own
        // `ssl_verify` applies to its own endpoint.
        let mut f = Fixture::new();
        f.set(env_vars::SSL_VERIFY, "false");
        let s = f
            .resolve(&flags(Some("https://lab.example.com/api/v2"), Some("p")))
            .unwrap();
        assert_eq!(s.tls, TlsKind::NoVerify);
        f.set(env_vars::ENDPOINT, "https://other.example.com/api/v2")
            .set(env_vars::API_TOKEN, "o");
        let s = f
            .resolve(&flags(Some("https://lab.example.com/api/v2"), Some("p")))
            .unwrap();
        assert_eq!(s.tls, TlsKind::BundledRoots);
        let f = Fixture::new();
        f.default_file("endpoint: https://dev.example.com/api/v2\ntoken: d\nssl_verify: false\n");
        assert_eq!(
            f.resolve(&ConnInputs::default()).unwrap().tls,
            TlsKind::NoVerify
        );
    }

    #[test]
    fn endpoint_and_token_from_different_places_is_an_error_naming_both() {
        let mut f = Fixture::new();
        f.set(env_vars::API_TOKEN, "env-token");
        let err = f
            .resolve(&flags(Some("https://flag.example.com/api/v2"), None))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::MixedSources { .. }), "{err:?}");
        assert!(text.contains("--endpoint"), "{text}");
        assert!(text.contains(env_vars::API_TOKEN), "{text}");
        assert_eq!(err.exit_code(), exit::INVALID_INPUT);

        let mut f = Fixture::new();
        f.set(env_vars::ENDPOINT, "https://env.example.com/api/v2");
        let default = f.default_file("token: file-token\n");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(env_vars::ENDPOINT), "{text}");
        assert!(text.contains(&default.display().to_string()), "{text}");
        assert_eq!(err.exit_code(), exit::FATAL);
    }

    #[test]
    fn endpoints_compare_normalised() {
        let ours = "https://dr.example.com/api/v2";
        assert!(same_endpoint("https://dr.example.com/api/v2/", ours));
        assert!(same_endpoint("https://DR.example.com/api/v2", ours));
        assert!(!same_endpoint("https://other.example.com/api/v2", ours));
        assert!(!same_endpoint("not a url", ours));
    }

    #[test]
    fn half_a_pair_and_nothing_at_all() {
        let mut f = Fixture::new();
        f.set(env_vars::ENDPOINT, "https://env.example.com/api/v2");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Incomplete {
                    missing: "token",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(env_vars::ENDPOINT));

        let err = Fixture::new().resolve(&ConnInputs::default()).unwrap_err();
        assert!(matches!(err, ConfigError::MissingCredentials));
        assert_eq!(err.exit_code(), exit::FATAL);
        assert!(err.to_string().contains(env_vars::API_TOKEN));
    }

    #[test]
    fn a_named_file_that_is_missing_is_an_error_naming_it() {
        let f = Fixture::new();
        let path = f.home.path().join("nope.yaml");
        let err = f
            .resolve(&ConnInputs {
                config_file: Some(path.clone()),
                ..ConnInputs::default()
            })
            .unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("--config"), "{err}");
        assert_eq!(err.exit_code(), exit::INVALID_INPUT);

        let mut f = Fixture::new();
        f.set(env_vars::CONFIG_FILE, "/definitely/not/here.yaml");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        assert!(
            err.to_string().contains("/definitely/not/here.yaml"),
            "{err}"
        );
        assert!(err.to_string().contains(env_vars::CONFIG_FILE), "{err}");
        assert_eq!(err.exit_code(), exit::FATAL);
    }

    #[test]
    fn bad_yaml_names_the_file_and_line() {
        let f = Fixture::new();
        let path = f.default_file("endpoint: https://x/api/v2\ntoken: [unclosed\n");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&format!("{}:", path.display())), "{text}");
        assert!(
            matches!(err, ConfigError::Yaml { line: Some(_), .. }),
            "{err:?}"
        );

        // A wrong type is reported with its line too.
        let f = Fixture::new();
        f.default_file("endpoint: https://x/api/v2\ntoken: t\nconnect_timeout: soon\n");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        assert!(
            matches!(err, ConfigError::Yaml { line: Some(3), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn empty_or_comment_only_files_are_empty_configs() {
        let mut f = Fixture::new();
        f.default_file("# nothing yet\n");
        f.set(env_vars::ENDPOINT, "https://e/api/v2")
            .set(env_vars::API_TOKEN, "t");
        assert!(f.resolve(&ConnInputs::default()).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        let f = Fixture::new();
        f.default_file("endpoint: https://e/api/v2\ntoken: t\ntoken_type: Basic\n");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        assert!(err.to_string().contains("token_type"), "{err}");

        let f = Fixture::new();
        f.default_file("endpoint: https://e/api/v2\ntoken: t\nconnect_timeout: -1\n");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        assert!(err.to_string().contains("connect_timeout"), "{err}");

        let f = Fixture::new();
        f.default_file("endpoint: https://e/api/v2\ntoken: t\nssl_verify: /no/such/ca.pem\n");
        let err = f.resolve(&ConnInputs::default()).unwrap_err();
        assert!(err.to_string().contains("/no/such/ca.pem"), "{err}");

        let f = Fixture::new();
        f.default_file("endpoint: https://e/api/v2\ntoken: t\nssl_verify: false\n");
        assert_eq!(
            f.resolve(&ConnInputs::default()).unwrap().tls,
            TlsKind::NoVerify
        );
    }

    #[test]
    fn https_required_except_for_loopback() {
        for ok in [
            "https://dr.example.com/api/v2",
            "http://localhost:8080/api/v2",
            "http://LOCALHOST/api/v2",
            "http://127.0.0.1:1234/api/v2",
            "http://127.9.8.7/api/v2",
            "http://[::1]:99/api/v2",
        ] {
            assert!(normalise_endpoint(ok, false).is_ok(), "{ok}");
        }
        for (bad, problem) in [
            (
                "http://dr.example.com/api/v2",
                EndpointProblem::InsecureHttp,
            ),
            ("http://10.0.0.1/api/v2", EndpointProblem::InsecureHttp),
            (
                "http://localhost.evil.com/api/v2",
                EndpointProblem::InsecureHttp,
            ),
            (
                "https://dr.example.com/api/v2?x=1",
                EndpointProblem::QueryOrFragment,
            ),
            (
                "https://u:p@dr.example.com/api/v2",
                EndpointProblem::Userinfo,
            ),
        ] {
            assert_eq!(normalise_endpoint(bad, false), Err(problem), "{bad}");
        }
        assert!(matches!(
            normalise_endpoint("ftp://x/api/v2", true),
            Err(EndpointProblem::Scheme(_))
        ));
        assert!(matches!(
            normalise_endpoint("dr.example.com/api/v2", false),
            Err(EndpointProblem::Unparsable(_))
        ));
        assert!(normalise_endpoint("http://dr.example.com/api/v2", true).is_ok());

        // Through resolve: the flag is named, the exit code is 2, credentials are not echoed.
        let f = Fixture::new();
        let err = f
            .resolve(&flags(Some("http://dr.example.com/api/v2"), Some("t")))
            .unwrap_err();
        assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
        assert_eq!(err.exit_code(), exit::INVALID_INPUT);
        let err = f
            .resolve(&flags(
                Some("https://me:pw@dr.example.com/api/v2"),
                Some("t"),
            ))
            .unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        let mut inputs = flags(Some("http://dr.example.com/api/v2"), Some("t"));
        inputs.allow_insecure_http = true;
        assert!(f.resolve(&inputs).is_ok());
    }

    #[test]
    fn endpoint_normalisation_handles_trailing_slashes() {
        for (raw, norm) in [
            (
                "https://x.example.com/api/v2",
                "https://x.example.com/api/v2/",
            ),
            (
                "https://x.example.com/api/v2/",
                "https://x.example.com/api/v2/",
            ),
            (
                "https://x.example.com/api/v2///",
                "https://x.example.com/api/v2/",
            ),
            (
                "  https://x.example.com/api/v2 ",
                "https://x.example.com/api/v2/",
            ),
            ("https://x.example.com", "https://x.example.com/"),
        ] {
            assert_eq!(
                normalise_endpoint(raw, false).unwrap().as_str(),
                norm,
                "{raw}"
            );
        }
    }

    #[test]
    fn settings_debug_hides_the_token() {
        let mut f = Fixture::new();
        f.set(env_vars::ENDPOINT, "https://e/api/v2")
            .set(env_vars::API_TOKEN, "tok-XYZ-987");
        let s = f.resolve(&ConnInputs::default()).unwrap();
        assert!(!format!("{s:?}").contains("tok-XYZ-987"));
        assert!(
            !format!(
                "{:?}",
                ConnInputs {
                    token: Some(Token::new("tok-XYZ-987")),
                    ..ConnInputs::default()
                }
            )
            .contains("tok-XYZ-987")
        );
    }
}
