//! The command line: argv → the global options and a typed [`Command`], with no I/O.
//! This file owns the global options and the first word; each command group's file parses
//! the rest with the same `lexopt::Parser`.

use std::ffi::OsString;

use lexopt::ValueExt;
use lexopt::{Arg, Parser};

use crate::commands::{self, Command, Options, HELP, TREE};
use crate::error::{Error, Result};
use crate::output::{ColorChoice, Selection};

/// Parse the arguments (without the program name): the global options seen, and the
/// command or why there is none. `-h`/`--help` and `--version` win over everything else on
/// the line, so help is shown even when other arguments are wrong; `--json` counts even
/// when the line fails before reaching it, so the error is JSON too.
pub fn parse<I>(args: I) -> (Options, Result<Command>)
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut options = Options::default();
    let mut words: Vec<&str> = Vec::new();
    let mut help = false;
    for arg in args.iter().filter_map(|a| a.to_str()) {
        match arg {
            "--" => break,
            "-h" | "--help" => help = true,
            "--version" if words.is_empty() => return (options, Ok(Command::Version)),
            "--json" => options.json = true,
            word if !word.starts_with('-') => words.push(word),
            _ => {}
        }
    }
    if help {
        return (options, Ok(Command::Help(help_for(&words))));
    }
    let mut p = Parser::from_args(args.iter().cloned());
    let command = command(&mut p, &mut options).map_err(|err| suggest(err, &words));
    (options, command)
}

/// Add "Did you mean" to an unknown command or option, from the names the parser reads.
fn suggest(mut err: Error, words: &[&str]) -> Error {
    let unknown = err.message.split('\'').nth(1).unwrap_or("");
    if !err.message.starts_with("Unknown") || unknown.is_empty() {
        return err;
    }
    let node = deepest(words);
    let names: Vec<String> = if unknown.starts_with("--") {
        let opts = node.options().into_iter().chain(TREE.options());
        opts.map(|o| format!("--{}", o.long)).collect()
    } else if err.message.contains("command") {
        let subs = node.commands.iter();
        subs.flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
            .map(String::from)
            .collect()
    } else {
        return err;
    };
    if let Some(best) = nearest(unknown, &names) {
        err.hints.insert(0, format!("Did you mean '{best}'?"));
    }
    err
}

