//! Shop platforms and what each can do.
//!
//! A profile names its shop's [`Platform`]; each platform declares its [`Capabilities`]
//! (in its own adapter folder, read through the binary's one wiring function), and each
//! [`SyncAction`] says which capabilities it [requires](SyncAction::requires) and which it
//! [can use](SyncAction::uses) when present. An action whose requirement is missing is
//! refused before anything is queued ([`refusal`]); a missing optional capability is noted
//! once in the run log and that part of the work is skipped ([`partial_notes`]).
//!
//! Everything here is platform-neutral: no platform's type, id shape or encoding.

use crate::action::SyncAction;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A shop platform a profile can connect to. The lowercase names are a public contract
/// (profile TOML `platform = "…"`, the CLI, stored `ShopConnectionSet` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// PrestaShop 1.7 / 8.x (Webservice).
    PrestaShop,
    /// WooCommerce (REST `wc/v3`).
    WooCommerce,
    /// Shopify (Admin GraphQL).
    Shopify,
    /// BigCommerce (REST v2/v3).
    BigCommerce,
    /// Magento 2 / Adobe Commerce (REST).
    Magento,
    /// Wix eCommerce.
    Wix,
    /// Le New Black (B2B order platform).
    LeNewBlack,
    /// Oasis Commerce (file exchange).
    Oasis,
    /// Orderlion (B2B ordering).
    Orderlion,
}

impl Platform {
    /// Every platform, in the order the docs list them.
    pub const ALL: [Platform; 9] = [
        Platform::PrestaShop,
        Platform::WooCommerce,
        Platform::Shopify,
        Platform::BigCommerce,
        Platform::Magento,
        Platform::Wix,
        Platform::LeNewBlack,
        Platform::Oasis,
        Platform::Orderlion,
    ];

    /// The stable lowercase name (`prestashop`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::PrestaShop => "prestashop",
            Platform::WooCommerce => "woocommerce",
            Platform::Shopify => "shopify",
            Platform::BigCommerce => "bigcommerce",
            Platform::Magento => "magento",
            Platform::Wix => "wix",
            Platform::LeNewBlack => "lenewblack",
            Platform::Oasis => "oasis",
            Platform::Orderlion => "orderlion",
        }
    }

    /// The name merchants know (`PrestaShop`).
    pub fn label(self) -> &'static str {
        match self {
            Platform::PrestaShop => "PrestaShop",
            Platform::WooCommerce => "WooCommerce",
            Platform::Shopify => "Shopify",
            Platform::BigCommerce => "BigCommerce",
            Platform::Magento => "Magento",
            Platform::Wix => "Wix",
            Platform::LeNewBlack => "Le New Black",
            Platform::Oasis => "Oasis",
            Platform::Orderlion => "Orderlion",
        }
    }

    /// The valid names, comma-separated (for error messages).
    pub fn names() -> String {
        Platform::ALL
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is not one of [`Platform::ALL`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("plateforme inconnue « {0} » (valeurs possibles : {list}) (unknown platform)", list = Platform::names())]
pub struct UnknownPlatform(pub String);

impl std::str::FromStr for Platform {
    type Err = UnknownPlatform;
    /// Case-insensitive, surrounding blanks ignored (`PrestaShop` reads as `prestashop`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| UnknownPlatform(s.chars().take(80).collect()))
    }
}

/// One thing a shop platform can do for the sync. The cut follows the sync actions and the
/// optional parts inside them (FEATURES §2–§3), so "can this platform run this action, and
/// which parts will it skip" is a set intersection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Read orders (paged, by status and period).
    Orders,
    /// Read quote requests.
    Quotes,
    /// Write an order's status back.
    StatusWriteBack,
    /// Write a carrier tracking number on an order.
    Tracking,
    /// Write the ERP document number (or reference, delivery date) on an order.
    DocumentNumber,
    /// Make an invoice document (PDF) available on an order.
    InvoiceDocument,
    /// Create and update products.
    Products,
    /// Products with variants (combinations, variations).
    Variants,
    /// Categories (tree) and product categories.
    Categories,
    /// Product images.
    Images,
    /// Product documents (attachments).
    Documents,
    /// Specific prices (per group, per customer, quantity breaks).
    SpecificPrices,
    /// Packs (bundles).
    Packs,
    /// Cross-selling (related products).
    CrossSelling,
    /// Stock quantities.
    Stock,
    /// Customer accounts and addresses.
    Customers,
    /// Customer groups.
    CustomerGroups,
    /// Read accounts that never ordered (prospects).
    Prospects,
    /// Read the shop's configuration (statuses, taxes, carriers, currencies…).
    ConfigurationReads,
}

