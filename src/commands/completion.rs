//! `torale completion bash|zsh|fish`: shell completion scripts generated from the command
//! tree and the options each command's help lists, the same names the parsers read.

use std::io::Write;

use lexopt::Parser;

use super::{count_words, rest, Cmd, GlobalOpts, Opt, TREE};
use crate::error::{Error, Result};

pub const HELP: &str = "\
Print a shell completion script

Completes commands, subcommands and options, from the same names the parser reads.

Usage: torale completion bash|zsh|fish

Examples:
  source <(torale completion bash)                      # bash, this shell
  torale completion bash > /etc/bash_completion.d/torale
  torale completion zsh > \"${fpath[1]}/_torale\"          # zsh
  torale completion fish > ~/.config/fish/completions/torale.fish
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Shell> {
    let words = rest(p, g, |_, _| Ok(false)).map_err(|e| e.see_help("completion"))?;
    count_words(&words, 1, 1, "SHELL (bash, zsh or fish)").map_err(|e| e.see_help("completion"))?;
    match words[0].as_str() {
        "bash" => Ok(Shell::Bash),
        "zsh" => Ok(Shell::Zsh),
        "fish" => Ok(Shell::Fish),
        other => Err(Error::usage(format!(
            "Unknown shell '{}': use bash, zsh or fish",
            crate::error::sanitize(other)
        ))
        .see_help("completion")),
    }
}

pub fn run(shell: Shell, out: &mut dyn Write) -> Result<()> {
    let script = match shell {
        Shell::Bash => bash(),
        Shell::Zsh => zsh(),
        Shell::Fish => fish(),
    };
    out.write_all(script.as_bytes())?;
    Ok(())
}

/// Every command and group of commands with its path (`""` for the top level).
fn nodes() -> Vec<(String, &'static Cmd)> {
    fn walk(path: String, node: &'static Cmd, all: &mut Vec<(String, &'static Cmd)>) {
        for child in node.commands {
            let next = if path.is_empty() {
                child.name.to_string()
            } else {
                format!("{path} {}", child.name)
            };
            all.push((next.clone(), child));
            walk(next, child, all);
        }
    }
    let mut all = vec![(String::new(), &TREE)];
    walk(String::new(), &TREE, &mut all);
    all
}

fn all_paths() -> Vec<String> {
    nodes().into_iter().map(|(path, _)| path).filter(|p| !p.is_empty()).collect()
}

/// The options of a command (none for a group that only names its subcommands).
fn command_opts(path: &str, node: &Cmd) -> Vec<Opt> {
    if path.is_empty() || node.help == TREE.help {
        Vec::new()
    } else {
        node.options()
    }
}

fn global_opts() -> Vec<Opt> {
    TREE.options()
}

fn opt_words(opts: &[Opt]) -> String {
    let mut words = Vec::new();
    for opt in opts {
        words.push(format!("--{}", opt.long));
        if let Some(c) = opt.short {
            words.push(format!("-{c}"));
        }
    }
    words.join(" ")
}

/// Options that take a value (their value is not a command word), as `--x` and `-x`.
fn value_opts() -> Vec<String> {
    let mut names = Vec::new();
    let commands = nodes().into_iter().flat_map(|(path, node)| command_opts(&path, node));
    for opt in global_opts().into_iter().chain(commands).filter(|o| o.value) {
        for name in
            std::iter::once(format!("--{}", opt.long)).chain(opt.short.map(|c| format!("-{c}")))
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// For each path: the words that may follow it and the options it takes.
fn candidates() -> Vec<(String, String, String)> {
    nodes()
        .into_iter()
        .map(|(path, node)| {
            let words: Vec<&str> = node.commands.iter().map(|c| c.name).collect();
            let opts = opt_words(&command_opts(&path, node));
            (path, words.join(" "), opts)
        })
        .collect()
}

/// The loop bash and zsh share: walk the words before the cursor, skip options and the
/// values they take, and keep the longest prefix that names a command in `cmdpath`.
fn path_loop(words: &str, first: &str, cursor: &str, value_opts: &str, paths: &[String]) -> String {
    format!(
        r#"    for (( i={first}; i<{cursor}; i++ )); do
        w="${{{words}[i]}}"
        if (( skip )); then skip=0; continue; fi
        case "$w" in
            {value_opts}) skip=1 ;;
            -*) ;;
            *)
                if [[ -z "$cmdpath" ]]; then next="$w"; else next="$cmdpath $w"; fi
                case "$next" in
                    {paths}) cmdpath="$next" ;;
                esac
                ;;
        esac
    done
