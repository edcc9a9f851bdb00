//! The sync actions a profile can run. Their kebab-case names are a public contract
//! (`passerelle run PROFILE <action>`, `journal --json`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// One sync action (FEATURES §2), plus the engine's built-in demonstration workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncAction {
    /// Shop orders → ERP documents.
    ImportOrders,
    /// ERP articles → shop products.
    ExportArticles,
    /// Only articles created since the last transfer.
    ExportNewArticles,
    /// ERP prices → shop.
    UpdatePrices,
    /// ERP stock → shop.
    UpdateStock,
    /// Published/asleep flags → shop product activation.
    ActivateArticles,
    /// ERP customers → shop.
    ExportCustomers,
    /// Only customers created since the last transfer.
    ExportNewCustomers,
    /// Asleep ERP customers → deactivated shop customers.
    DeactivateCustomers,
    /// ERP families / price categories → shop groups.
    ExportCustomerGroups,
    /// Shop accounts without orders → ERP customers.
    ImportProspects,
    /// ERP document chain → shop statuses and tracking.
    UpdateOrderStatuses,
    /// ERP invoice PDFs → shop orders.
    SendInvoices,
    /// Shop quote requests → ERP quotes.
    ImportQuotes,
    /// The engine's demonstration workflow (a few items, a flaky step).
    DemoEngine,
    /// Shop orders vs ERP documents over a window: missing, duplicates, totals, deleted
    /// documents (issue 17.4). Reads only (its `--requeue-missing` resets links).
    ReconcileOrders,
}

impl SyncAction {
    /// Every action, in the order the CLI lists them.
    pub const ALL: [SyncAction; 16] = [
        SyncAction::ImportOrders,
        SyncAction::ExportArticles,
        SyncAction::ExportNewArticles,
        SyncAction::UpdatePrices,
        SyncAction::UpdateStock,
        SyncAction::ActivateArticles,
        SyncAction::ExportCustomers,
        SyncAction::ExportNewCustomers,
        SyncAction::DeactivateCustomers,
        SyncAction::ExportCustomerGroups,
        SyncAction::ImportProspects,
        SyncAction::UpdateOrderStatuses,
        SyncAction::SendInvoices,
        SyncAction::ImportQuotes,
        SyncAction::DemoEngine,
        SyncAction::ReconcileOrders,
    ];

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncAction::ImportOrders => "import-orders",
            SyncAction::ExportArticles => "export-articles",
            SyncAction::ExportNewArticles => "export-new-articles",
            SyncAction::UpdatePrices => "update-prices",
            SyncAction::UpdateStock => "update-stock",
            SyncAction::ActivateArticles => "activate-articles",
            SyncAction::ExportCustomers => "export-customers",
            SyncAction::ExportNewCustomers => "export-new-customers",
            SyncAction::DeactivateCustomers => "deactivate-customers",
            SyncAction::ExportCustomerGroups => "export-customer-groups",
            SyncAction::ImportProspects => "import-prospects",
            SyncAction::UpdateOrderStatuses => "update-order-statuses",
            SyncAction::SendInvoices => "send-invoices",
            SyncAction::ImportQuotes => "import-quotes",
            SyncAction::DemoEngine => "demo-engine",
            SyncAction::ReconcileOrders => "reconcile-orders",
        }
    }

    /// The label in `lang`.
    pub fn label(self, lang: crate::Lang) -> &'static str {
        match lang {
            crate::Lang::Fr => self.label_fr(),
            crate::Lang::En => self.label_en(),
        }
    }

    /// The English label.
    pub fn label_en(self) -> &'static str {
        match self {
            SyncAction::ImportOrders => "Import orders",
            SyncAction::ExportArticles => "Export articles",
            SyncAction::ExportNewArticles => "Export new articles",
            SyncAction::UpdatePrices => "Update prices",
            SyncAction::UpdateStock => "Update stock",
            SyncAction::ActivateArticles => "Activate articles",
            SyncAction::ExportCustomers => "Export customers",
            SyncAction::ExportNewCustomers => "Export new customers",
            SyncAction::DeactivateCustomers => "Deactivate customers",
            SyncAction::ExportCustomerGroups => "Export customer groups",
            SyncAction::ImportProspects => "Import prospects",
            SyncAction::UpdateOrderStatuses => "Update order statuses",
            SyncAction::SendInvoices => "Send invoice PDFs",
            SyncAction::ImportQuotes => "Import quotes",
            SyncAction::DemoEngine => "Engine demonstration",
            SyncAction::ReconcileOrders => "Reconcile orders with the ERP",
        }
    }

    /// The French label shown to merchants.
    pub fn label_fr(self) -> &'static str {
        match self {
            SyncAction::ImportOrders => "Import des commandes",
            SyncAction::ExportArticles => "Export des articles",
            SyncAction::ExportNewArticles => "Export des nouveaux articles",
            SyncAction::UpdatePrices => "Mise à jour des prix",
            SyncAction::UpdateStock => "Mise à jour du stock",
            SyncAction::ActivateArticles => "Activation des articles",
            SyncAction::ExportCustomers => "Export des clients",
            SyncAction::ExportNewCustomers => "Export des nouveaux clients",
            SyncAction::DeactivateCustomers => "Désactivation des clients",
            SyncAction::ExportCustomerGroups => "Export des groupes de clients",
            SyncAction::ImportProspects => "Import des prospects",
            SyncAction::UpdateOrderStatuses => "Mise à jour des statuts des commandes",
            SyncAction::SendInvoices => "Envoi des factures PDF",
            SyncAction::ImportQuotes => "Import des devis",
            SyncAction::DemoEngine => "Démonstration du moteur",
            SyncAction::ReconcileOrders => "Rapprochement commandes / ERP",
        }
    }
}

impl fmt::Display for SyncAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action name that is not one of [`SyncAction::ALL`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("action inconnue « {0} » (unknown action)")]
pub struct UnknownAction(pub String);

impl std::str::FromStr for SyncAction {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.chars().take(80).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for a in SyncAction::ALL {
            assert_eq!(a.as_str().parse::<SyncAction>(), Ok(a));
            let json = serde_json::to_string(&a).expect("serialize");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
        }
        assert!("import_orders".parse::<SyncAction>().is_err());
    }
}