impl Capability {
    /// Every capability, in the order of the matrix.
    pub const ALL: [Capability; 19] = [
        Capability::Orders,
        Capability::Quotes,
        Capability::StatusWriteBack,
        Capability::Tracking,
        Capability::DocumentNumber,
        Capability::InvoiceDocument,
        Capability::Products,
        Capability::Variants,
        Capability::Categories,
        Capability::Images,
        Capability::Documents,
        Capability::SpecificPrices,
        Capability::Packs,
        Capability::CrossSelling,
        Capability::Stock,
        Capability::Customers,
        Capability::CustomerGroups,
        Capability::Prospects,
        Capability::ConfigurationReads,
    ];

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Orders => "orders",
            Capability::Quotes => "quotes",
            Capability::StatusWriteBack => "status-write-back",
            Capability::Tracking => "tracking",
            Capability::DocumentNumber => "document-number",
            Capability::InvoiceDocument => "invoice-document",
            Capability::Products => "products",
            Capability::Variants => "variants",
            Capability::Categories => "categories",
            Capability::Images => "images",
            Capability::Documents => "documents",
            Capability::SpecificPrices => "specific-prices",
            Capability::Packs => "packs",
            Capability::CrossSelling => "cross-selling",
            Capability::Stock => "stock",
            Capability::Customers => "customers",
            Capability::CustomerGroups => "customer-groups",
            Capability::Prospects => "prospects",
            Capability::ConfigurationReads => "configuration-reads",
        }
    }

    /// What it is, in French (shown to merchants in refusals and notes).
    pub fn label_fr(self) -> &'static str {
        match self {
            Capability::Orders => "lecture des commandes",
            Capability::Quotes => "lecture des devis",
            Capability::StatusWriteBack => "retour du statut de commande",
            Capability::Tracking => "numéro de suivi",
            Capability::DocumentNumber => "numéro de document sur la commande",
            Capability::InvoiceDocument => "facture PDF sur la commande",
            Capability::Products => "produits",
            Capability::Variants => "déclinaisons",
            Capability::Categories => "catégories",
            Capability::Images => "images",
            Capability::Documents => "documents joints",
            Capability::SpecificPrices => "prix spécifiques",
            Capability::Packs => "packs",
            Capability::CrossSelling => "ventes croisées",
            Capability::Stock => "stock",
            Capability::Customers => "comptes clients",
            Capability::CustomerGroups => "groupes de clients",
            Capability::Prospects => "prospects",
            Capability::ConfigurationReads => "lecture de la configuration",
        }
    }

    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Capability`] (a bit set: `Copy`, usable in `const` declarations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u32);

impl Capabilities {
    /// The empty set: a platform without a client yet.
    pub const NONE: Capabilities = Capabilities(0);

    /// The set of `caps`.
    pub const fn of(caps: &[Capability]) -> Capabilities {
        let mut bits = 0;
        let mut i = 0;
        while i < caps.len() {
            bits |= caps[i].bit();
            i += 1;
        }
        Capabilities(bits)
    }

    /// Every capability.
    pub const fn all() -> Capabilities {
        Capabilities::of(&Capability::ALL)
    }

    /// True when `c` is in the set.
    pub const fn has(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    /// True when the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The capabilities of the set, in [`Capability::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.has(*c))
    }

    /// The capabilities of `self` missing from `other`.
    pub fn missing_from(self, other: Capabilities) -> Vec<Capability> {
        self.iter().filter(|c| !other.has(*c)).collect()
    }
}

// Serialized as the list of names so a journaled configuration stays readable and a
// capability added later never shifts the meaning of a stored value.
impl Serialize for Capabilities {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let list = Vec::<Capability>::deserialize(d)?;
        Ok(Capabilities::of(&list))
    }
}

