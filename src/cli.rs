//! The command line: argv → the global options and a typed [`Command`], with no I/O.
//! This file owns the global options and the first word; each command group's file parses
//! the rest with the same `lexopt::Parser`.

use std::ffi::OsString;

use lexopt::{Parser, ValueExt};

use crate::commands::{self, Cmd, Command, Options, TREE};
use crate::error::{Error, Result, EXIT_CODES_HELP};
use crate::output::{ColorChoice, Selection};

/// Parse the arguments (without the program name): the global options seen, and the
/// command or why there is none. `-h`/`--help` and `--version` win over everything else on
/// the line, so help is shown even when other arguments are wrong; `--json` counts even
/// when the line fails before reaching it, so the error is JSON too.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> (Options, Result<Command>) {
    let args: Vec<OsString> = args.into_iter().collect();
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
    let mut p = Parser::from_args(&args);
    let command = command(&mut p, &mut options).map_err(|err| suggest(err, &words));
    (options, command)
}

/// Add "Did you mean" to an unknown command or option, from the names the parser reads.
fn suggest(mut err: Error, words: &[&str]) -> Error {
    let unknown = err.message.split('\'').nth(1).unwrap_or("");
    let node = deepest(words);
    let names: Vec<String> = if !err.message.starts_with("Unknown") {
        return err;
    } else if unknown.starts_with("--") {
        let opts = node.options().into_iter().chain(TREE.options());
        opts.map(|(long, ..)| format!("--{long}")).collect()
    } else if err.message.contains("command") {
        let names = node.commands.iter().flat_map(|c| std::iter::once(&c.name).chain(c.aliases));
        names.map(|name| name.to_string()).collect()
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
            let mut diagonal = std::mem::replace(&mut row[0], i + 1);
            for j in 0..b.len() {
                let next = (diagonal + usize::from(ca != b[j])).min(row[j] + 1).min(row[j + 1] + 1);
                diagonal = std::mem::replace(&mut row[j + 1], next);
            }
        }
        row[b.len()]
    };
    let mut starts = names.iter().filter(|n| word.len() >= 3 && n.starts_with(word));
    if let (Some(only), None) = (starts.next(), starts.next()) {
        return Some(only);
    }
    let close = names.iter().map(|n| (distance(word, n), n.as_str()));
    let close = close.filter(|(d, n)| *d <= 2 && *d < n.len().min(word.len()));
    close.min_by_key(|(d, _)| *d).map(|(_, n)| n)
}

fn command(p: &mut Parser, options: &mut Options) -> Result<Command> {
    let g = &mut |name: &str, p: &mut Parser| global(options, name, p);
    let Some(word) = commands::next_word(p, g).map_err(|e| e.see_help(""))? else {
        return Err(Error::usage("Missing command").hint("See 'torale --help' for the commands"));
    };
    Ok(match TREE.lookup("", &word)? {
        "auth" => Command::Auth(commands::auth::parse(p, g)?),
        "task" => Command::Task(commands::task::parse(p, g)?),
        "config" => Command::Config(commands::config::parse(p, g)?),
        "templates" => Command::Templates(commands::templates::parse(p, g)?),
        "api" => Command::Api(commands::api::parse(p, g)?),
        "completion" => Command::Completion(commands::completion::parse(p, g)?),
        "version" => {
            commands::words(p, g, 0, "").map_err(|e| e.see_help("version"))?;
            Command::Version
        }
        // `help`, the one name left in the tree: the help of exactly the commands named.
        _ => {
            let words = commands::rest(p, g, |_, _| Ok(false)).map_err(|e| e.see_help("help"))?;
            let node = words.iter().try_fold(&TREE, |node, word| node.find(word));
            let exit_codes = (words == ["exit-codes"]).then_some(EXIT_CODES_HELP);
            Command::Help(node.map(|node| node.help).or(exit_codes).ok_or_else(|| {
                Error::usage(format!("No help for '{}'", words.join(" ")))
                    .hint("See 'torale --help' for the commands")
            })?)
        }
    })
}

/// Record a global option; an option that is not one is unknown.
fn global(o: &mut Options, name: &str, p: &mut Parser) -> Result<()> {
    let mut value = || -> Result<String> { Ok(p.value()?.string()?) };
    let both = || Error::usage("Use either --field or --format, not both");
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
        "color" | "colour" => match value()?.as_str() {
            "auto" => o.color = ColorChoice::Auto,
            "always" => o.color = ColorChoice::Always,
            "never" => o.color = ColorChoice::Never,
            when => {
                let why =
                    format!("Invalid value '{when}' for '--color': use auto, always or never");
                return Err(Error::usage(why));
            }
        },
        "field" => match (&mut o.selection, value()?) {
            (None, field) => o.selection = Some(Selection::Fields(vec![String::new(), field])),
            (Some(Selection::Fields(fields)), field) => fields.extend(["\t".into(), field]),
            (Some(Selection::Format(_)), _) => return Err(both()),
        },
        "format" => match (&o.selection, value()?) {
            (Some(Selection::Fields(_)), _) => return Err(both()),
            (_, template) => match Selection::parse_format(&template) {
                Ok(format) => o.selection = Some(format),
                Err(why) => return Err(Error::usage(format!("Invalid --format: {why}"))),
            },
        },
        _ => return Err(Error::usage(format!("Unknown option '--{name}'"))),
    }
    Ok(())
}

/// The help text for words such as `["task", "create"]`: the deepest command they name,
/// from the first word that names one (option values may stand between).
fn help_for(words: &[&str]) -> &'static str {
    let at = words.iter().position(|w| TREE.find(w).is_some() || *w == "exit-codes");
    match &words[at.unwrap_or(words.len())..] {
        ["exit-codes", ..] | ["help", "exit-codes", ..] => EXIT_CODES_HELP,
        ["help", rest @ ..] => deepest(rest).help,
        words => deepest(words).help,
    }
}

/// The deepest command the words name, from the first word that names one.
fn deepest(words: &[&str]) -> &'static Cmd {
    let words = words.iter().skip_while(|w| TREE.find(w).is_none());
    words.scan(&TREE, |node, word| node.find(word).inspect(|n| *node = n)).last().unwrap_or(&TREE)
}
