//! The `handover` binary: parse the command line, install logging, run, map the outcome to
//! an exit code. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    let opts = handover::cli::parse();
    handover::cli::install_logging(&opts.global);
    let code = match handover::cli::run(opts) {
        Ok(code) => code,
        Err(err) => {
            handover::exit::print_error(&err);
            handover::exit::code_of(&err)
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
