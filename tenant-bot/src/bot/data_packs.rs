//! Extra data end users can add to a service, set by the tenant: pack sizes and a price per
//! GB. A tenant who sets no price sells no packs, and the "Add data" button is hidden.

use serde::{Deserialize, Serialize};
use shared::money::Money;

use crate::settings::Setting;
use crate::wallet::CURRENCY;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataPacks {
    /// Toman per GB; 0 = packs are not sold.
    pub price_per_gb: i64,
    /// The pack sizes offered, in GB.
    pub sizes_gb: Vec<i64>,
}

impl Default for DataPacks {
    fn default() -> Self {
        DataPacks {
            price_per_gb: 0,
            sizes_gb: vec![5, 10, 20, 50],
        }
    }
}

impl Setting for DataPacks {
    const NAME: &'static str = "data_packs";
}

impl DataPacks {
    pub fn on_sale(&self) -> bool {
        self.price_per_gb > 0 && !self.packs().is_empty()
    }

    /// (GB, price) of each pack on sale, smallest first.
    pub fn packs(&self) -> Vec<(i64, Money)> {
        if self.price_per_gb <= 0 {
            return Vec::new();
        }
        let mut sizes: Vec<i64> = self
            .sizes_gb
            .iter()
            .copied()
            .filter(|gb| (1..=10_000).contains(gb))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
            .into_iter()
            .map(|gb| {
                (
                    gb,
                    Money::new(gb.saturating_mul(self.price_per_gb), CURRENCY),
                )
            })
            .collect()
    }

    /// The price of a pack of `gb`, or `None` when no such pack is sold.
    pub fn price_of(&self, gb: i64) -> Option<Money> {
        self.packs()
            .into_iter()
            .find(|(size, _)| *size == gb)
            .map(|(_, price)| price)
    }

    pub fn price_per_gb(&self) -> Money {
        Money::new(self.price_per_gb.max(0), CURRENCY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_price_means_no_packs_and_only_listed_sizes_are_sold() {
        assert!(!DataPacks::default().on_sale());
        let packs = DataPacks {
            price_per_gb: 2_000,
            sizes_gb: vec![20, 5, 5, 0],
        };
        assert_eq!(
            packs.packs(),
            vec![(5, Money::toman(10_000)), (20, Money::toman(40_000))]
        );
        assert_eq!(packs.price_of(20), Some(Money::toman(40_000)));
        assert_eq!(packs.price_of(7), None);
    }
}
