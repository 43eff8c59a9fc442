//! The pages with the product's branding, and replaced by the example templates
//! (`examples/page-templates`): a replaced login page still signs in, and the server still
//! sends its security headers and checks the form.

use std::path::PathBuf;

use outpost_authorization_server::branding::{Branding, ColorRole, Logo};

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";

/// The example template directory of the repository.
fn example_templates() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/page-templates")
}

#[tokio::test]
async fn branded_pages_show_the_product_name_logo_and_colours_escaped() {
    let logo = std::fs::read(example_templates().join("logo.svg")).unwrap();
    let branding = Branding::new("Acme <Cloud>")
        .unwrap()
        .with_logo(Logo::from_bytes(logo).unwrap())
        .with_color(ColorRole::Accent, "#6D28D9".parse().unwrap());
    let server = spawn_with(|server| server.with_branding(&branding)).await;
    let client_id = server.register(REDIRECT).await;

    let response = server
        .browser
        .get(server.authorize_url(&client_id, REDIRECT, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_page_headers(&response);
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("; img-src data:;"), "{csp}");
    let html = response.text().await.unwrap();
    assert!(
        !html.contains("<Cloud>"),
        "the name is text, not markup: {html}"
    );
    assert!(
        html.contains("<title>Sign in · Acme &#60;Cloud&#62;</title>")
            || html.contains("<title>Sign in · Acme &lt;Cloud&gt;</title>"),
        "{html}"
    );
    assert!(
        html.contains("<img src=\"data:image/svg+xml;base64,"),
        "{html}"
    );
    assert!(html.contains(":root { --accent: #6d28d9; }"), "{html}");

    // An error page is branded too.
    let response = server
        .browser
        .get(format!("{}/authorize?response_type=code", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("Acme &#60;Cloud&#62;") || html.contains("Acme &lt;Cloud&gt;"));
    assert!(html.contains("The request has no client_id."), "{html}");
}

#[cfg(feature = "page-templates")]
#[tokio::test]
async fn a_replaced_login_page_still_signs_in() {
    use std::sync::Arc;

    use outpost_authorization_server::pages::TemplateDirectory;

    let branding = Branding::new("Acme Cloud").unwrap();
    let pages = TemplateDirectory::load(&example_templates(), &branding).unwrap();
    let server = spawn_with(|server| server.with_page_renderer(Arc::new(pages))).await;
    let client_id = server.register(REDIRECT).await;

    // The replaced login page, with the server's headers and cookies.
    let response = server
        .browser
        .get(server.authorize_url(&client_id, REDIRECT, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_page_headers(&response);
    assert!(
        response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("outpost_csrf=")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Welcome back</h1>"), "{html}");
    assert!(
        html.contains("Acme Cloud") && html.contains(CLIENT_NAME),
        "{html}"
    );
    let ids = (hidden(&html, "request"), hidden(&html, "csrf"));

    // The server still checks the form: a wrong CSRF token is refused (with the replaced
    // error page), a wrong password answers the replaced login page with the message.
    let forged = (ids.0.clone(), "forged".to_owned());
    let response = server.login(&forged, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.unwrap();
    assert!(html.contains("Error 403."), "{html}");
    let response = server.login(&ids, "alice", "wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.unwrap();
    assert!(html.contains("Welcome back") && html.contains("Wrong username or password"));

    // The right password: the replaced consent page; approving issues a code that redeems.
    let response = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("<h1>Allow {CLIENT_NAME}?</h1>")),
        "{html}"
    );
    assert_eq!(hidden(&html, "scope"), "mcp:read mcp:write");
    let response = server.decide(&ids, "approve").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    let tokens = server
        .redeem(&client_id, REDIRECT, param(&params, "code").unwrap())
        .await;
    assert_eq!(tokens["scope"], "mcp:read mcp:write");
}
