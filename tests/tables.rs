//! Tables on a terminal (a pseudo-terminal made by util-linux `script`): fitted to its width,
//! free text shortened first, then task IDs to a unique prefix; times relative. Piped, the
//! same tables keep full values and absolute times.

use serde_json::json;

use crate::support::World;

/// `torale ARGS` with stdout on a terminal `cols` columns wide: what the terminal showed.
fn on_terminal(w: &World, cols: u32, args: &str) -> String {
    let (code, shown) = w.on_terminal(cols, args, "");
    assert_eq!(code, 0, "torale {args} on a terminal failed:\n{shown}");
    shown
}

/// The displayed width of every line, in characters (the tables here are one column per char).
fn widths(text: &str) -> Vec<usize> {
    text.lines().map(|line| line.chars().count()).collect()
}

#[test]
fn task_list_fits_the_terminal_and_stays_whole_when_piped() {
    let w = World::new();
    let long = "When will Apple release the iPhone 18 and what will it cost in Europe";
    let a = w.task(json!({"name": long}));
    let b = w.task(json!({"name": "price drop"}));

    // Wide enough: nothing is cut, times are relative (`in 59s`, `2s ago`).
    let wide = on_terminal(&w, 200, "task list --color never");
    assert!(wide.contains(&a) && wide.contains(long), "{wide}");
    assert!(wide.contains(" ago") && wide.contains("in "), "{wide}");
    assert!(!wide.contains(':'), "an absolute time on a terminal:\n{wide}");

    // Narrow: the name gives way first, with `…`; the IDs stay whole.
    let narrow = on_terminal(&w, 110, "task list --color never");
    assert!(narrow.contains("When will Apple release") && narrow.contains('…'), "{narrow}");
    assert!(narrow.contains(&a) && narrow.contains(&b), "{narrow}");
    assert!(widths(&narrow).iter().all(|&n| n <= 110), "{narrow}");

    // A terminal that does not know its width: COLUMNS, else 80.
    let widest_at = |columns: &[(&str, &str)]| {
        let mut terminal = w.terminal(0, "task list --color never");
        let output = terminal.envs(columns.iter().copied()).output().unwrap();
        let widest = widths(&String::from_utf8_lossy(&output.stdout)).into_iter().max();
        widest.unwrap_or(0)
    };
    assert!((81..=110).contains(&widest_at(&[("COLUMNS", "110")])));
    assert!((40..=80).contains(&widest_at(&[])));

    // Narrower still: IDs are cut, at most to a unique prefix of 8 or more characters, which
    // every task command accepts; the name stops at 12 columns.
    let tight = on_terminal(&w, 50, "task list --color never");
    assert!(tight.contains("When will A…  active"), "{tight}");
    assert!(!tight.contains(&a), "{tight}");
    let shown = tight.lines().nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert!(shown.len() == 8 && (a.starts_with(&shown) || b.starts_with(&shown)), "{tight}");
    w.run(&["task", "get", &shown]).ok();

    // Piped: full values and absolute times, whatever COLUMNS says.
    let piped = w.cmd(&["task", "list"]).server(&w.fake).env("COLUMNS", "40").run();
    piped.ok().stdout_has(&a).stdout_has(long).stdout_has(" 20");
    assert!(!piped.stdout.contains(" ago"), "{piped:?}");
}

#[test]
fn task_get_shows_absolute_times_with_their_zone_and_json_the_servers_strings() {
    let w = World::new();
    let id = w.task(json!({"name": "zone"}));
    let get = on_terminal(&w, 100, &format!("task get {id}"));
    let created = get.lines().find(|line| line.starts_with("Created")).unwrap_or_default();
    assert!(created.ends_with(" UTC") && created.contains(":"), "{get}");
    let json = on_terminal(&w, 100, &format!("task get {id} --json"));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(value["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");
    assert!(json.starts_with("{\n  \""), "pretty on a terminal:\n{json}");
}