/// The known name closest to `word`: at most two edits away, or the one it begins.
fn nearest<'a>(word: &str, names: &'a [String]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut last = row[0];
            row[0] = i + 1;
            for j in 0..b.len() {
                let next = (last + usize::from(ca != b[j])).min(row[j] + 1).min(row[j + 1] + 1);
                last = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    };
    let starts: Vec<&String> =
        names.iter().filter(|n| word.len() >= 3 && n.starts_with(word)).collect();
    if let [only] = starts.as_slice() {
        return Some(only);
    }
    names
        .iter()
        .map(|n| (distance(word, n), n))
        .filter(|(d, n)| *d <= 2 && *d < n.len().min(word.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

fn command(p: &mut Parser, options: &mut Options) -> Result<Command> {
    let mut globals = |name: &str, p: &mut Parser| global(options, name, p);
    let word = loop {
        match p.next().map_err(|e| Error::from(e).see_help(""))? {
            None => {
                return Err(
                    Error::usage("Missing command").hint("See 'torale --help' for the commands")
                )
            }
            Some(Arg::Value(word)) => break word.string()?,
            Some(Arg::Long(name)) => {
                let name = name.to_owned();
                globals(&name, p).map_err(|e| e.see_help(""))?;
            }
            Some(arg) => return Err(Error::from(arg.unexpected()).see_help("")),
        }
    };
    let g = &mut globals;
    Ok(match canonical(&word) {
        "auth" => Command::Auth(commands::auth::parse(p, g)?),
        "task" => Command::Task(commands::task::parse(p, g)?),
        "config" => Command::Config(commands::config::parse(p, g)?),
        "templates" => Command::Templates(commands::templates::parse(p, g)?),
        "api" => Command::Api(commands::api::parse(p, g)?),
        "completion" => Command::Completion(commands::completion::parse(p, g)?),
        "version" => {
            let words =
                commands::rest(p, g, |_, _| Ok(false)).map_err(|e| e.see_help("version"))?;
            commands::count_words(&words, 0, 0, "").map_err(|e| e.see_help("version"))?;
            Command::Version
        }
        "help" => {
            let words = commands::rest(p, g, |_, _| Ok(false)).map_err(|e| e.see_help("help"))?;
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match words.first() {
                None => Command::Help(HELP),
                Some(_) if help_of(&words).is_none() => {
                    return Err(Error::usage(format!("No help for '{}'", words.join(" ")))
                        .hint("See 'torale --help' for the commands"))
                }
                Some(_) => Command::Help(help_for(&words)),
            }
        }
        _ => {
            return Err(Error::usage(format!("Unknown command '{word}'"))
                .hint("See 'torale --help' for the commands"))
        }
    })
}

/// A group's name for one of its first words.
fn canonical(word: &str) -> &str {
    TREE.find(word).map_or(word, |c| c.name)
}

/// Record a global option; an option that is not one is unknown.
fn global(o: &mut Options, name: &str, p: &mut Parser) -> Result<()> {
    let mut value = || -> Result<String> { Ok(p.value()?.string()?) };
    match name {
        "api-key" | "api-key-file" if o.api_key.is_some() || o.api_key_file.is_some() => {
            return Err(Error::usage("Give the API key once: either --api-key or --api-key-file"))
        }
        "api-key" => o.api_key = Some(value()?),
        "api-key-file" => o.api_key_file = Some(value()?),
        "api-url" => o.api_url = Some(value()?),
        "timeout" => o.timeout = Some(value()?),
        "json" => o.json = true,
        "debug" => o.debug = true,
        // `--version` after a command word has nothing to print; it is accepted as before.
        "version" => {}
        "no-color" => o.color = ColorChoice::Never,
        "color" | "colour" => {
            let when = value()?;
            o.color = match when.as_str() {
                "auto" => ColorChoice::Auto,
                "always" => ColorChoice::Always,
                "never" => ColorChoice::Never,
                _ => {
                    return Err(Error::usage(format!(
                        "Invalid value '{when}' for '--color': use auto, always or never"
                    )))
                }
            }
        }
        "field" => {
            let field = value()?;
            match &mut o.selection {
                None => o.selection = Some(Selection::Fields(vec![field])),
                Some(Selection::Fields(fields)) => fields.push(field),
                Some(Selection::Format(_)) => {
                    return Err(Error::usage("Use either --field or --format, not both"))
                }
            }
        }
        "format" => {
            let template = value()?;
            if matches!(o.selection, Some(Selection::Fields(_))) {
                return Err(Error::usage("Use either --field or --format, not both"));
            }
            o.selection = Some(
                Selection::parse_format(&template)
                    .map_err(|why| Error::usage(format!("Invalid --format: {why}")))?,
            );
        }
        _ => return Err(Error::usage(format!("Unknown option '--{name}'"))),
    }
    Ok(())
}

/// The help text for words such as `["task", "create"]`: the deepest command they name,
/// from the first word that names one (option values may stand between).
pub fn help_for(words: &[&str]) -> &'static str {
    let Some(at) = words.iter().position(|w| TREE.find(w).is_some() || *w == "exit-codes") else {
        return HELP;
    };
    let mut words = &words[at..];
    if words.first() == Some(&"help") && words.len() > 1 {
        words = &words[1..];
    }
    if words.first() == Some(&"exit-codes") {
        return crate::error::EXIT_CODES_HELP;
    }
    deepest(words).help
}

/// The deepest command the words name, from the first word that names one.
fn deepest(words: &[&str]) -> &'static commands::Cmd {
    let start = words.iter().position(|w| TREE.find(w).is_some()).unwrap_or(words.len());
    let mut node = &TREE;
    for word in &words[start..] {
        match node.find(word) {
            Some(next) => node = next,
            None => break,
        }
    }
    node
}

/// The help text of exactly these words, if every word names a command.
fn help_of(words: &[&str]) -> Option<&'static str> {
    if words == ["exit-codes"] {
        return Some(crate::error::EXIT_CODES_HELP);
    }
    let mut node = &TREE;
    for word in words {
        node = node.find(word)?;
    }
    Some(node.help)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Result<Command> {
        parse(args.iter().copied()).1
    }

    #[test]
    fn globals_anywhere() {
        for line in [
            &["--json", "task", "list"][..],
            &["task", "--json", "list"],
            &["task", "list", "--json"],
            &["task", "list", "--json=", "--limit=3"][..2],
        ] {
            let (options, command) = parse(line.iter().copied());
            assert!(command.is_ok(), "{line:?}");
            assert!(options.json || line.len() == 2, "{line:?}");
        }
    }

    #[test]
    fn usage_errors_name_the_flag() {
        let err = cmd(&["task", "list", "--bogus"]).unwrap_err();
        assert_eq!(err.message, "Unknown option '--bogus'");
        assert_eq!(err.hints, ["See 'torale task list --help'"]);
        let err = cmd(&["task", "list", "--limit"]).unwrap_err();
        assert_eq!(err.message, "Missing value for '--limit'");
        let err = cmd(&["task", "list", "--active", "--paused"]).unwrap_err();
        assert_eq!(err.message, "Use only one of --active, --paused");
        let err = cmd(&["task", "create", "-q", "a", "--query", "b"]).unwrap_err();
        assert_eq!(err.message, "'--query' is given more than once");
        let err = cmd(&["tsk"]).unwrap_err();
        assert_eq!(err.message, "Unknown command 'tsk'");
    }

    #[test]
    fn help_wins() {
        assert_eq!(
            cmd(&["task", "--bogus", "--help"]).unwrap(),
            Command::Help(commands::task::HELP)
        );
        assert_eq!(
            cmd(&["help", "exit-codes"]).unwrap(),
            Command::Help(crate::error::EXIT_CODES_HELP)
        );
        assert!(cmd(&["help", "nope"]).is_err());
    }

    #[test]
    fn dash_dash_ends_options() {
        let command = cmd(&["task", "create", "--", "-q"]);
        assert!(command.is_err());
    }
}