"#,
        paths = paths.join("|"),
    )
}

fn bash() -> String {
    let value_opts = value_opts().join("|");
    let paths: Vec<String> = all_paths().iter().map(|p| format!("'{p}'")).collect();
    let mut cases = String::new();
    for (path, words, opts) in candidates() {
        cases.push_str(&format!("        '{path}') words='{words}'; opts='{opts}' ;;\n"));
    }
    format!(
        r#"# bash completion for torale; generated by `torale completion bash`
_torale() {{
    local cur prev cmdpath next w i skip=0 words opts
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    case "$prev" in
        --api-key-file) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
        --color) COMPREPLY=( $(compgen -W "auto always never" -- "$cur") ); return ;;
        {value_opts}) COMPREPLY=(); return ;;
    esac
    cmdpath=""
{path_loop}    case "$cmdpath" in
{cases}    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=( $(compgen -W "$opts {global}" -- "$cur") )
    else
        COMPREPLY=( $(compgen -W "$words" -- "$cur") )
    fi
}}
complete -F _torale torale
"#,
        global = opt_words(&global_opts()),
        path_loop = path_loop("COMP_WORDS", "1", "COMP_CWORD", &value_opts, &paths),
    )
}

fn zsh() -> String {
    let value_opts = value_opts().join("|");
    let paths: Vec<String> = all_paths().iter().map(|p| format!("'{p}'")).collect();
    let mut cases = String::new();
    for (path, words, opts) in candidates() {
        cases.push_str(&format!("        '{path}') cands=({words}); opts=({opts}) ;;\n"));
    }
    format!(
        r#"#compdef torale
# zsh completion for torale; generated by `torale completion zsh`
_torale() {{
    local cmdpath="" next w i skip=0
    local -a cands opts
    case "${{words[CURRENT-1]}}" in
        --api-key-file) _files; return ;;
        --color) compadd -- auto always never; return ;;
        {value_opts}) return ;;
    esac
{path_loop}    case "$cmdpath" in
{cases}    esac
    if [[ "$PREFIX" == -* ]]; then
        compadd -- $opts {global}
    else
        compadd -- $cands
    fi
}}
if [[ "${{funcstack[1]}}" == "_torale" ]]; then
    _torale "$@"
else
    compdef _torale torale
fi
"#,
        global = opt_words(&global_opts()),
        path_loop = path_loop("words", "2", "CURRENT", &value_opts, &paths),
    )
}

fn fish() -> String {
    let value_opts = value_opts().join(" ");
    let paths: Vec<String> = all_paths().iter().map(|p| format!("'{p}'")).collect();
    let mut lines = String::new();
    let add_opts = |lines: &mut String, condition: &str, opts: &[Opt]| {
        for opt in opts {
            let mut line = format!("complete -c torale -n {condition} -l {}", opt.long);
            if let Some(c) = opt.short {
                line.push_str(&format!(" -s {c}"));
            }
            if opt.value {
                line.push_str(" -r");
            }
            lines.push_str(&line);
            lines.push('\n');
        }
    };
    add_opts(&mut lines, "'true'", &global_opts());
    for (path, node) in nodes() {
        let condition = format!("'__torale_at \"{path}\"'");
        let words: Vec<&str> = node.commands.iter().map(|c| c.name).collect();
        if !words.is_empty() {
            lines
                .push_str(&format!("complete -c torale -n {condition} -a '{}'\n", words.join(" ")));
        }
        add_opts(&mut lines, &condition, &command_opts(&path, node));
    }
    format!(
        r#"# fish completion for torale; generated by `torale completion fish`
set -g __torale_paths {paths}
set -g __torale_value_opts {value_opts}
function __torale_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l cmdpath ""
    set -l skip 0
    for w in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if contains -- $w $__torale_value_opts
            set skip 1
        else if string match -q -- '-*' $w
            continue
        else
            set -l next $w
            if test -n "$cmdpath"
                set next "$cmdpath $w"
            end
            if contains -- $next $__torale_paths
                set cmdpath $next
            end
        end
    end
    echo $cmdpath
end
function __torale_at
    set -l current (__torale_path)
    test "$current" = "$argv[1]"
end
complete -c torale -f
{lines}"#,
        paths = paths.join(" "),
    )
}
