//! `ConnOpts`: the connection flags every subcommand that talks to DataRobot takes. They
//! only carry raw values; `config::ConnSettings::resolve` layers them over the environment
//! and the config files.

use std::path::PathBuf;

use std::time::Duration;

use crate::api::config::{ConnInputs, ConnSettings};
use crate::api::{AutoPace, ClientPolicy};
use crate::secret::Token;
use crate::workflow::apply::RunSettings;

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
        crate::workflow::settings_of(&self.inputs())
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

/// A flag that takes a number or `auto`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Setting<T> {
    /// Found by the pace controller.
    Auto,
    /// Given: a ceiling the controller never passes.
    At(T),
}

/// How fast to go: every command that talks to DataRobot takes these.
#[derive(Clone, Debug, clap::Args)]
pub struct PaceOpts {
    /// Requests per second, all requests together (reads, writes, retries). `auto`: start
    /// at 10/s and find the server's pace (faster while it keeps up, slower on 429s and
    /// when it slows down). A number is a ceiling the automatic pace never passes.
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = parse_rate_setting, allow_negative_numbers = true)]
    pub rate: Setting<f64>,
    /// Requests in flight at once. `auto`: start at 4 and find how many the server
    /// answers without queueing them. A number is a ceiling.
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = parse_concurrency_setting, allow_negative_numbers = true)]
    pub concurrency: Setting<usize>,
    /// The most requests in flight the automatic pace may reach.
    #[arg(long, value_name = "N", default_value = "64", value_parser = parse_concurrency, allow_negative_numbers = true)]
    pub max_concurrency: usize,
    /// The highest rate the automatic pace may reach, in requests per second [default:
    /// none].
    #[arg(long, value_name = "N", value_parser = parse_rate, allow_negative_numbers = true)]
    pub max_rate: Option<f64>,
}

impl Default for PaceOpts {
    fn default() -> Self {
        PaceOpts {
            rate: Setting::Auto,
            concurrency: Setting::Auto,
            max_concurrency: 64,
            max_rate: None,
        }
    }
}

impl PaceOpts {
    /// The client's policy: the automatic pace under every ceiling given.
    pub fn policy(&self) -> ClientPolicy {
        let fixed_rate = match self.rate {
            Setting::At(r) => Some(r),
            Setting::Auto => None,
        };
        let max_rate = [fixed_rate, self.max_rate]
            .into_iter()
            .flatten()
            .fold(crate::api::pace::MAX_RATE, f64::min);
        let auto = AutoPace {
            max_rate,
            start_rate: AutoPace::default().start_rate.min(max_rate),
            max_concurrency: self.workers(),
            ..AutoPace::default()
        };
        ClientPolicy {
            rate_per_sec: max_rate,
            pace: Some(auto),
            ..ClientPolicy::default()
        }
    }

    /// The most requests that can be in flight: callers (planner, executor, verify) start
    /// this many tasks and the client's in-flight limit decides how many send at once.
    pub fn workers(&self) -> usize {
        match self.concurrency {
            Setting::At(n) => n.min(self.max_concurrency),
            Setting::Auto => self.max_concurrency,
        }
    }
}

/// Parses `--rate`: `auto` or a rate (see [`parse_rate`]).
pub fn parse_rate_setting(raw: &str) -> Result<Setting<f64>, String> {
    if raw.trim().eq_ignore_ascii_case("auto") {
        return Ok(Setting::Auto);
    }
    parse_rate(raw)
        .map(Setting::At)
        .map_err(|e| format!("{e}, or auto"))
}

/// Parses `--concurrency`: `auto` or a count (see [`parse_concurrency`]).
pub fn parse_concurrency_setting(raw: &str) -> Result<Setting<usize>, String> {
    if raw.trim().eq_ignore_ascii_case("auto") {
        return Ok(Setting::Auto);
    }
    parse_concurrency(raw)
        .map(Setting::At)
        .map_err(|e| format!("{e}, or auto"))
}

/// Parses a count of requests in flight: a whole number from 1 to 1024.
pub fn parse_concurrency(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!(
            "{raw:?} is not a number of requests in flight between 1 and 1024"
        )),
    }
}