impl SyncAction {
    /// What the shop platform must be able to do for this action to run at all.
    pub fn requires(self) -> Capabilities {
        use Capability as C;
        match self {
            SyncAction::ImportOrders | SyncAction::ReconcileOrders => {
                Capabilities::of(&[C::Orders])
            }
            SyncAction::ImportQuotes => Capabilities::of(&[C::Quotes]),
            // The chain is read in the ERP; the shop only receives what changed.
            SyncAction::UpdateOrderStatuses => Capabilities::of(&[C::StatusWriteBack]),
            SyncAction::SendInvoices => Capabilities::of(&[C::InvoiceDocument]),
            SyncAction::ExportArticles
            | SyncAction::ExportNewArticles
            | SyncAction::UpdatePrices
            | SyncAction::ActivateArticles => Capabilities::of(&[C::Products]),
            SyncAction::UpdateStock => Capabilities::of(&[C::Stock]),
            SyncAction::ExportCustomers
            | SyncAction::ExportNewCustomers
            | SyncAction::DeactivateCustomers => Capabilities::of(&[C::Customers]),
            SyncAction::ExportCustomerGroups => Capabilities::of(&[C::CustomerGroups]),
            SyncAction::ImportProspects => Capabilities::of(&[C::Prospects]),
            // The engine's demonstration talks to its own backend, not to a shop.
            SyncAction::DemoEngine => Capabilities::NONE,
        }
    }

    /// What the action uses when the platform has it; without it, that part is skipped
    /// and noted once in the run log.
    pub fn uses(self) -> Capabilities {
        use Capability as C;
        match self {
            SyncAction::ImportOrders | SyncAction::ImportQuotes => {
                Capabilities::of(&[C::StatusWriteBack, C::DocumentNumber, C::Stock])
            }
            SyncAction::UpdateOrderStatuses => Capabilities::of(&[C::Tracking, C::DocumentNumber]),
            SyncAction::ExportArticles | SyncAction::ExportNewArticles => Capabilities::of(&[
                C::Variants,
                C::Categories,
                C::Images,
                C::Documents,
                C::SpecificPrices,
                C::Packs,
                C::CrossSelling,
                C::Stock,
            ]),
            SyncAction::UpdatePrices => Capabilities::of(&[C::SpecificPrices, C::Variants]),
            SyncAction::UpdateStock => Capabilities::of(&[C::Variants]),
            SyncAction::ExportCustomers | SyncAction::ExportNewCustomers => {
                Capabilities::of(&[C::CustomerGroups])
            }
            _ => Capabilities::NONE,
        }
    }
}

/// Why `platform` (with `caps`) cannot run `action`, in French; `None` when it can.
pub fn refusal(platform: Platform, caps: Capabilities, action: SyncAction) -> Option<String> {
    let need = action.requires();
    if need.is_empty() {
        return None;
    }
    if caps.is_empty() {
        return Some(format!(
            "plateforme {} pas encore prise en charge : l'action {action} ne peut pas être lancée",
            platform.label()
        ));
    }
    let missing = need.missing_from(caps);
    if missing.is_empty() {
        return None;
    }
    let what: Vec<&str> = missing.iter().map(|c| c.label_fr()).collect();
    Some(format!(
        "l'action {action} n'est pas possible avec {} : la plateforme ne permet pas {}",
        platform.label(),
        what.join(", ")
    ))
}

/// The run-log notes of the parts of `action` that `platform` cannot do (one line per
/// missing optional capability); the workflow skips those parts.
pub fn partial_notes(platform: Platform, caps: Capabilities, action: SyncAction) -> Vec<String> {
    action
        .uses()
        .missing_from(caps)
        .into_iter()
        .map(|c| {
            format!(
                "{} ne permet pas : {} — partie ignorée",
                platform.label(),
                c.label_fr()
            )
        })
        .collect()
}

