//! `mcpauth completions`: the shell completion script, generated from the command line's own
//! definition so that it never falls behind a new flag.

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell;
use mcpauth::Result;

use crate::cli::Cli;

pub fn completions(shell: Shell) -> Result<()> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "mcpauth", &mut out);
    out.flush()?;
    Ok(())
}
