//! `handover completions SHELL` and `handover man`: the shell completion scripts
//! (clap_complete) and the manual page (clap_mangen), both made from the same clap
//! definitions the command line parses with, so neither can fall behind a new command or
//! flag. Both print to stdout and touch nothing else.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::exit;

/// Options of `handover completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsOpts {
    /// The shell to complete for. Install the script where the shell looks for completions
    /// (README, "Shell completions and the man page").
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Options of `handover man`.
#[derive(Debug, clap::Args)]
pub struct ManOpts {}

/// Runs `handover completions`: prints the completion script for the shell.
pub fn completions(opts: CompletionsOpts) -> anyhow::Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(
        opts.shell,
        &mut super::Opts::command(),
        "handover",
        &mut script,
    );
    print(&script)
}

/// Runs `handover man`: prints the manual page, in roff, on stdout.
pub fn man(_opts: ManOpts) -> anyhow::Result<i32> {
    print(&man_page()?)
}

/// The whole manual in one page: the top command as clap_mangen renders it, then one
/// section per subcommand with its synopsis, description and every flag it takes. One page
/// rather than one per subcommand (as git ships), because the page is printed, not
/// installed by a build script, and one file is what a user can put in place by hand.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut cmd = super::Opts::command();
    // Builds the tree: global flags propagate and every subcommand gets its bin name
    // (`handover plan`), which its synopsis shows.
    cmd.build();
    let top = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    top.render_options_section(&mut page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub
            .get_bin_name()
            .unwrap_or_else(|| sub.get_name())
            .to_uppercase();
        writeln!(page, ".SH \"{name}\"")?;
        let man = clap_mangen::Man::new(sub.clone());
        let mut section = Vec::new();
        man.render_description_section(&mut section)?;
        man.render_synopsis_section(&mut section)?;
        man.render_options_section(&mut section)?;
        // A man page has two levels of heading: the subcommand is the section, and what
        // clap_mangen renders as sections of its own page become subsections of it.
        for line in String::from_utf8_lossy(&section).lines() {
            match line.strip_prefix(".SH ") {
                Some(heading) => writeln!(page, ".SS {}", title_case(heading))?,
                None => writeln!(page, "{line}")?,
            }
        }
    }
    top.render_version_section(&mut page)?;
    Ok(once_preamble(&page))
}

/// Every render call of clap_mangen opens with the same two-line string definition (`Aq`,
/// an apostrophe); a page needs it once, at the top.
fn once_preamble(page: &[u8]) -> Vec<u8> {
    const PREAMBLE: [&str; 2] = [".ie \\n(.g .ds Aq \\(aq", ".el .ds Aq '"];
    let text = String::from_utf8_lossy(page);
    let mut seen = [false; 2];
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(i) = PREAMBLE.iter().position(|p| *p == line)
            && std::mem::replace(&mut seen[i], true)
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// `OPTIONS` → `Options`, for a subsection heading.
fn title_case(heading: &str) -> String {
    let heading = heading.trim_matches('"').to_lowercase();
    let mut chars = heading.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Writes `bytes` to stdout. A reader that went away (`| head`) is not an error.
fn print(bytes: &[u8]) -> anyhow::Result<i32> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(exit::OK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsection_headings_read_as_titles() {
        assert_eq!(title_case("OPTIONS"), "Options");
        assert_eq!(title_case("\"SYNOPSIS\""), "Synopsis");
        assert_eq!(title_case(""), "");
    }
}
