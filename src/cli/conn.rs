//! `ConnOpts`: the connection flags every subcommand that talks to DataRobot takes. They
//! only carry raw values; `config::ConnSettings::resolve` layers them over the environment
//! and the config files.

use std::path::PathBuf;

use crate::api::{Account, Client, ClientPolicy};
use crate::config::{ConnInputs, ConnSettings};
use crate::exit;
use crate::secret::Token;

/// Where DataRobot is and how to log in. Without flags, `DATAROBOT_ENDPOINT` and
/// `DATAROBOT_API_TOKEN`, or the Python client's config file, are used.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConnOpts {
    /// API endpoint, e.g. https://app.datarobot.com/api/v2 [default: from the environment
    /// or the config file].
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// API token. Prefer DATAROBOT_API_TOKEN or the config file: other local users can
    /// read command lines.
    #[arg(long, value_name = "TOKEN", value_parser = parse_token)]
    pub token: Option<Token>,
    /// Config file in the DataRobot Python client's format (drconfig.yaml) [default:
    /// DATAROBOT_CONFIG_FILE, else ~/.config/datarobot/drconfig.yaml].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Allow plain http:// to hosts other than loopback (the token then travels in clear).
    #[arg(long)]
    pub allow_insecure_http: bool,
}

fn parse_token(raw: &str) -> Result<Token, String> {
    let token = Token::new(raw);
    if token.is_empty() {
        Err("the token is empty".to_string())
    } else {
        Ok(token)
    }
}

impl ConnOpts {
    /// The validated settings (flags over environment over files), with the exit code an
    /// error deserves attached.
    pub fn settings(&self) -> anyhow::Result<ConnSettings> {
        ConnSettings::from_process(&self.inputs()).map_err(|e| exit::with_code(e.exit_code(), e))
    }

    /// The raw inputs for `ConnSettings::resolve`.
    pub fn inputs(&self) -> ConnInputs {
        ConnInputs {
            endpoint: self.endpoint.clone(),
            token: self.token.clone(),
            config_file: self.config.clone(),
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

/// Builds the one client for `settings` and runs the preflight. Every command that talks to
/// DataRobot goes through here, so a bad token or endpoint fails before anything else is
/// sent.
pub async fn connect(
    settings: ConnSettings,
    policy: ClientPolicy,
) -> anyhow::Result<(Client, Account)> {
    let client = Client::new(settings, policy).map_err(|e| exit::with_code(e.exit_code(), e))?;
    let account = client
        .preflight()
        .await
        .map_err(|e| exit::with_code(e.exit_code(), e))?;
    Ok((client, account))
}

/// Parses a `--rate`: a finite number of requests per second from 0.01 (one request in
/// 100 s; anything slower would look like a hang) to 10,000.
pub fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.01..=10_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{raw:?} is not a rate between 0.01 and 10000 requests per second"
        )),
    }
}

impl From<ConnOpts> for ConnInputs {
    fn from(opts: ConnOpts) -> ConnInputs {
        ConnInputs {
            endpoint: opts.endpoint,
            token: opts.token,
            config_file: opts.config,
            allow_insecure_http: opts.allow_insecure_http,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        conn: ConnOpts,
    }

    #[test]
    fn rate_must_be_positive_and_finite() {
        assert!(parse_rate("2.5").is_ok());
        for bad in ["0", "-1", "nan", "inf", "10001", "fast", "1e-300", "0.001"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_become_inputs_and_debug_hides_the_token() {
        let cmd = Cmd::try_parse_from([
            "x",
            "--endpoint",
            "https://dr.example.com/api/v2",
            "--token",
            "sekret-tok",
            "--config",
            "/tmp/dr.yaml",
            "--allow-insecure-http",
        ])
        .unwrap();
        assert!(!format!("{cmd:?}").contains("sekret-tok"));
        let inputs: ConnInputs = cmd.conn.into();
        assert_eq!(inputs.token.unwrap().expose(), "sekret-tok");
        assert_eq!(
            inputs.endpoint.as_deref(),
            Some("https://dr.example.com/api/v2")
        );
        assert_eq!(inputs.config_file, Some(PathBuf::from("/tmp/dr.yaml")));
        assert!(inputs.allow_insecure_http);
        assert!(Cmd::try_parse_from(["x", "--token", " "]).is_err());
    }
}
