//! `torale templates` and `task create --from-template`.

mod support;

use support::fake::{Fake, Generation};
use support::Sandbox;

#[test]
fn templates_list_and_get_need_no_key() {
    for generation in [Generation::Head, Generation::Legacy] {
        let fake = Fake::start(generation);
        let sandbox = Sandbox::new();
        let run = sandbox
            .torale(&["templates", "list"])
            .env("TORALE_API_URL", &fake.url())
            .run();
        run.ok()
            .stdout_has("CATEGORY")
            .stdout_has("Phone launch")
            .stdout_has("Product Launches");
        assert_eq!(fake.requests()[0].header("authorization"), None);

        let listed = sandbox
            .torale(&[
                "templates",
                "list",
                "--category",
                "Product Launches",
                "--json",
            ])
            .env("TORALE_API_URL", &fake.url())
            .run()
            .ok()
            .json();
        let items = listed.as_array().unwrap();
        assert_eq!(items.len(), 2, "{generation:?}");
        assert!(fake
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/templates/" && r.query == "category=Product%20Launches"));

        let id = items[0]["id"].as_str().unwrap().to_string();
        sandbox
            .torale(&["templates", "get", &id])
            .env("TORALE_API_URL", &fake.url())
            .run()
            .ok()
            .stdout_has(&format!("ID           {id}"))
            .stdout_has("Condition");
        sandbox
            .torale(&["templates", "get", "00000000-0000-4000-8000-000000000000"])
            .env("TORALE_API_URL", &fake.url())
            .run()
            .code(5)
            .stderr_has("Template 00000000-0000-4000-8000-000000000000 not found");
    }
}

#[test]
fn create_from_a_template() {
    let fake = Fake::start(Generation::Head);
    let sandbox = Sandbox::new();
    let listed = sandbox
        .torale(&["templates", "list", "--json"])
        .server(&fake)
        .run()
        .ok()
        .json();
    let phone = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Phone launch")
        .unwrap()
        .clone();
    let id = phone["id"].as_str().unwrap();

    sandbox
        .torale(&["task", "create", "--from-template", id])
        .server(&fake)
        .run()
        .ok()
        .stderr_has("Created task 'Phone launch'");
    // Options on the command line win over the template.
    sandbox
        .torale(&[
            "task",
            "create",
            "--from-template",
            id,
            "-c",
            "A date is rumoured",
        ])
        .server(&fake)
        .run()
        .ok()
        .stderr_has("Created task 'Phone launch (2)'");
    let tasks = fake.tasks();
    assert_eq!(tasks[0]["search_query"], phone["search_query"]);
    assert_eq!(
        tasks[0]["condition_description"],
        phone["condition_description"]
    );
    assert_eq!(tasks[1]["condition_description"], "A date is rumoured");

    sandbox
        .torale(&["task", "create"])
        .server(&fake)
        .run()
        .code(2)
        .stderr_has("Missing --query (-q)")
        .stderr_has("--from-template");
}
