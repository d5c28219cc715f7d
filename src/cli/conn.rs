//! `ConnOpts`: the connection flags every subcommand that talks to DataRobot takes. They
//! only carry raw values; `config::ConnSettings::resolve` layers them over the environment
//! and the config files.

use std::path::PathBuf;

use crate::config::ConnInputs;
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
