//! How to import a subscription link: the steps, and where to get a client for each platform.

use shared::i18n::{Arg, Catalog, Locale};

use super::actions::{Action, Page};
use super::screen::{Button, Screen};

/// A VPN client that imports subscription links, and where to download it.
pub struct Client {
    /// Text key of the platform's name.
    pub platform: &'static str,
    pub app: &'static str,
    pub url: &'static str,
}

/// Two well-known clients per platform, as the shops in the field recommend them.
pub const CLIENTS: &[Client] = &[
    Client {
        platform: "platform.android",
        app: "v2rayNG",
        url: "https://play.google.com/store/apps/details?id=com.v2ray.ang",
    },
    Client {
        platform: "platform.android",
        app: "Hiddify",
        url: "https://play.google.com/store/apps/details?id=app.hiddify.com",
    },
    Client {
        platform: "platform.ios",
        app: "Streisand",
        url: "https://apps.apple.com/app/streisand/id6450534064",
    },
    Client {
        platform: "platform.ios",
        app: "V2Box",
        url: "https://apps.apple.com/app/v2box-v2ray-client/id6446814690",
    },
    Client {
        platform: "platform.windows",
        app: "Hiddify",
        url: "https://github.com/hiddify/hiddify-app/releases/latest",
    },
    Client {
        platform: "platform.windows",
        app: "v2rayN",
        url: "https://github.com/2dust/v2rayN/releases/latest",
    },
    Client {
        platform: "platform.macos",
        app: "Hiddify",
        url: "https://github.com/hiddify/hiddify-app/releases/latest",
    },
    Client {
        platform: "platform.macos",
        app: "V2Box",
        url: "https://apps.apple.com/app/v2box-v2ray-client/id6446814690",
    },
];

/// The import steps with a download button per client (two per row, one platform a row),
/// and a way back to the service.
pub fn screen(t: &Catalog, locale: Locale, service_id: &str) -> Screen {
    let mut keyboard: Vec<Vec<Button>> = Vec::new();
    for pair in CLIENTS.chunks(2) {
        let row = pair
            .iter()
            .map(|c| {
                let platform = t.text(locale, c.platform, &[]);
                let label = t.text(
                    locale,
                    "tips_button",
                    &[
                        ("platform", Arg::Text(&platform)),
                        ("app", Arg::Text(c.app)),
                    ],
                );
                Button::url(label, c.url.to_string())
            })
            .collect();
        keyboard.push(row);
    }
    keyboard.push(vec![
        Button::action(
            t.text(locale, "button_service", &[]),
            Action::Show(Page::Service(service_id.to_string())),
        ),
        Button::action(
            t.text(locale, "button_services", &[]),
            Action::Show(Page::Services),
        ),
    ]);
    Screen {
        text: t.text(locale, "tips", &[]),
        keyboard,
    }
}
