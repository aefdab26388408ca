//! `torale templates`: the ready-made task templates (no key needed).

use lexopt::Parser;
use serde::Deserialize;

use super::{check_uuid, cmd, count_words, once, rest, Cmd, Context, GlobalOpts};
use crate::client::{Client, Method};
use crate::error::{Error, Kind, Result};
use crate::model::Json;
use crate::output::{stderr_line, write_pairs, Table};

pub const HELP: &str = "\
List and show task templates

Templates are ready-made questions and conditions; start a task from one with
'torale task create --from-template ID'. No API key is needed.

Usage: torale templates <COMMAND>

Commands:
  list [--category C]   Templates, by category then name (also: ls)
  get TEMPLATE_ID       One template

Examples:
  torale templates list --category \"Product Launches\"
  torale task create --from-template 5b3e0f62-7d1c-4c3a-9a43-2f0c8e0b6a11
";

const LIST_HELP: &str = "\
List task templates, by category then name

Usage: torale templates list [--category C]

Options:
      --category C   Only templates in this category (exact name)

Example:
  torale templates list --category \"Product Launches\" --field id --field name
";

const GET_HELP: &str = "\
Show one task template: name, category, description, query and condition

Usage: torale templates get TEMPLATE_ID

Example:
  torale templates get 5b3e0f62-7d1c-4c3a-9a43-2f0c8e0b6a11
";

pub const COMMANDS: &[Cmd] = &[cmd("list", &["ls"], LIST_HELP), cmd("get", &[], GET_HELP)];

#[derive(Debug, PartialEq)]
pub enum Command {
    List { category: Option<String> },
    Get { id: String },
}

/// `torale templates ...`, after the word `templates`.
pub fn parse(p: &mut Parser, g: &mut GlobalOpts) -> Result<Command> {
    let group = Cmd { commands: COMMANDS, ..cmd("templates", &[], HELP) };
    let sub = group.subcommand("templates", p, g)?;
    let mut category = None;
    let parsed = rest(p, g, |name, p| match (sub, name) {
        ("list", "category") => once(&mut category, "category", p).map(|()| true),
        _ => Ok(false),
    })
    .and_then(|words| match sub {
        "list" => count_words(&words, 0, 0, "").map(|()| Command::List { category }),
        _ => {
            count_words(&words, 1, 1, "TEMPLATE_ID")?;
            check_uuid(&words[0], "template ID")?;
            Ok(Command::Get { id: words[0].clone() })
        }
    });
    parsed.map_err(|e| e.see_help(&format!("templates {sub}")))
}

/// A template as the CLI reads it; other fields are ignored.
#[derive(Deserialize)]
pub struct Template {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub search_query: Option<String>,
    pub condition_description: Option<String>,
}

pub fn run(command: Command, cx: &Context, out: &mut Vec<u8>) -> Result<()> {
    // Templates need no key; one is sent when configured.
    let client = cx.client(false)?;
    let doc = match &command {
        Command::List { category } => {
            let query: Vec<_> = category.iter().map(|c| ("category", c.clone())).collect();
            client.call(Method::Get, "/api/v1/templates/", &query, None)?
        }
        Command::Get { id } => get(&client, id)?,
    };
    if cx.output.json {
        return cx.output.json_text(out, doc.text());
    }
    if let Command::Get { .. } = command {
        let t: Template = doc.decode("template")?;
        let pairs = [
            ("ID", t.id),
            ("Name", t.name.unwrap_or_default()),
            ("Category", t.category.unwrap_or_default()),
            ("Description", t.description.unwrap_or_default()),
            ("Query", t.search_query.unwrap_or_default()),
            ("Condition", t.condition_description.unwrap_or_default()),
        ];
        return Ok(write_pairs(out, &pairs)?);
    }
    let templates: Vec<Template> = doc.decode("template list")?;
    if templates.is_empty() {
        stderr_line("No templates");
        return Ok(());
    }
    let mut table = Table::new(vec!["ID", "CATEGORY", "NAME", "QUERY"]).flexible(3).flexible(2);
    for t in templates {
        let (category, name) = (t.category.unwrap_or_default(), t.name.unwrap_or_default());
        table.row(vec![t.id, category, name, t.search_query.unwrap_or_default()]);
    }
    Ok(table.write(out, &cx.output)?)
}

/// `GET /api/v1/templates/{id}`, with the ID in a 404's message.
pub fn get(client: &Client, id: &str) -> Result<Json> {
    let path = format!("/api/v1/templates/{id}");
    client.call(Method::Get, &path, &[], None).map_err(|err| match err.kind {
        Kind::NotFound => Error::new(Kind::NotFound, format!("Template {id} not found"))
            .with_status(404)
            .hint("List the templates with 'torale templates list'"),
        _ => err,
    })
}
