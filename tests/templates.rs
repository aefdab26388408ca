//! `torale templates` and `task create --from-template`.

use crate::support::fake::Generation;
use crate::support::World;

#[test]
fn templates_list_and_get_need_no_key() {
    for generation in [Generation::Head, Generation::Legacy] {
        let w = World::of(generation);
        let templates =
            |args: &[&str]| w.cmd(&[&["templates"][..], args].concat()).url(&w.fake).run();
        templates(&["list"])
            .ok()
            .stdout_has("CATEGORY")
            .stdout_has("Phone launch")
            .stdout_has("Product Launches");
        let listed = templates(&["list", "--category", "Product Launches", "--json"]).ok().json();
        let items = listed.as_array().unwrap();
        assert_eq!(items.len(), 2, "{generation:?}");
        let id = items[0]["id"].as_str().unwrap().to_string();
        templates(&["get", &id])
            .ok()
            .stdout_has(&format!("ID           {id}"))
            .stdout_has("Condition");
        let missing = "00000000-0000-4000-8000-000000000000";
        templates(&["get", missing]).code(5).stderr_has(&format!("Template {missing} not found"));
        let requests = w.fake.take_requests();
        assert!(requests.iter().all(|r| r.header("authorization").is_none()));
        assert_eq!(requests[1].line(), "GET /api/v1/templates/?category=Product%20Launches");
    }
}

#[test]
fn create_from_a_template() {
    let w = World::new();
    let listed = w.run(&["templates", "list", "--json"]).ok().json();
    let phone =
        listed.as_array().unwrap().iter().find(|t| t["name"] == "Phone launch").unwrap().clone();
    let id = phone["id"].as_str().unwrap();
    w.run(&["task", "create", "--from-template", id])
        .ok()
        .stderr_has("Created task 'Phone launch'");
    // Options on the command line win over the template.
    w.run(&["task", "create", "--from-template", id, "-c", "A date is rumoured"])
        .ok()
        .stderr_has("Created task 'Phone launch (2)'");
    let tasks = w.fake.tasks();
    assert_eq!(tasks[0]["search_query"], phone["search_query"]);
    assert_eq!(tasks[0]["condition_description"], phone["condition_description"]);
    assert_eq!(tasks[1]["condition_description"], "A date is rumoured");
    w.run(&["task", "create"])
        .code(2)
        .stderr_has("Missing --query (-q)")
        .stderr_has("--from-template");
}
