//! The chat web page: one self-contained HTML file (inline CSS and JS, no CDN) where a
//! person talks to any sandbox bot as a Telegram user.

use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const CHAT_PAGE: &str = include_str!("../static/chat.html");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(chat_page))
        .route("/chat", get(chat_page))
}

async fn chat_page() -> Html<&'static str> {
    Html(CHAT_PAGE)
}
