//! How a tenant takes money: their cards, gateway keys, Stars and the conversion rates, stored
//! as one setting; and [`Gateways`], the ready-to-use clients built from it.
//!
//! Gateway secrets are stored sealed with the bot's data key and only opened to build a
//! client; neither the setting's `Debug` nor the log ever shows them.

use std::fmt;

use serde::{Deserialize, Serialize};
use shared::money::{Currency, Money};
use shared::payment::card::{AutoApprove, CardAccount, CardToCardGateway};
use shared::payment::nowpayments::{self, NowPaymentsConfig, NowPaymentsGateway};
use shared::payment::zarinpal::{self, ZarinpalConfig, ZarinpalGateway};
use shared::payment::{Method, PaymentError};
use shared::secret::{Keyring, SecretString};

use crate::settings::Setting;
use crate::wallet::CURRENCY;
use crate::Result;

const ZARINPAL_CONTEXT: &str = "tenant-setting:zarinpal";
const NOWPAYMENTS_KEY_CONTEXT: &str = "tenant-setting:nowpayments-api-key";
const NOWPAYMENTS_IPN_CONTEXT: &str = "tenant-setting:nowpayments-ipn-secret";

/// A secret encrypted with the bot's data key, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    fn seal(keyring: &Keyring, plain: &SecretString, context: &str) -> Result<Sealed> {
        Ok(Sealed(keyring.encrypt(plain.expose(), context)?))
    }

    fn open(&self, keyring: &Keyring, context: &str) -> Result<SecretString> {
        Ok(keyring.decrypt(&self.0, context)?)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// A bank card as the tenant entered it (checked when added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub number: String,
    pub owner: String,
    pub bank: String,
}

impl Card {
    /// Checks the number (Luhn) and the owner; the stored number is the 16 plain digits.
    pub fn new(number: &str, owner: &str, bank: &str) -> Result<Card> {
        let account = CardAccount::new(number, owner, bank).map_err(PaymentError::from)?;
        Ok(Card {
            number: account.number.digits().to_string(),
            owner: account.owner,
            bank: account.bank,
        })
    }

    fn account(&self) -> Result<CardAccount> {
        Ok(CardAccount::new(&self.number, &self.owner, &self.bank).map_err(PaymentError::from)?)
    }
}

/// Zarinpal: the merchant id, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZarinpalSetup {
    merchant_id: Sealed,
}

impl ZarinpalSetup {
    pub fn new(keyring: &Keyring, merchant_id: &SecretString) -> Result<ZarinpalSetup> {
        if merchant_id.expose().trim().len() != 36 {
            return Err(PaymentError::Config(
                "the Zarinpal merchant id must be the 36-character code from the Zarinpal panel"
                    .into(),
            )
            .into());
        }
        Ok(ZarinpalSetup {
            merchant_id: Sealed::seal(keyring, merchant_id, ZARINPAL_CONTEXT)?,
        })
    }
}

/// NowPayments: the API key and the IPN secret, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowPaymentsSetup {
    api_key: Sealed,
    ipn_secret: Sealed,
}

impl NowPaymentsSetup {
    pub fn new(
        keyring: &Keyring,
        api_key: &SecretString,
        ipn_secret: &SecretString,
    ) -> Result<NowPaymentsSetup> {
        if api_key.expose().trim().is_empty() || ipn_secret.expose().trim().is_empty() {
            return Err(PaymentError::Config(
                "NowPayments needs both the API key and the IPN secret from the NowPayments \
                 dashboard"
                    .into(),
            )
            .into());
        }
        Ok(NowPaymentsSetup {
            api_key: Sealed::seal(keyring, api_key, NOWPAYMENTS_KEY_CONTEXT)?,
            ipn_secret: Sealed::seal(keyring, ipn_secret, NOWPAYMENTS_IPN_CONTEXT)?,
        })
    }
}

/// What one dollar and one star are worth in the wallet's Toman. A method priced in a
/// currency without a rate is not offered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rates {
    pub toman_per_usd: Option<i64>,
    pub toman_per_star: Option<i64>,
}

impl Rates {
    /// What to ask in `currency` for `toman`, rounded up so the tenant never gets less.
    pub fn convert_up(&self, toman: Money, currency: Currency) -> Option<Money> {
        if toman.currency() != CURRENCY || toman.minor() <= 0 {
            return None;
        }
        let amount = i128::from(toman.minor());
        let minor = match currency {
            Currency::Toman => amount,
            // Cents: toman * 100 / rate.
            Currency::Usd => div_ceil(amount * 100, self.toman_per_usd?)?,
            Currency::Xtr => div_ceil(amount, self.toman_per_star?)?,
        };
        i64::try_from(minor)
            .ok()
            .map(|minor| Money::new(minor, currency))
    }
}