/// Parses `--max-read-age`: seconds (`60`) or a duration (`90s`, `2m`), more than zero
/// and at most an hour.
pub fn parse_read_age(raw: &str) -> Result<Duration, String> {
    let raw_t = raw.trim();
    let parsed = match raw_t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 => Duration::try_from_secs_f64(secs).ok(),
        Ok(_) => None,
        Err(_) => humantime::parse_duration(raw_t).ok(),
    };
    match parsed {
        Some(d) if d > Duration::ZERO && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(format!(
            "{raw:?} is not an age between 1ms and 1h (seconds, or e.g. 90s, 2m)"
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

/// The flags of a run: `apply`, `resume` and `offboard` share them.
#[derive(Debug, clap::Args)]
pub struct RunOpts {
    #[command(flatten)]
    pub conn: ConnOpts,
    #[command(flatten)]
    pub pace: PaceOpts,
    /// Stop (resumably, exit 4) once N entities failed, drifted, were refused by the server
    /// or were gone in this run (partial ones, whose new owner is in place, do not count).
    #[arg(long, value_name = "N", value_parser = parse_max_errors)]
    pub max_errors: Option<u64>,
    /// Let DataRobot e-mail the recipients of project shares (off: sendNotification=false).
    #[arg(long)]
    pub notify: bool,
    /// Do not read each entity back after writing it.
    #[arg(long)]
    pub no_verify: bool,
    /// The report: PATH.csv, PATH.json and PATH.html. [default: beside the journal,
    /// JOURNAL's name with .report.csv, .report.json and .report.html]
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

impl RunOpts {
    /// The run's settings, with the progress display for a terminal, plain lines off one,
    /// and nothing with `-q`.
    pub fn settings(&self, quiet: bool) -> RunSettings {
        RunSettings {
            conn: self.conn.inputs(),
            policy: self.pace.policy(),
            workers: self.pace.workers(),
            max_errors: self.max_errors,
            notify: self.notify,
            verify: !self.no_verify,
            report: self.report.clone(),
            progress: super::progress_kind(quiet),
        }
    }
}

/// Parses `--max-errors`: a whole number of entities, at least 1 (0 would stop before
/// the first entity).
fn parse_max_errors(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{raw:?} is not a number of entities of at least 1")),
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

    #[derive(Debug, Parser)]
    struct PaceCmd {
        #[command(flatten)]
        pace: PaceOpts,
    }

    #[test]
    fn pace_defaults_to_auto_and_numbers_are_ceilings() {
        let cmd = PaceCmd::try_parse_from(["x"]).unwrap();
        assert_eq!(cmd.pace.rate, Setting::Auto);
        assert_eq!(cmd.pace.concurrency, Setting::Auto);
        assert_eq!(cmd.pace.workers(), 64);
        let auto = cmd.pace.policy().pace.unwrap();
        assert_eq!(auto.max_concurrency, 64);
        assert_eq!(auto.start_concurrency, 4);
        assert_eq!(auto.start_rate, 10.0);
        assert_eq!(auto.max_rate, crate::api::pace::MAX_RATE);

        let cmd = PaceCmd::try_parse_from(["x", "--rate", "5", "--concurrency", "8"]).unwrap();
        assert_eq!(cmd.pace.workers(), 8);
        let auto = cmd.pace.policy().pace.unwrap();
        assert_eq!((auto.start_rate, auto.max_rate), (5.0, 5.0));
        let cmd =
            PaceCmd::try_parse_from(["x", "--max-rate", "200", "--max-concurrency", "16"]).unwrap();
        assert_eq!(cmd.pace.workers(), 16);
        assert_eq!(cmd.pace.policy().pace.unwrap().max_rate, 200.0);
        assert!(PaceCmd::try_parse_from(["x", "--rate", "AUTO"]).is_ok());
    }

    #[test]
    fn bad_pace_values_are_refused() {
        for (flag, bad) in [
            ("--rate", "0"),
            ("--rate", "-3"),
            ("--rate", "fast"),
            ("--rate", "1e9"),
            ("--concurrency", "0"),
            ("--concurrency", "-1"),
            ("--concurrency", "2.5"),
            ("--concurrency", "100000"),
            ("--max-concurrency", "0"),
            ("--max-concurrency", "auto"),
            ("--max-rate", "0"),
            ("--max-rate", "nan"),
        ] {
            assert!(
                PaceCmd::try_parse_from(["x", flag, bad]).is_err(),
                "{flag} {bad}"
            );
        }
        for bad in ["0", "-5", "soon", "2d", "0s", "nan"] {
            assert!(parse_read_age(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_read_age("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_read_age("2m"), Ok(Duration::from_secs(120)));
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

    #[test]
    fn max_errors_must_be_at_least_one() {
        assert_eq!(parse_max_errors("3"), Ok(3));
        for bad in ["0", "-1", "x", ""] {
            assert!(parse_max_errors(bad).is_err(), "{bad}");
        }
    }
}
