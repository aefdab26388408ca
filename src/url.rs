//! The API URL: checked once, wherever it comes from.

/// Check an API URL and drop its trailing slashes.
pub fn parse_api_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "must start with http:// or https://".to_string())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}