fn div_ceil(numerator: i128, rate: i64) -> Option<i128> {
    let rate = i128::from(rate);
    (rate > 0).then(|| (numerator + rate - 1) / rate)
}

/// The tenant's payment setup, stored under "payments".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentSetup {
    /// Cards for card-to-card; none = card-to-card is off.
    pub cards: Vec<Card>,
    /// Approve receipts nobody decided after this many minutes; `None` = admins decide all.
    pub card_auto_approve_minutes: Option<u32>,
    pub zarinpal: Option<ZarinpalSetup>,
    pub nowpayments: Option<NowPaymentsSetup>,
    pub stars: bool,
    pub rates: Rates,
}

impl Setting for PaymentSetup {
    const NAME: &'static str = "payments";
}

/// Where the gateways are and where buyers come back to. Production takes the providers'
/// addresses; tests point them at the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayUrls {
    pub zarinpal: String,
    pub nowpayments: String,
    /// Where NowPayments posts its IPNs for this bot, when it can reach the bot.
    pub nowpayments_ipn: Option<String>,
    /// The bot's username (without @): buyers return to `https://t.me/<it>?start=pay_<id>`.
    pub bot_username: String,
}

/// The gateways as the tenant has set them up now. NowPayments' IPNs go to the master's
/// address for this bot when the master gave one (see [`crate::inbox`]).
pub async fn load_gateways(
    db: &shared::db::Db,
    keyring: &Keyring,
    urls: &GatewayUrls,
) -> Result<Gateways> {
    let setup: PaymentSetup = crate::settings::get(db).await?;
    let relay: crate::inbox::Relay = crate::settings::get(db).await?;
    Gateways::from_setup(&setup, keyring, &relay.apply_to(urls))
}

impl GatewayUrls {
    pub fn production(bot_username: &str) -> GatewayUrls {
        GatewayUrls {
            zarinpal: zarinpal::PRODUCTION_BASE_URL.to_string(),
            nowpayments: nowpayments::PRODUCTION_BASE_URL.to_string(),
            nowpayments_ipn: None,
            bot_username: bot_username.trim_start_matches('@').to_string(),
        }
    }
}

/// The gateways a tenant has set up, ready to call.
#[derive(Debug, Clone)]
pub struct Gateways {
    pub(super) card: Option<CardToCardGateway>,
    pub(super) auto_approve: AutoApprove,
    pub(super) zarinpal: Option<ZarinpalGateway>,
    pub(super) nowpayments: Option<NowPaymentsGateway>,
    pub(super) stars: bool,
    pub(super) rates: Rates,
    pub(super) urls: GatewayUrls,
}

impl Gateways {
    pub fn from_setup(
        setup: &PaymentSetup,
        keyring: &Keyring,
        urls: &GatewayUrls,
    ) -> Result<Gateways> {
        let card = if setup.cards.is_empty() {
            None
        } else {
            let accounts = setup
                .cards
                .iter()
                .map(Card::account)
                .collect::<Result<Vec<_>>>()?;
            Some(CardToCardGateway::new(accounts).map_err(PaymentError::from)?)
        };
        let zarinpal = match &setup.zarinpal {
            None => None,
            Some(z) => Some(ZarinpalGateway::new(ZarinpalConfig::new(
                z.merchant_id.open(keyring, ZARINPAL_CONTEXT)?,
                urls.zarinpal.clone(),
            ))?),
        };
        let nowpayments = match &setup.nowpayments {
            None => None,
            Some(n) => Some(NowPaymentsGateway::new(NowPaymentsConfig::new(
                n.api_key.open(keyring, NOWPAYMENTS_KEY_CONTEXT)?,
                n.ipn_secret.open(keyring, NOWPAYMENTS_IPN_CONTEXT)?,
                urls.nowpayments.clone(),
            ))?),
        };
        Ok(Gateways {
            card,
            auto_approve: match setup.card_auto_approve_minutes {
                Some(minutes) if minutes > 0 => AutoApprove::After { minutes },
                _ => AutoApprove::Off,
            },
            zarinpal,
            nowpayments,
            stars: setup.stars,
            rates: setup.rates.clone(),
            urls: urls.clone(),
        })
    }