/// The capability matrix and the actions each platform can run, as Markdown (the body of
/// `docs/PLATFORMS.md`, kept equal to this rendering by a test).
pub fn render_matrix(caps_of: impl Fn(Platform) -> Capabilities) -> String {
    let mut out = String::new();
    let header: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
    out.push_str("### Capabilities\n\n");
    out.push_str(&format!("| capability | {} |\n", header.join(" | ")));
    out.push_str(&format!("|---|{}\n", "---|".repeat(header.len())));
    for c in Capability::ALL {
        let row: Vec<&str> = Platform::ALL
            .iter()
            .map(|p| if caps_of(*p).has(c) { "yes" } else { "—" })
            .collect();
        out.push_str(&format!("| {} | {} |\n", c.as_str(), row.join(" | ")));
    }
    out.push_str("\n### Actions\n\n");
    out.push_str(
        "`run` and `schedule create` refuse an action the profile's platform cannot do (exit 2).\n",
    );
    out.push_str(
        "Optional parts the platform lacks are skipped and noted once in the run log.\n\n",
    );
    out.push_str(&format!(
        "| action | requires | uses when present | {} |\n",
        header.join(" | ")
    ));
    out.push_str(&format!("|---|---|---|{}\n", "---|".repeat(header.len())));
    let names = |s: Capabilities| -> String {
        let v: Vec<&str> = s.iter().map(|c| c.as_str()).collect();
        if v.is_empty() {
            "—".into()
        } else {
            v.join(", ")
        }
    };
    for a in SyncAction::ALL {
        if a == SyncAction::DemoEngine {
            continue;
        }
        let row: Vec<&str> = Platform::ALL
            .iter()
            .map(|p| {
                let caps = caps_of(*p);
                if refusal(*p, caps, a).is_some() {
                    "—"
                } else if a.uses().missing_from(caps).is_empty() {
                    "yes"
                } else {
                    "partial"
                }
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            a.as_str(),
            names(a.requires()),
            names(a.uses()),
            row.join(" | ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
            let json = serde_json::to_string(&p).expect("serialize");
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert_eq!(" PrestaShop ".parse::<Platform>(), Ok(Platform::PrestaShop));
        let err = "joomla".parse::<Platform>().expect_err("unknown");
        let msg = err.to_string();
        assert!(
            msg.contains("joomla") && msg.contains("woocommerce, shopify"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn capability_sets_serialize_as_names() {
        let caps = Capabilities::of(&[Capability::Tracking, Capability::Orders]);
        let json = serde_json::to_string(&caps).expect("serialize");
        assert_eq!(json, r#"["orders","tracking"]"#);
        let back: Capabilities = serde_json::from_str(&json).expect("read");
        assert_eq!(back, caps);
        assert!(caps.has(Capability::Orders) && !caps.has(Capability::Stock));
        assert_eq!(Capabilities::all().iter().count(), Capability::ALL.len());
    }

    #[test]
    fn given_no_capability_when_asked_then_every_shop_action_is_refused() {
        for a in SyncAction::ALL {
            let r = refusal(Platform::Wix, Capabilities::NONE, a);
            assert_eq!(r.is_some(), a != SyncAction::DemoEngine, "{a}");
        }
        let r = refusal(Platform::Wix, Capabilities::NONE, SyncAction::ImportOrders);
        assert!(r.is_some_and(|m| m.contains("pas encore prise en charge")));
    }

    #[test]
    fn given_a_missing_requirement_then_refused_and_a_missing_option_is_only_noted() {
        let caps = Capabilities::of(&[Capability::Orders, Capability::StatusWriteBack]);
        let r = refusal(Platform::Shopify, caps, SyncAction::SendInvoices);
        assert!(r.is_some_and(|m| m.contains("facture PDF")));
        assert_eq!(
            refusal(Platform::Shopify, caps, SyncAction::ImportOrders),
            None
        );
        let notes = partial_notes(Platform::Shopify, caps, SyncAction::ImportOrders);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("numéro de document"));
        assert!(partial_notes(
            Platform::Shopify,
            Capabilities::all(),
            SyncAction::ImportOrders
        )
        .is_empty());
    }

    #[test]
    fn matrix_marks_full_partial_and_refused() {
        let md = render_matrix(|p| match p {
            Platform::PrestaShop => Capabilities::all(),
            Platform::Shopify => Capabilities::of(&[Capability::Orders]),
            _ => Capabilities::NONE,
        });
        let row = md
            .lines()
            .find(|l| l.starts_with("| import-orders |"))
            .expect("row");
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | action | requires | uses | prestashop | woocommerce | shopify | …
        assert_eq!(cells[4], "yes");
        assert_eq!(cells[5], "—");
        assert_eq!(cells[6], "partial");
    }
}