    /// The methods on offer, in display order: each is set up and, when it is paid in
    /// another currency than Toman, has a rate.
    pub fn methods(&self) -> Vec<Method> {
        Method::ALL
            .into_iter()
            .filter(|m| self.offers(*m))
            .collect()
    }

    pub fn offers(&self, method: Method) -> bool {
        match method {
            Method::CardToCard => self.card.is_some(),
            Method::Zarinpal => self.zarinpal.is_some(),
            Method::NowPayments => {
                self.nowpayments.is_some() && self.rates.toman_per_usd.is_some_and(|r| r > 0)
            }
            Method::TelegramStars => self.stars && self.rates.toman_per_star.is_some_and(|r| r > 0),
        }
    }

    /// What the buyer pays with `method` to add `toman` to their wallet.
    pub fn price(&self, method: Method, toman: Money) -> Option<Money> {
        self.rates.convert_up(toman, currency_of(method))
    }

    pub fn auto_approve(&self) -> AutoApprove {
        self.auto_approve
    }

    /// Where the buyer comes back to after paying: the bot, with the payment to check.
    pub fn return_link(&self, payment_id: &str) -> String {
        format!(
            "https://t.me/{}?start={}{payment_id}",
            self.urls.bot_username,
            super::START_PREFIX
        )
    }
}

/// The currency a method is paid in.
pub fn currency_of(method: Method) -> Currency {
    match method {
        Method::CardToCard | Method::Zarinpal => Currency::Toman,
        Method::NowPayments => Currency::Usd,
        Method::TelegramStars => Currency::Xtr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_config(&[Keyring::generate_key_line("k1")]).unwrap()
    }

    #[test]
    fn converted_amounts_are_rounded_up() {
        let rates = Rates {
            toman_per_usd: Some(60_000),
            toman_per_star: Some(1_100),
        };
        let toman = Money::toman(100_000);
        // 100,000 / 60,000 = 1.6666 USD -> 167 cents.
        assert_eq!(
            rates.convert_up(toman, Currency::Usd),
            Some(Money::usd_cents(167))
        );
        // 100,000 / 1,100 = 90.9 stars -> 91.
        assert_eq!(
            rates.convert_up(toman, Currency::Xtr),
            Some(Money::stars(91))
        );
        assert_eq!(rates.convert_up(toman, Currency::Toman), Some(toman));
        assert_eq!(
            rates.convert_up(Money::toman(120_000), Currency::Usd),
            Some(Money::usd_cents(200))
        );
        assert_eq!(Rates::default().convert_up(toman, Currency::Usd), None);
        assert_eq!(rates.convert_up(Money::toman(0), Currency::Usd), None);
    }

    #[test]
    fn secrets_are_sealed_and_never_shown() {
        let keyring = keyring();
        let merchant = SecretString::new("11111111-2222-3333-4444-555555555555");
        let setup = PaymentSetup {
            zarinpal: Some(ZarinpalSetup::new(&keyring, &merchant).unwrap()),
            nowpayments: Some(
                NowPaymentsSetup::new(
                    &keyring,
                    &SecretString::new("API-KEY-1"),
                    &SecretString::new("ipn-secret-1"),
                )
                .unwrap(),
            ),
            ..PaymentSetup::default()
        };
        let stored = serde_json::to_string(&setup).unwrap();
        let shown = format!("{setup:?}");
        for secret in [merchant.expose(), "API-KEY-1", "ipn-secret-1"] {
            assert!(!stored.contains(secret), "{secret} stored in the clear");
            assert!(!shown.contains(secret), "{secret} shown by Debug");
        }
        let back: PaymentSetup = serde_json::from_str(&stored).unwrap();
        let urls = GatewayUrls::production("shop_bot");
        let gateways = Gateways::from_setup(&back, &keyring, &urls).unwrap();
        assert!(gateways.offers(Method::Zarinpal));
        // No dollar rate: NowPayments is set up but not offered.
        assert!(!gateways.offers(Method::NowPayments));
        assert!(!format!("{gateways:?}").contains(merchant.expose()));
    }

    #[test]
    fn bad_setup_is_refused_when_entered() {
        let keyring = keyring();
        assert!(ZarinpalSetup::new(&keyring, &SecretString::new("short")).is_err());
        assert!(Card::new("6037-9912-3456-1234", "Sara", "Melli").is_err());
        assert!(NowPaymentsSetup::new(
            &keyring,
            &SecretString::new("key"),
            &SecretString::new(" ")
        )
        .is_err());
    }
}
